"""Data tab: load a sample or an upload, read its validation report, browse records token by token, see lengths."""

from __future__ import annotations

import html
from pathlib import Path

import gradio as gr

from workbench.data import COLOR_MAP, SAMPLES, length_histogram, length_stats, load_data, preview_record
from workbench.data.samples import BROKEN_DIR
from workbench.errors import WorkbenchError
from workbench.inference.answers import base_model
from workbench.server import public

UPLOAD = "upload"
UPLOAD_TYPES = [".jsonl", ".json", ".csv", ".parquet"]


def sample_choices(with_broken: bool = False) -> list[tuple[str, str]]:
    """(label, value) pairs for a sample picker; the broken files teach reading the validation report."""
    choices = [(f"{s.name} ({s.kind})", s.name) for s in SAMPLES.values()]
    if with_broken:
        choices += [
            (f"broken: {p.name}", f"broken/{p.name}") for p in sorted(BROKEN_DIR.iterdir()) if p.suffix in UPLOAD_TYPES
        ]
    return [*choices, ("my uploaded file", UPLOAD)]


def source_path(choice: str, upload_path: str | None) -> str:
    """The file behind a picker value: a sample's train file, a broken example, or this session's upload."""
    if choice in SAMPLES:
        return str(SAMPLES[choice].train_path)
    if choice.startswith("broken/"):
        return str(BROKEN_DIR / Path(choice).name)  # only the name: a value cannot point outside the folder
    if choice == UPLOAD:
        if not upload_path:
            raise WorkbenchError("no file uploaded yet: upload one on the Data tab first")
        return str(upload_path)  # Gradio hands a str subclass that YAML (the run's config) cannot write
    raise WorkbenchError(f"unknown data choice {choice!r}")


def hide_folder(text: str, path: str) -> str:
    """``text`` with the file's server folder removed: the file name is what a learner can find, and all a
    visitor may see (an upload's folder is a capability URL of Gradio's cache)."""
    return text.replace(str(Path(path).parent) + "/", "") if path else text


def check_upload(path: str) -> None:
    """Refuse uploads over the public size cap before reading them."""
    limit = public.caps().max_upload_mb
    size_mb = Path(path).stat().st_size / 2**20
    if limit is not None and size_mb > limit:
        raise WorkbenchError(f"the upload is {size_mb:.1f} MB; this server accepts up to {limit:g} MB")


def build_data_tab(app: gr.Blocks, model_name: str) -> tuple[gr.Radio, gr.State]:
    """Build the tab; return the picker and the session's upload path, which the Train tab also reads."""

    def load(choice: str, upload_path: str | None, max_length: int):
        tokenizer = base_model(model_name).tokenizer
        empty = gr.update(value=0, maximum=1, interactive=False)
        path = ""
        try:
            path = source_path(choice, upload_path)
            if choice == UPLOAD:
                check_upload(path)
            bundle = load_data(path, tokenizer=tokenizer, max_length=int(max_length))
        except WorkbenchError as exc:
            # A file that cannot be read at all is still a report to read, not a crash.
            return "**Could not read this data.**", f"error: {hide_folder(str(exc), path)}", empty, None, None, "", None
        report = bundle.report
        report_text = hide_folder(str(report), path)
        rows = len(bundle.dataset)
        cap = public.caps().max_rows
        name = Path(report.source).name
        summary = (
            f"**{html.escape(name)}**: format **{report.source_format or 'unknown'}**, kind "
            f"**{report.kind or 'unknown'}**; {report.records_read} records read, **{rows} usable**, "
            f"{len(report.errors)} errors, {len(report.warnings)} warnings."
        )
        if cap is not None and rows > cap:
            summary += f" Training here uses the first {cap} rows (public mode)."
        if not rows:
            return summary, report_text, empty, None, None, "", bundle
        stats = length_stats(bundle, tokenizer, max_length=int(max_length))
        figure = length_histogram(stats, title=name)
        slider = gr.update(value=0, maximum=max(1, rows - 1), interactive=rows > 1)
        highlighted, caption = show_record(bundle, 0, max_length)
        return summary, report_text, slider, highlighted, figure, caption + f"\n\nLengths: {stats}", bundle

    def show_record(bundle, index: int, max_length: int):
        if bundle is None or not len(bundle.dataset):
            return None, ""
        index = min(int(index), len(bundle.dataset) - 1)
        preview = preview_record(bundle, base_model(model_name).tokenizer, index=index, max_length=int(max_length))
        caption = (
            f"Record {index} ({bundle.where(index)}): {preview.kind}, the loss counts {preview.loss}; "
            f"{preview.trained_token_count} of {preview.token_count} tokens trained."
        )
        return preview.to_highlighted(), caption

    def uploaded(file_path: str | None):
        # A new upload becomes this session's data (the load chained after it reads it at once).
        return file_path, UPLOAD

    with gr.Tab("Data", id="data"):
        gr.Markdown(
            "Pick a sample or upload your own file. The report says which records are used and why the others "
            "are left out; the browser shows each record as the trainer sees it, "
            "<span style='background:#22c55e55'>trained tokens</span> highlighted."
        )
        with gr.Row():
            source = gr.Radio(
                sample_choices(with_broken=True),
                value="sentiment_json",
                label="Data",
                info="Samples ship with the app; 'broken' files show typical mistakes.",
                scale=3,
            )
            with gr.Column(scale=2):
                upload = gr.File(
                    label="Upload a file (" + ", ".join(UPLOAD_TYPES) + ")",
                    file_types=UPLOAD_TYPES,
                    type="filepath",
                    height=120,
                )
                max_length = gr.Slider(
                    32,
                    public.caps().max_length,
                    value=256,
                    step=32,
                    label="max_length",
                    info="Longest tokenized record; longer ones are cut (red in the browser).",
                )
        upload_path = gr.State(None)
        bundle = gr.State(None)
        summary = gr.Markdown()
        report = gr.Textbox(label="Validation report (file:line: problem)", lines=6, max_lines=14, interactive=False)
        with gr.Row():
            with gr.Column(scale=3):
                index = gr.Slider(0, 1, value=0, step=1, label="Record", interactive=False)
                tokens = gr.HighlightedText(
                    label="Chat-template text, trained tokens highlighted",
                    color_map=COLOR_MAP,
                    combine_adjacent=True,
                    show_legend=True,
                )
                caption = gr.Markdown()
            histogram = gr.Plot(label="Token lengths", scale=2)

        load_inputs = [source, upload_path, max_length]
        load_outputs = [summary, report, index, tokens, histogram, caption, bundle]
        # `.input` fires on the user's own clicks only, so setting the picker after an upload does not load twice.
        gr.on([source.input, max_length.release], load, inputs=load_inputs, outputs=load_outputs, api_name="load_data")
        upload.upload(uploaded, inputs=upload, outputs=[upload_path, source], api_name="upload").then(
            load, inputs=load_inputs, outputs=load_outputs
        )
        index.release(show_record, inputs=[bundle, index, max_length], outputs=[tokens, caption], api_name="browse")
        app.load(load, inputs=load_inputs, outputs=load_outputs)
    return source, upload_path
