"""Export tab: a run as a GGUF file for llama.cpp or Ollama, with its Modelfile, ready to download.

Each export is written into a fresh temporary folder of its own (never the runs folder), so one visitor's file
is never another's; the session's previous export is deleted when it makes a new one.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import gradio as gr

from workbench.errors import WorkbenchError
from workbench.export.gguf_export import QUANTS
from workbench.export.merge import export_gguf
from workbench.ui.runs_tab import run_choices, visible_run
from workbench.workspace.learners import Identity

QUANT_CHOICES = [
    ("q8_0: near the trained model, half the size of f16", "q8_0"),
    ("q4_0: smallest, a little less accurate", "q4_0"),
    ("f16: exact up to 16-bit rounding, largest", "f16"),
]


def export_for_download(
    request: gr.Request,
    who: Identity | None,
    name: str | None,
    quant: str,
    previous: str | None,
    progress=gr.Progress(track_tqdm=True),
):
    """Export run ``name`` into a new temporary folder; return the files, the Modelfile text, notes, the folder."""
    if not name:
        raise gr.Error("Choose a run first (train one on the Train tab).")
    run_dir = visible_run(request, who, name)  # only runs this page lists, never a path from the client
    if quant not in QUANTS:
        raise gr.Error(f"Choose one of {', '.join(QUANTS)}.")
    if previous and Path(previous).name.startswith("workbench-export-"):
        shutil.rmtree(previous, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix="workbench-export-"))
    progress(0, desc="merging the adapter into its base")
    try:
        result = export_gguf(run_dir, folder / run_dir.name, quant)
    except WorkbenchError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise gr.Error(str(exc)) from exc
    notes = [
        f"**{result.main_file.name}** is ready. Put both files in one folder, then "
        f"`ollama create {name.lower()} -f Modelfile` and `ollama run {name.lower()}`, "
        f"or `llama-cli -m {result.main_file.name}`."
    ]
    notes += [f"Note: {n}" for n in result.notes]
    return [str(result.main_file), str(result.modelfile)], result.modelfile.read_text(), "\n\n".join(notes), str(folder)


def build_export_tab(app: gr.Blocks, who: gr.State) -> None:
    with gr.Tab("Export", id="export"):
        gr.Markdown(
            "Take a run home: its adapter merged into the base and saved as one **GGUF** file, which "
            "llama.cpp and Ollama run on any laptop, with an Ollama **Modelfile** (chat template, stop tokens "
            "and the workbench's sampling settings). For safetensors or the Hub: `workbench export` and "
            "`workbench push`."
        )
        with gr.Row():
            run = gr.Dropdown([], label="Run")
            quant = gr.Radio(QUANT_CHOICES, value="q8_0", label="Weights")
            refresh = gr.Button("Refresh runs", size="sm", scale=0)
        start = gr.Button("Export", variant="primary")
        notes = gr.Markdown()
        files = gr.File(label="GGUF and Modelfile (download)", file_count="multiple", interactive=False)
        modelfile = gr.Code(label="Modelfile", language=None, interactive=False)
        folder = gr.State(None)  # this session's last export, deleted when it exports again
        gr.on([refresh.click, app.load, who.change], run_choices, inputs=who, outputs=run, api_name="export_runs")
        start.click(
            export_for_download,
            inputs=[who, run, quant, folder],
            outputs=[files, modelfile, notes, folder],
            api_name="export",
            concurrency_id="export",
            concurrency_limit=1,
        )
