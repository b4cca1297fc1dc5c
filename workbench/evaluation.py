"""Evaluate a run on held-out data, base vs tuned, and save JSON, a markdown table and a chart in the run folder.

Metrics, each for the base (adapters disabled) and the tuned model:

- ``loss`` / ``perplexity``: mean cross-entropy on the assistant tokens of held-out conversations;
- ``rougeL`` / ``bleu``: generated answers against the data's answers, through `evaluate` with the local
  metric modules in ``workbench/metrics`` (the Hub ones cannot load offline);
- the sample dataset's own task metric, when the data is a known sample;
- for preference data: ``preference_accuracy`` and ``reward_margin``, with DPO's implicit reward
  ``beta * (logp_model - logp_base)`` summed over the answer tokens (the base is DPO's reference).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import torch

from workbench.compare import BASE, ModelBench, adapter_dir, run_config
from workbench.errors import WorkbenchError
from workbench.generation import GenerationSettings, Message, as_messages, stream_batch
from workbench.metrics import metric_path
from workbench.models import load_model

# Greedy and short: evaluation should measure the model, not the dice, and stay minutes long on a CPU.
EVAL_SETTINGS = GenerationSettings(max_new_tokens=64, temperature=0.0, repetition_penalty=1.15)
LOWER_IS_BETTER = {"loss", "perplexity"}
SCALES = {"bleu": 100.0}  # sacrebleu's 0-100; the other rates run from 0 to 1

SideModel = Callable[[str], AbstractContextManager]


def _template_ids(tokenizer, messages: list[Message], add_generation_prompt: bool = False) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=True, return_dict=True)["input_ids"])


def answer_token_labels(tokenizer, messages: list[Message]) -> tuple[list[int], list[int]]:
    """Token ids of a conversation and labels that keep only the assistant's tokens (-100 elsewhere).

    Each assistant turn spans from the end of the templated history before it (with the generation prompt)
    to the end of the templated history including it, the same prefix rule TRL uses to split prompt and
    answer. Most chat templates (SmolLM2's too) have no ``{% generation %}`` markers, so the tokenizer's
    own assistant mask is not available.
    """
    ids = _template_ids(tokenizer, messages)
    labels = [-100] * len(ids)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(_template_ids(tokenizer, messages[:i], add_generation_prompt=True))
        end = len(_template_ids(tokenizer, messages[: i + 1]))
        labels[start:end] = ids[start:end]
    return ids, labels


def _answer_logprob(model, ids: list[int], labels: list[int]) -> tuple[float, int]:
    """Summed log-probability of the labelled tokens, and how many there are."""
    input_ids = torch.tensor([ids], device=model.device)
    target = torch.tensor([labels[1:]], device=model.device)
    with torch.inference_mode():
        logits = model(input_ids=input_ids).logits[:, :-1].float()
    mask = target != -100
    logp = torch.log_softmax(logits, dim=-1).gather(-1, target.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return float((logp * mask).sum()), int(mask.sum())


def _conversation(record: dict) -> list[Message] | None:
    """The record as one conversation whose assistant turns are scored (the chosen answer for pairs)."""
    if "messages" in record:
        return record["messages"]
    if "completion" in record or "chosen" in record:
        answer = record.get("completion", record.get("chosen"))
        return as_messages(record["prompt"]) + (answer if isinstance(answer, list) else [{"role": "assistant", "content": answer}])
    return None


def _prompt_and_reference(record: dict) -> tuple[list[Message], str]:
    from workbench.data import prompt_and_reference

    prompt, reference = prompt_and_reference(record)
    return as_messages(prompt), reference


def _generate_answers(sides: list[str], use: SideModel, bench: ModelBench | None, tokenizer, prompts: list[list[Message]], settings: GenerationSettings, batch_size: int = 8) -> dict[str, list[str]]:
    """Every side's greedy answers to the prompts, batched (all sides in one batch when they share a bench)."""
    answers: dict[str, list[str]] = {side: [] for side in sides}
    if bench is not None and bench.adapters and bench.can_batch(sides):
        rows = [(side, prompt) for prompt in prompts for side in sides]
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            texts: list[str] = []
            for texts in bench.stream_rows([side for side, _ in chunk], [p for _, p in chunk], settings):
                pass
            for (side, _), text in zip(chunk, texts):
                answers[side].append(text.strip())
        return answers
    for side in sides:
        with use(side) as model:
            for start in range(0, len(prompts), batch_size):
                texts = []
                for texts in stream_batch(model, tokenizer, prompts[start : start + batch_size], settings):
                    pass
                answers[side].extend(t.strip() for t in texts)
    return answers


def evaluate_sides(
    sides: list[str],
    use: SideModel,
    tokenizer,
    records: list[dict],
    task_metric: Callable[[list[str], list[dict]], dict[str, float]] | None = None,
    beta: float = 0.1,
    settings: GenerationSettings = EVAL_SETTINGS,
    bench: ModelBench | None = None,
) -> dict:
    """Every metric for every side on ``records`` (normalized rows: messages, prompt+completion or pairs).

    ``use(side)`` is a context manager giving the model that answers as ``side``; ``sides[0]`` is the base
    and the reference for DPO rewards.
    """
    import evaluate

    results: dict[str, dict[str, float]] = {side: {} for side in sides}
    scored = [(r, c) for r in records if (c := _conversation(r))]
    for side in sides:
        with use(side) as model:
            total, count = 0.0, 0
            for _, conversation in scored:
                logp, n = _answer_logprob(model, *answer_token_labels(tokenizer, conversation))
                total, count = total + logp, count + n
        if count:
            results[side]["loss"] = -total / count
            results[side]["perplexity"] = math.exp(-total / count)

    pairs = [r for r in records if "chosen" in r and "rejected" in r]
    if pairs:
        logps: dict[str, list[tuple[float, float]]] = {}
        for side in sides:
            with use(side) as model:
                logps[side] = [
                    tuple(_answer_logprob(model, *answer_token_labels(tokenizer, _conversation({"prompt": p["prompt"], "chosen": p[key]})))[0] for key in ("chosen", "rejected"))
                    for p in pairs
                ]
        reference = logps[sides[0]]
        for side in sides:
            margins = [beta * ((c - rc) - (r - rr)) for (c, r), (rc, rr) in zip(logps[side], reference)]
            # A tie (the base scored against itself) counts half: chance level, not "wrong".
            results[side]["preference_accuracy"] = sum(1.0 if m > 0 else 0.5 if m == 0 else 0.0 for m in margins) / len(margins)
            results[side]["reward_margin"] = sum(margins) / len(margins)
            results[side]["chosen_more_likely"] = sum(c > r for c, r in logps[side]) / len(pairs)

    prompts, references = zip(*(_prompt_and_reference(r) for r in records)) if records else ((), ())
    answers = _generate_answers(sides, use, bench, tokenizer, list(prompts), settings)
    rouge, bleu = evaluate.load(metric_path("rouge_l")), evaluate.load(metric_path("bleu"))
    for side in sides:
        results[side].update(rouge.compute(predictions=answers[side], references=list(references)))
        results[side].update(bleu.compute(predictions=answers[side], references=list(references)))
        if task_metric is not None:
            results[side].update(task_metric(answers[side], records))
    examples = [
        {"prompt": prompts[i], "reference": references[i], **{side: answers[side][i] for side in sides}}
        for i in range(min(5, len(records)))
    ]
    return {"sides": results, "examples": examples, "settings": settings.as_dict(), "samples": len(records), "beta": beta}


def _eval_data(run_dir: Path, data: str | Path | None) -> tuple[list[dict], str, Callable | None]:
    """The held-out records, where they came from, and the sample's task metric if the data is a known sample."""
    from workbench.data import SAMPLES, load_data

    config = run_config(run_dir)
    source = data or config.get("eval_data")
    training_data = str(config.get("data") or "")
    # A run trained on a sample (by name or train file) is evaluated on that sample's eval split.
    trained_on = SAMPLES.get(training_data) or next((s for s in SAMPLES.values() if training_data and Path(training_data).resolve() == s.train_path.resolve()), None)
    if not source and trained_on:
        source = trained_on.eval_path
    if not source:
        raise WorkbenchError(f"no held-out data for {run_dir}: pass --data FILE (an eval file in any supported format)")
    sample = SAMPLES.get(str(source)) or next(
        (s for s in SAMPLES.values() if Path(source).resolve() in (s.eval_path.resolve(), s.train_path.resolve())), None
    )
    path = sample.eval_path if sample and str(source) == sample.name else source
    bundle = load_data(path)
    if len(bundle.dataset) == 0:
        raise WorkbenchError(f"no usable records in {path}:\n{bundle.report.summary()}")
    return list(bundle.dataset), str(path), sample.metric if sample else None


def evaluate_run(run_dir: str | Path, data: str | Path | None = None, max_samples: int = 32, settings: GenerationSettings = EVAL_SETTINGS) -> dict:
    """Evaluate a run folder (LoRA adapter or full model) against its base; save ``eval/`` in the run folder.

    Example:
        >>> results = evaluate_run("runs/sft-json")
        >>> print(results["table"])
    """
    run_dir = Path(run_dir)
    records, source, task_metric = _eval_data(run_dir, data)
    records = records[:max_samples]
    config = run_config(run_dir)
    beta = float(config.get("dpo_beta", config.get("beta", 0.1)))
    name = run_dir.name
    if (run_dir / "model" / "config.json").is_file():  # full fine-tuning: two models, both needed here
        models = {BASE: load_model(config.get("model", "default")), name: load_model(str(run_dir / "model"))}
        results = evaluate_sides([BASE, name], lambda side: nullcontext(models[side].model), models[BASE].tokenizer, records, task_metric, beta, settings)
    else:
        bench = ModelBench.from_adapters([adapter_dir(run_dir)])
        sides = bench.sides
        results = evaluate_sides(sides, bench.use, bench.tokenizer, records, task_metric, beta, settings, bench)
    results.update(run=str(run_dir), data=source)
    write_report(results, run_dir / "eval")
    return results


def markdown_table(results: dict) -> str:
    """Before/after table: one row per metric, one column per side, and the change from the base."""
    sides = list(results["sides"])
    metrics = list(dict.fromkeys(m for side in sides for m in results["sides"][side]))
    head = ["metric", *sides, *(f"{s} - {sides[0]}" for s in sides[1:])]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for metric in metrics:
        values = [results["sides"][s].get(metric, float("nan")) for s in sides]
        better = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
        cells = [f"{metric} ({better})", *(f"{v:.4g}" for v in values), *(f"{v - values[0]:+.4g}" for v in values[1:])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    # Write beside the target and rename: a reader (the app, a notebook) never sees half a file.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def write_report(results: dict, out_dir: str | Path) -> dict[str, Path]:
    """Save ``eval.json``, ``eval.md`` and ``before_after.png`` into ``out_dir``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed: the chart only goes to a file
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = markdown_table(results)
    results["table"] = table
    paths = {"json": out_dir / "eval.json", "markdown": out_dir / "eval.md", "chart": out_dir / "before_after.png"}
    _atomic_write(paths["json"], lambda p: p.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str)))
    header = f"# Evaluation of {results.get('run', '')}\n\nData: {results.get('data', '')} ({results['samples']} held-out examples)\n\n"
    _atomic_write(paths["markdown"], lambda p: p.write_text(header + table + "\n"))

    sides = list(results["sides"])
    metrics = list(dict.fromkeys(m for side in sides for m in results["sides"][side]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.6 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        values = [results["sides"][s].get(metric, 0.0) for s in sides]
        bars = ax.bar(range(len(sides)), values, color=["#9e9e9e", *["#1f77b4"] * (len(sides) - 1)])
        ax.bar_label(bars, fmt="%.3g", fontsize=8)
        if metric not in LOWER_IS_BETTER | {"reward_margin"}:
            # A rate keeps its whole scale, so a bar at 0 reads as 0 and not as an empty chart.
            ax.set_ylim(0, 1.1 * SCALES.get(metric, 1.0))
        else:
            ax.margins(y=0.15)  # room for the value labels
        ax.set_xticks(range(len(sides)), sides, rotation=30, ha="right", fontsize=8)
        ax.set_title(metric + (" (lower is better)" if metric in LOWER_IS_BETTER else ""), fontsize=9)
    fig.suptitle("Before (base) and after (tuned)")
    fig.tight_layout()
    _atomic_write(paths["chart"], lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)
    return paths
