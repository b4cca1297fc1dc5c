"""Evaluate tab: a run against its base on held-out data, as a table, a before/after chart and downloads."""

from __future__ import annotations

import gradio as gr

from workbench.errors import WorkbenchError
from workbench.evaluation import evaluate_run
from workbench.ui import public
from workbench.ui.run_manager import runs_root
from workbench.ui.runs_tab import run_names


def build_evaluate_tab(app: gr.Blocks) -> None:
    def evaluate(name: str | None, max_samples: int):
        if not name:
            raise gr.Error("Choose a run first (train one on the Train tab).")
        try:
            results = evaluate_run(runs_root() / name, max_samples=int(max_samples))
        except WorkbenchError as exc:
            raise gr.Error(str(exc)) from exc
        out = runs_root() / name / "eval"
        header = f"Evaluated on {results['samples']} held-out examples; greedy answers, {results['settings']['max_new_tokens']} new tokens at most.\n\n"
        return header + results["table"], str(out / "before_after.png"), [str(out / "eval.json"), str(out / "eval.md")]

    with gr.Tab("Evaluate", id="evaluate"):
        gr.Markdown("Score a run against the base model on data it did not train on: loss and perplexity on the "
                    "answers, ROUGE-L and BLEU against the reference answers, and the sample's own task metric.")
        with gr.Row():
            run = gr.Dropdown([], label="Run")
            max_samples = gr.Slider(4, 64 if not public.is_public() else 16, value=16, step=4, label="Held-out examples",
                                    info="More examples give steadier numbers and take longer (answers are generated).")
            refresh = gr.Button("Refresh runs", size="sm", scale=0)
        start = gr.Button("Evaluate", variant="primary")
        table = gr.Markdown()
        chart = gr.Image(label="Before (base) and after (tuned)", type="filepath", interactive=False)
        files = gr.File(label="eval.json, eval.md (download)", file_count="multiple", interactive=False)
        gr.on([refresh.click, app.load], lambda: gr.update(choices=run_names(), value=(run_names() or [None])[0]),
              outputs=run, api_name="evaluate_runs")
        start.click(evaluate, inputs=[run, max_samples], outputs=[table, chart, files], api_name="evaluate",
                    concurrency_id="generate", concurrency_limit=public.caps().generations)
