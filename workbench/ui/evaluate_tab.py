"""Evaluate tab: a run against its base on held-out data: the metrics, a before/after chart, every example with
its verdict (improved, regressed, unchanged), the forgetting probe, and downloads.

A run's last evaluation (``eval/eval.json``) is shown as soon as the run is picked; "Evaluate" measures again.
The handlers live at module level so tests can call them without a server.
"""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

from workbench.errors import WorkbenchError
from workbench.evaluation.evaluate import CHANGES, change_counts, confusion_markdown
from workbench.server import public
from workbench.server.zerogpu import evaluate_run  # inside @spaces.GPU on ZeroGPU; evaluation.evaluate_run elsewhere
from workbench.ui.runs_tab import run_choices, visible_run
from workbench.workspace.learners import Identity
from workbench.workspace.runs import EVAL_DIR

SHOW = ("all", *CHANGES)
EXAMPLE_COLUMNS = ["#", "change", "prompt", "reference", "base answer", "base score", "tuned answer", "tuned score"]
PROBE_COLUMNS = ["category", "question", "base answer", "base", "tuned answer", "tuned"]
EMPTY = ("", None, None, [], [], "")


def summary_markdown(results: dict) -> str:
    """The headline: what was measured, the metric table, the out-of-distribution and forgetting scores."""
    sides = list(results["sides"])
    lines = [
        f"Evaluated on {results['samples']} held-out examples ({results.get('data', '')}); greedy answers, "
        f"{results['settings']['max_new_tokens']} new tokens at most.",
        "",
        results["table"],
    ]
    if "confusion" in results:
        lines += ["", "**Classification fields** (rows: the reference's value; columns: the answer's):", ""]
        lines.append(confusion_markdown(results))
    if "ood" in results:
        ood = results["ood"]
        lines += ["", f"**Out of distribution** ({ood['samples']} reviews of another kind, reported apart):"]
        lines += [f"- {side}: " + ", ".join(f"{k} {v:.2f}" for k, v in ood["sides"][side].items()) for side in sides]
    if "forgetting" in results:
        probe = results["forgetting"]["sides"]
        tuned = sides[-1]
        lost = probe[tuned]["lost"]
        lines += [
            "",
            f"**Forgetting probe**: general questions answered correctly, base {probe[sides[0]]['score']:.0%}, "
            f"{tuned} {probe[tuned]['score']:.0%}; lost {len(lost)} the base answered.",
        ]
    counts = change_counts(results)
    for side, c in counts.items():
        lines += [
            "",
            f"**Per example** ({results.get('example_score', '')}): {c['improved']} improved, "
            f"{c['regressed']} regressed, {c['unchanged']} unchanged ({side} vs base).",
        ]
    return "\n".join(lines)


def example_rows(results: dict, show: str = "all") -> list[list]:
    """The per-example table (base vs the tuned side), filtered to one kind of change."""
    sides = list(results["sides"])
    base, tuned = sides[0], sides[-1]
    rows = []
    for i, e in enumerate(results["examples"]):
        change = e["change"].get(tuned, "")
        if show != "all" and change != show:
            continue
        rows.append(
            [
                i,
                change,
                e["prompt"][-1]["content"],
                e["reference"],
                e["answers"][base],
                round(e["scores"][base], 3),
                e["answers"][tuned],
                round(e["scores"][tuned], 3),
            ]
        )
    return rows


def probe_rows(results: dict) -> list[list]:
    """The forgetting probe's questions with both answers and whether each passed."""
    if "forgetting" not in results:
        return []
    sides = list(results["forgetting"]["sides"])
    base, tuned = sides[0], sides[-1]
    mark = {True: "✓", False: "✗"}
    return [
        [
            item["category"],
            item["prompt"],
            item["answers"][base],
            mark[item["passed"][base]],
            item["answers"][tuned],
            mark[item["passed"][tuned]],
        ]
        for item in results["forgetting"]["items"]
    ]


