"""Train tab: choose method, adaptation and a few hyperparameters, see the estimate, queue/stop, watch it train.

The run itself belongs to :mod:`workbench.server.run_manager`'s queue; this tab submits it for the page's learner
and polls that learner's latest run with a timer, so a reloaded page picks up the live (or waiting) run
where it is. Handlers live at module level so tests call them without a server.
"""

from __future__ import annotations

import dataclasses
import html
import shutil
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from workbench.data import length_stats, load_data
from workbench.errors import WorkbenchError
from workbench.inference.answers import base_model
from workbench.server import public
from workbench.server.downloads import run_download
from workbench.server.run_manager import MANAGER, RunState, waiting_text
from workbench.training import TrainConfig, data_input
from workbench.training.config import DEFAULT_LEARNING_RATES, TRAIN_METHODS, Adaptation, default_lora_alpha
from workbench.training.estimate import estimate_config
from workbench.training.plots import draw_loss
from workbench.ui.data_tab import UPLOAD, check_upload, sample_choices, source_path
from workbench.ui.fields import field_input
from workbench.ui.identity import current
from workbench.ui.teacher_tab import room_preset
from workbench.workspace.learners import Identity, runs_root, uploads_dir

POLL_SECONDS = 2.0
POLL_POOL = 8  # ticks handled at once: each is milliseconds of Python, but a finished run's draws take longer
# The form's inputs in order: the /estimate and /start API take them in this order after the model's name.
FORM_FIELDS = (
    "data",
    "upload_path",
    "name",
    "method",
    "adaptation",
    "lora_r",
    "lora_alpha",
    "learning_rate",
    "epochs",
    "max_steps",
    "batch_size",
    "max_length",
    "beta",
)
_WHOLE = {
    name for name, hint in typing.get_type_hints(TrainConfig).items() if int in (typing.get_args(hint) or (hint,))
}


@dataclass
class TrainControls:
    """The settings the "which method?" helper can fill in."""

    method: gr.Radio
    adaptation: gr.Radio
    lora_r: gr.Slider
    lora_alpha: gr.Slider
    learning_rate: gr.Number
    max_steps: gr.Number
    batch_size: gr.Slider
    max_length: gr.Slider


def form_config(model_name: str, form: dict[str, Any], output_dir: str | Path | None = None) -> TrainConfig:
    """The TrainConfig the form (field name -> value, :data:`FORM_FIELDS`) describes, with the server's caps applied;
    runs go to ``output_dir`` (the learner's folder)."""
    path = source_path(form["data"], form["upload_path"])
    if form["data"] == UPLOAD:
        check_upload(path)
    settings = {key: value for key, value in form.items() if key not in ("data", "upload_path")}
    # Sliders and number boxes send 16.0 for 16; the form's 0 steps means "train for epochs" (TrainConfig's -1).
    settings = {
        k: int(v) if k in _WHOLE and isinstance(v, float) and v.is_integer() else v for k, v in settings.items()
    }
    settings |= {"name": str(settings.get("name") or "").strip(), "max_steps": settings.get("max_steps") or -1}
    output = str(output_dir if output_dir is not None else runs_root())
    config = TrainConfig.from_dict(settings | {"model": model_name, "data": path, "output_dir": output}, "the form")
    return public.apply_caps(config)


def prepared_run(config: TrainConfig, uploaded: bool):
    """(config, dataset) for the run manager, with the data loaded and checked against the method here, so a file
    with no usable record (or the wrong kind) is refused before the run is queued, never "started" then failed.

    In public mode the dataset is the first ``max_rows`` usable rows, and an upload is named in the config by its
    file name only: run folders can be downloaded by every visitor, and the upload's server path would let them
    fetch the file itself.
    """
    dataset, kind = data_input.load(config.data)
    data_input.check_fits(config.method, kind)
    cap = public.caps().max_rows
    if cap is None:
        return config, dataset
    if uploaded:
        config = dataclasses.replace(config, data=f"upload:{Path(config.data).name}")
    return config, dataset.select(range(min(cap, len(dataset))))


def loss_plot(records: list[dict], title: str):
    from matplotlib.figure import Figure  # noqa: PLC0415  (matplotlib, loaded when a plot is drawn)

    figure = Figure(figsize=(6, 3.2), layout="constrained")
    draw_loss(figure.subplots(), records, title)
    return figure


