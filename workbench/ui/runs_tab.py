"""Runs tab: every run on this server in a table, and their train/eval loss curves overlaid for comparison."""

from __future__ import annotations

import gradio as gr

from workbench.errors import WorkbenchError
from workbench.training import list_runs, load_run_config, read_metrics
from workbench.ui.run_manager import runs_root

COLUMNS = ["run", "method", "adaptation", "lora_r", "learning_rate", "steps", "last train loss", "last eval loss"]


def run_names() -> list[str]:
    return [p.name for p in list_runs(runs_root())]


def runs_table() -> list[list]:
    rows = []
    for path in list_runs(runs_root()):
        try:
            config = load_run_config(path)
        except WorkbenchError:
            continue  # a folder being written right now, or a hand-edited config: leave it out of the table
        records = read_metrics(path)
        train = [r["loss"] for r in records if "loss" in r]
        evals = [r["eval_loss"] for r in records if "eval_loss" in r]
        steps = max((r.get("step", 0) for r in records), default=0)
        adapter_r = config.lora_r if config.adaptation != "full" else "-"
        rows.append([path.name, config.method, config.adaptation, adapter_r, config.learning_rate, steps,
                     round(train[-1], 4) if train else None, round(evals[-1], 4) if evals else None])
    return rows


def overlay_plot(names: list[str]):
    """Train loss (solid) and eval loss (dashed, dots) of each chosen run, one colour per run."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.8), layout="constrained")
    ax = figure.subplots()
    for i, name in enumerate(names):
        records = read_metrics(runs_root() / name)
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


def build_runs_tab(app: gr.Blocks) -> None:
    def refresh(chosen: list[str] | None):
        names = run_names()
        chosen = [n for n in (chosen or []) if n in names] or names[:3]
        return runs_table(), gr.update(choices=names, value=chosen), overlay_plot(chosen)

    with gr.Tab("Runs", id="runs"):
        gr.Markdown("Past runs on this server. Tick runs to overlay their loss curves: solid lines are the train loss, "
                    "dashed ones the eval loss on held-out data. A falling train loss with a rising eval loss means overfitting.")
        refresh_button = gr.Button("Refresh", size="sm")
        table = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True)
        chosen = gr.CheckboxGroup([], label="Runs to plot")
        plot = gr.Plot(label="Loss curves")
        gr.on([refresh_button.click, app.load], refresh, inputs=chosen, outputs=[table, chosen, plot], api_name="runs")
        chosen.input(overlay_plot, inputs=chosen, outputs=plot)