def _outputs(run_dir: Path, results: dict, show: str) -> tuple:
    out, name = run_dir / EVAL_DIR, run_dir.name
    files = [str(out / "eval.json"), str(out / "eval.md")]
    return (
        summary_markdown(results),
        str(out / "before_after.png"),
        files,
        example_rows(results, show),
        probe_rows(results),
        f"Last evaluation of {name}.",
    )


def show_saved(request: gr.Request, who: Identity | None, name: str | None, show: str = "all") -> tuple:
    """The run's last evaluation, if it has one (nothing is computed)."""
    if not name:
        return EMPTY
    run_dir = visible_run(request, who, name)
    path = run_dir / EVAL_DIR / "eval.json"
    if not path.is_file():
        return (*EMPTY[:-1], "No evaluation of this run yet: press Evaluate.")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        return _outputs(run_dir, results, show)
    except (ValueError, KeyError, TypeError):
        return (
            *EMPTY[:-1],
            "This run's eval.json is from an older version or damaged: press Evaluate to measure again.",
        )


def run_evaluation(
    request: gr.Request,
    who: Identity | None,
    name: str | None,
    max_samples: int,
    probe: bool,
    show: str = "all",
    progress: gr.Progress = gr.Progress(track_tqdm=True),
) -> tuple:
    """Evaluate the run now (minutes on a CPU: answers are generated for every example; the bar counts them)."""
    if not name:
        raise gr.Error("Choose a run first (train one on the Train tab).")
    run_dir = visible_run(request, who, name)
    try:
        results = evaluate_run(run_dir, max_samples=int(max_samples), probe=bool(probe))
    except WorkbenchError as exc:
        raise gr.Error(str(exc)) from exc
    return _outputs(run_dir, results, show)


def build_evaluate_tab(app: gr.Blocks, who: gr.State) -> None:
    with gr.Tab("Evaluate", id="evaluate"):
        gr.Markdown(
            "Score a run against the base model on data it did not train on: loss and perplexity on the "
            "answers, ROUGE-L and BLEU against the reference answers, the sample's own task metric, each "
            "example's verdict, and a forgetting probe (general questions the base answers)."
        )
        with gr.Row():
            run = gr.Dropdown([], label="Run")
            max_samples = gr.Slider(
                4,
                64 if not public.is_public() else 16,
                value=16,
                step=4,
                label="Held-out examples",
                info="More examples give steadier numbers and take longer (answers are generated).",
            )
            probe = gr.Checkbox(True, label="Forgetting probe", info="22 general questions, asked of both models")
            refresh = gr.Button("Refresh runs", size="sm", scale=0)
        start = gr.Button("Evaluate", variant="primary")
        status = gr.Markdown()
        summary = gr.Markdown()
        chart = gr.Image(label="Before (base) and after (tuned)", type="filepath", interactive=False)
        with gr.Accordion("Per example: which answers improved, which regressed", open=True):
            show = gr.Radio(list(SHOW), value="all", label="Show")
            examples = gr.Dataframe(
                headers=EXAMPLE_COLUMNS,
                interactive=False,
                wrap=True,
                elem_id="eval-examples",
                column_widths=["4%", "8%", "24%", "13%", "19%", "6%", "20%", "6%"],
            )
        with gr.Accordion("Forgetting probe: what the tuned model still answers", open=False):
            questions = gr.Dataframe(
                headers=PROBE_COLUMNS,
                interactive=False,
                wrap=True,
                column_widths=["10%", "22%", "30%", "5%", "28%", "5%"],
            )
        files = gr.File(label="eval.json, eval.md (download)", file_count="multiple", interactive=False)

        outputs = [summary, chart, files, examples, questions, status]
        gr.on([refresh.click, app.load, who.change], run_choices, inputs=who, outputs=run, api_name="evaluate_runs")
        gr.on([run.change, show.change], show_saved, inputs=[who, run, show], outputs=outputs, api_name="evaluation")
        start.click(
            run_evaluation,
            inputs=[who, run, max_samples, probe, show],
            outputs=outputs,
            api_name="evaluate",
            concurrency_id="generate",
            concurrency_limit=public.caps().generations,
        )