def progress_html(state: RunState) -> str:
    if state.status == "idle":
        return "<div class='wb-progress'>No run of yours yet.</div>"
    if state.waiting:
        return (
            f"<div class='wb-progress'><b>{html.escape(state.name)}</b> is waiting: "
            f"{html.escape(waiting_text(state))}. It starts by itself; Cancel takes it out of the queue.</div>"
        )
    fraction = state.step / state.max_steps if state.max_steps else 0.0
    if state.status == "completed":
        fraction = 1.0
    eta = f", about {state.eta_seconds:.0f} s left" if state.busy and state.eta_seconds is not None else ""
    colour = {"failed": "#ef4444", "stopped": "#f59e0b", "cancelled": "#9ca3af"}.get(state.status, "#22c55e")
    return (
        f"<div class='wb-progress'><div style='display:flex;justify-content:space-between'>"
        f"<b>{html.escape(state.name)}</b><span>{html.escape(state.status)}: step "
        f"{state.step}/{state.max_steps or '?'}{eta}</span></div>"
        f"<div style='background:#e5e7eb;border-radius:6px;height:14px;margin-top:4px'>"
        f"<div style='background:{colour};width:{fraction * 100:.1f}%;height:14px;border-radius:6px'></div></div></div>"
    )


def estimate(model_name: str, *form) -> tuple[str, float | None]:
    """(the estimate as plain text, its seconds) for the form; the text is shown as text, never as Markdown."""
    caps = public.caps()
    try:
        config = form_config(model_name, dict(zip(FORM_FIELDS, form)))
        bundle = load_data(config.data)
        rows = len(bundle.dataset) if caps.max_rows is None else min(caps.max_rows, len(bundle.dataset))
        stats = length_stats(bundle, base_model(model_name).tokenizer, config.max_length).as_dict()
        result = estimate_config(
            config,
            n_train=int(rows * 0.9),
            mean_tokens=min(stats.get("mean", 0) or 1, config.max_length),
            longest_tokens=stats.get("max"),
        )  # the estimate caps it at max_length
    except WorkbenchError as exc:
        return f"Cannot estimate: {exc}", None
    parts = " + ".join(
        f"{name.replace('_and_', '/').replace('_', ' ')} {mb:.0f}" for name, mb in result.breakdown_mb.items()
    )
    return f"Before you start: {result.summary().removeprefix('estimate: ')}.\nMemory: {parts} MB.", result.seconds


def _keep_upload(identity: Identity, path: str) -> str:
    """Copy an uploaded file into the learner's own uploads folder (Gradio's upload cache is shared and temporary)."""
    target = uploads_dir(identity) / Path(path).name
    target.parent.mkdir(parents=True, exist_ok=True)
    return str(shutil.copy2(path, target))


def start(request: gr.Request, who: Identity | None, seconds: float | None, model_name: str, *form) -> str:
    """Queue the form's run for this page's learner; the message says whether it started or waits, and why not."""
    try:
        identity = current(who, request)
        values = dict(zip(FORM_FIELDS, form))
        uploaded = values["data"] == UPLOAD
        config = form_config(model_name, values, output_dir=identity.folder)
        if uploaded and identity.learner is not None:
            config = dataclasses.replace(config, data=_keep_upload(identity, config.data))
        config, dataset = prepared_run(config, uploaded=uploaded)
        ok, message = MANAGER.submit(config, dataset=dataset, owner=identity.owner, estimate_seconds=seconds)
    except WorkbenchError as exc:
        ok, message = False, str(exc)
    return ("" if ok else "⚠️ ") + message


def stop(request: gr.Request, who: Identity | None) -> str:
    """Stop this learner's training (or take their waiting run out of the queue); nobody else's."""
    try:
        return MANAGER.stop(current(who, request).owner)
    except WorkbenchError as exc:
        return f"⚠️ {exc}"


def cancel(request: gr.Request, who: Identity | None) -> str:
    try:
        return MANAGER.cancel(current(who, request).owner)
    except WorkbenchError as exc:
        return f"⚠️ {exc}"


