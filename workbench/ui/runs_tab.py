"""Runs tab: the page's learner's runs (and those the teacher shared) in a table, loss curves overlaid, and
download, delete and resume for the learner's own runs only.

Every handler takes the session's identity and resolves run names inside that learner's folder
(:func:`workbench.workspace.learners.own_run`), so no name a page sends can reach another person's run.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from matplotlib.figure import Figure

from workbench.errors import WorkbenchError
from workbench.server import public
from workbench.server.downloads import run_download
from workbench.server.run_manager import MANAGER
from workbench.training import load_run_config, read_metrics
from workbench.ui.identity import current
from workbench.workspace import runs
from workbench.workspace.learners import Identity, delete_own_run, own_run, visible_runs, workshop_enabled
from workbench.workspace.runs import latest_checkpoint

COLUMNS = [
    "run",
    "status",
    "method",
    "adaptation",
    "lora_r",
    "learning_rate",
    "steps",
    "last train loss",
    "last eval loss",
]


def run_status(path: Path, live: set[str]) -> str:
    """What the Runs tab shows: 'training or queued' for this server's live runs, else the run folder's own status
    (``workbench.workspace.runs.run_status``: a run whose training process is gone reads 'interrupted')."""
    if str(path) in live:
        return "training or queued"
    status = runs.run_status(path).status
    shown = {
        "completed": "finished",
        "unknown": "finished",
        "running": "running elsewhere",
        "dropped": "dropped from the queue when the server restarted",
    }
    return shown.get(status, status)


def visible_run(request: gr.Request | None, who: Identity | None, name: str | None) -> Path:
    """The folder of a run this page may see, by the name its list showed; nothing else can be named."""
    try:
        return visible_runs(current(who, request))[name or ""]
    except (WorkbenchError, KeyError) as exc:
        raise gr.Error(f"no run named {str(name)[:60]!r} here: pick one from the list") from exc


def run_choices(request: gr.Request, who: Identity | None):
    """A dropdown update listing the runs this page may pick, newest first (none before a learner joins)."""
    try:
        names = list(visible_runs(current(who, request)))
    except WorkbenchError:
        names = []
    return gr.update(choices=names, value=(names or [None])[0])


def runs_table(identity: Identity) -> list[list]:
    rows = []
    live = MANAGER.live_run_dirs()
    for label, path in visible_runs(identity).items():
        try:
            config = load_run_config(path)
        except WorkbenchError:
            continue  # a folder being written right now, or a hand-edited config: leave it out of the table
        records = read_metrics(path)
        train = [r["loss"] for r in records if "loss" in r]
        evals = [r["eval_loss"] for r in records if "eval_loss" in r]
        steps = max((r.get("step", 0) for r in records), default=0)
        adapter_r = config.lora_r if config.adaptation != "full" else "-"
        rows.append(
            [
                label,
                run_status(path, live),
                config.method,
                config.adaptation,
                adapter_r,
                config.learning_rate,
                steps,
                round(train[-1], 4) if train else None,
                round(evals[-1], 4) if evals else None,
            ]
        )
    return rows


def overlay_plot(identity: Identity, names: list[str]):
    """Train loss (solid) and eval loss (dashed, dots) of each chosen run, one colour per run."""
    figure = Figure(figsize=(8, 3.8), layout="constrained")
    ax = figure.subplots()
    runs = visible_runs(identity)
    for i, name in enumerate(n for n in names if n in runs):
        records = read_metrics(runs[name])
        colour = f"C{i % 10}"
        train = [(r["step"], r["loss"]) for r in records if "loss" in r]
        evals = [(r["step"], r["eval_loss"]) for r in records if "eval_loss" in r]
        if train:
            ax.plot(*zip(*train), color=colour, label=f"{name} train")
        if evals:
            ax.plot(*zip(*evals), "o--", color=colour, label=f"{name} eval")
    ax.set(xlabel="step", ylabel="loss", title="Loss by run" if names else "Pick runs to compare their loss")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure


def refresh(request: gr.Request, who: Identity | None, chosen: list[str] | None):
    try:
        identity = current(who, request)
    except WorkbenchError as exc:
        return [], gr.update(choices=[], value=[]), None, gr.update(choices=[], value=None), str(exc)
    names = list(visible_runs(identity))
    chosen = [n for n in (chosen or []) if n in names] or names[:3]
    return (
        runs_table(identity),
        gr.update(choices=names, value=chosen),
        overlay_plot(identity, chosen),
        gr.update(choices=names, value=names[0] if names else None),
        "",
    )


def plot_chosen(request: gr.Request, who: Identity | None, chosen: list[str] | None):
    try:
        return overlay_plot(current(who, request), chosen or [])
    except WorkbenchError:
        return None


def download(request: gr.Request, who: Identity | None, name: str | None):
    """The files of a run this learner may see (their own or a shared one), as copies."""
    try:
        identity = current(who, request)
        path = visible_runs(identity).get(name or "")
        if path is None:
            raise WorkbenchError(f"{(name or '')[:60]!r} is not one of your runs")
    except WorkbenchError as exc:
        return None, f"⚠️ {exc}"
    return run_download(path), f"{name}: {run_status(path, MANAGER.live_run_dirs())}"


def delete(request: gr.Request, who: Identity | None, name: str | None) -> str:
    """Delete one of the learner's own runs (not while it trains or waits)."""
    try:
        identity = current(who, request)
        if str(own_run(identity, name)) in MANAGER.live_run_dirs():
            raise WorkbenchError(f"{name} is training or queued: stop it first")
        delete_own_run(identity, name)
    except WorkbenchError as exc:
        return f"⚠️ {exc}"
    return f"deleted {name}"