def poll(request: gr.Request, who: Identity | None, seen: str) -> tuple:
    """Redraw from this learner's latest run, but only what changed since this page last drew (matplotlib is not
    free)."""
    try:
        state = MANAGER.snapshot(current(who, request).owner)
    except WorkbenchError:
        state = RunState()
    key = f"{state.name}:{state.status}:{len(state.records)}:{len(state.log)}:{state.position}"
    key += f":{round(state.wait_seconds or 0)}"
    if key == seen:
        return (gr.skip(),) * 9
    plot = loss_plot(state.records, state.name) if state.records else None
    files = run_download(state.run_dir) if state.status in ("completed", "stopped") else None
    # Only a failure is written into the message line; otherwise what start/stop said stays readable.
    error = f"⚠️ {state.error}" if state.error else gr.skip()
    return (
        progress_html(state),
        plot,
        "\n".join(state.log[-200:]),
        files,
        key,
        gr.update(interactive=not state.busy),
        gr.update(interactive=state.busy),
        gr.update(visible=state.waiting),
        error,
    )


def apply_preset(seen: int) -> tuple:
    """Fill the form with the preset the teacher pushed, once per push (``seen``: the push this page applied last)."""
    version, preset = room_preset()
    if version == seen or preset is None:
        return (gr.skip(),) * 10
    note = f"The teacher set these settings for the room: {preset['label']}."
    return (
        version,
        preset["method"],
        preset["adaptation"],
        preset["lora_r"],
        preset["lora_alpha"],
        preset["learning_rate"],
        preset["max_steps"],
        preset["batch_size"],
        min(preset["max_length"], public.caps().max_length),
        note,
    )


def build_train_tab(
    app: gr.Blocks, model_name: str, data_source: gr.Radio, upload_path: gr.State, who: gr.State
) -> TrainControls:
    caps = public.caps()
    with gr.Tab("Train", id="train"):
        gr.Markdown(
            "Train the model on your data. **SFT** learns from demonstrations; **DPO** from chosen/rejected pairs; "
            "**KTO** from answers marked good or bad. "
            "**LoRA** trains a small adapter, **QLoRA** the same on a 4-bit base (less memory, slower on CPU), "
            "**full** every weight. Runs wait their turn in the server's queue. " + public.describe()
        )
        with gr.Row():
            data = gr.Dropdown(
                sample_choices(),
                value="sentiment_json",
                label="Data",
                info="A sample, or the file you uploaded on the Data tab.",
            )
            name = gr.Textbox(
                label="Run name (optional)",
                placeholder="e.g. json-lora-r16",
                info=TrainConfig.__dataclass_fields__["name"].metadata["help"],
            )
        defaults = TrainConfig().resolved()  # what a run of TrainConfig's defaults trains with
        with gr.Row():
            method = gr.Radio(
                list(TRAIN_METHODS),
                value=defaults.method,
                label="Method",
                info=(
                    "DPO needs preference pairs (sentiment_preference); "
                    "KTO answers marked 👍/👎 (the Chat tab's thumbs)."
                ),
            )
            adaptation = gr.Radio(
                list(typing.get_args(Adaptation)),
                value=defaults.adaptation,
                label="Adaptation",
                info="Full fine-tuning needs ~10x the learning rate's caution and far more memory.",
            )
        with gr.Accordion("Hyperparameters", open=True):
            with gr.Row():
                lora_r = field_input(TrainConfig, "lora_r", "LoRA r", defaults.lora_r)
                lora_alpha = field_input(TrainConfig, "lora_alpha", "LoRA alpha", defaults.lora_alpha)
                learning_rate = field_input(TrainConfig, "learning_rate", "Learning rate", defaults.learning_rate)
                beta = field_input(TrainConfig, "beta", "DPO beta", defaults.beta)
            with gr.Row():
                epochs = field_input(TrainConfig, "epochs", "Epochs", defaults.epochs)
                # The app's own default: a short run (TrainConfig's is a number of epochs).
                max_steps = gr.Number(
                    value=caps.max_steps or 30,
                    precision=0,
                    label="Max steps",
                    info="Stop after this many steps (0: use epochs)."
                    + (f" At most {caps.max_steps} here." if caps.max_steps else ""),
                )
                batch_size = field_input(TrainConfig, "batch_size", "Batch size", defaults.batch_size)
                max_length = field_input(
                    TrainConfig, "max_length", "max_length", defaults.max_length, maximum=caps.max_length
                )
        inputs = {
            "data": data,
            "upload_path": upload_path,
            "name": name,
            "method": method,
            "adaptation": adaptation,
            "lora_r": lora_r,
            "lora_alpha": lora_alpha,
            "learning_rate": learning_rate,
            "epochs": epochs,
            "max_steps": max_steps,
            "batch_size": batch_size,
            "max_length": max_length,
            "beta": beta,
        }
        form = [inputs[key] for key in FORM_FIELDS]
        # Plain text boxes, not Markdown: both show text derived from what visitors typed (run names, file names).
        estimate_box = gr.Textbox(label="Estimate", interactive=False, lines=2, elem_id="wb-estimate")
        with gr.Row():
            estimate_button = gr.Button("Estimate memory and time")
            start_button = gr.Button("Start training", variant="primary")
            stop_button = gr.Button("Stop", variant="stop", interactive=False)
            cancel_button = gr.Button("Cancel (leave the queue)", visible=False)
        message = gr.Textbox(show_label=False, interactive=False, container=False, elem_id="wb-train-message")
        progress = gr.HTML(progress_html(RunState()))
        with gr.Row():
            plot = gr.Plot(label="Loss (live)")
            log = gr.Textbox(label="Run log", lines=12, max_lines=12, interactive=False, autoscroll=True)
        files = gr.File(label="Run folder (download)", file_count="multiple", interactive=False)
        model = gr.State(model_name)
        seconds = gr.State(None)  # the last estimate's time, which the queue uses for the waits it shows
        seen = gr.State("")  # the state this page last drew (see poll)
        preset_seen = gr.State(0)

        # The Data tab's choice carries over when it is one this tab offers (broken examples are not).
        data_source.change(
            lambda v: gr.update(value=v) if v in dict(map(reversed, sample_choices())) else gr.skip(),
            inputs=data_source,
            outputs=data,
        )
        lora_r.release(default_lora_alpha, inputs=lora_r, outputs=lora_alpha)
        gr.on(
            [method.input, adaptation.input],
            lambda m, a: DEFAULT_LEARNING_RATES[(m, a)],
            inputs=[method, adaptation],
            outputs=learning_rate,
        )
        # An estimate drawn for other settings would mislead (e.g. after "Which method?" applied its answer).
        gr.on(
            [c.change for c in form],
            lambda shown: "Settings changed: press Estimate for new figures." if shown else "",
            inputs=estimate_box,
            outputs=estimate_box,
            show_progress="hidden",
            queue=False,
        )
        estimate_button.click(estimate, inputs=[model, *form], outputs=[estimate_box, seconds], api_name="estimate")
        start_button.click(estimate, inputs=[model, *form], outputs=[estimate_box, seconds]).then(
            start, inputs=[who, seconds, model, *form], outputs=message, api_name="start"
        )
        stop_button.click(stop, inputs=who, outputs=message, api_name="stop")
        cancel_button.click(cancel, inputs=who, outputs=message, api_name="cancel")
        poll_outputs = [progress, plot, log, files, seen, start_button, stop_button, cancel_button, message]
        timer = gr.Timer(POLL_SECONDS)
        # Every open page ticks every POLL_SECONDS: the ticks get a pool of their own, so a room's polls never wait
        # behind the default pool's slow events (uploads, estimates), nor those behind a crowd of ticks.
        ticks = dict(show_progress="hidden", concurrency_id="poll", concurrency_limit=POLL_POOL)
        timer.tick(poll, inputs=[who, seen], outputs=poll_outputs, api_name="poll", **ticks)
        gr.on([app.load, who.change], poll, inputs=[who, seen], outputs=poll_outputs, **ticks)
        preset_outputs = [
            preset_seen,
            method,
            adaptation,
            lora_r,
            lora_alpha,
            learning_rate,
            max_steps,
            batch_size,
            max_length,
            message,
        ]
        timer.tick(apply_preset, inputs=preset_seen, outputs=preset_outputs, api_name=False, **ticks)
    return TrainControls(method, adaptation, lora_r, lora_alpha, learning_rate, max_steps, batch_size, max_length)