def resume_run(request: gr.Request, who: Identity | None, name: str | None) -> str:
    """Queue an interrupted run of the learner's to continue from its last checkpoint."""
    try:
        identity = current(who, request)
        path = own_run(identity, name)
    except WorkbenchError as exc:
        return f"⚠️ {exc}"
    if run_status(path, MANAGER.live_run_dirs()) != "interrupted":
        return f"⚠️ {name} is not interrupted: nothing to resume"
    if latest_checkpoint(path) is None:
        return f"⚠️ {name} stopped before its first checkpoint: start it again from the Train tab"
    ok, message = MANAGER.submit_resume(path, owner=identity.owner)
    return message if ok else f"⚠️ {message}"


def build_runs_tab(app: gr.Blocks, who: gr.State) -> None:
    with gr.Tab("Runs", id="runs"):
        gr.Markdown(
            "Your runs on this server"
            + (" and those your teacher shared (shared/...)" if workshop_enabled() else "")
            + ". Tick runs to overlay their loss curves: solid lines are the train loss, dashed ones the eval loss "
            "on held-out data. A falling train loss with a rising eval loss means overfitting. A run marked "
            "*interrupted* ended without finishing (the server restarted mid-run): Resume continues it "
            "from its last checkpoint."
        )
        notice = public.runs_notice()  # a Space's disk does not outlive a restart: say so where the runs are
        gr.Markdown(f"**{notice}**", visible=bool(notice), elem_id="wb-runs-notice")
        refresh_button = gr.Button("Refresh", size="sm")
        table = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True)
        chosen = gr.CheckboxGroup([], label="Runs to plot")
        plot = gr.Plot(label="Loss curves")
        with gr.Row():
            run = gr.Dropdown([], label="Run")
            download_button = gr.Button("Download", scale=0)
            resume_button = gr.Button("Resume", scale=0)
            delete_button = gr.Button("Delete", variant="stop", scale=0)
        message = gr.Textbox(show_label=False, interactive=False, container=False)
        files = gr.File(label="Run files (download)", file_count="multiple", interactive=False)
        outputs = [table, chosen, plot, run, message]
        gr.on(
            [refresh_button.click, app.load, who.change],
            refresh,
            inputs=[who, chosen],
            outputs=outputs,
            api_name="runs",
        )
        chosen.input(plot_chosen, inputs=[who, chosen], outputs=plot)
        download_button.click(download, inputs=[who, run], outputs=[files, message], api_name="download_run")
        resume_button.click(resume_run, inputs=[who, run], outputs=message, api_name="resume_run")
        delete_button.click(delete, inputs=[who, run], outputs=message, api_name="delete_run").then(
            refresh, inputs=[who, chosen], outputs=outputs
        )
