"""Evaluate a run on held-out data, base vs tuned, and save JSON, a markdown report and a chart in the run folder.

Metrics, each for the base (adapters disabled) and the tuned model:

- ``loss`` / ``perplexity``: mean cross-entropy on the tokens the trainer's loss counts
  (:mod:`workbench.data.masking`, the same rule and max_length), so it is the trainer's eval loss;
- ``rougeL`` / ``bleu``: generated answers against the data's answers, through `evaluate` with the local
  metric modules in ``workbench/evaluation/metrics`` (the Hub ones cannot load offline);
- the task metric, where every reference answer is a JSON object (:func:`workbench.data.samples.json_task`):
  valid JSON and exact match per field, a confusion table per classification field; on a sample's
  out-of-distribution probe too;
- for preference data: ``preference_accuracy`` and ``reward_margin``, with DPO's implicit reward
  ``beta * (logp_model - logp_base)`` summed over the answer tokens (the base is DPO's reference);
- per example: each side's answer and score, and whether the tuned model improved, regressed or stayed;
- the forgetting probe (:mod:`workbench.evaluation.forgetting`): general questions the base answers, asked again;
- optionally, a local judge model's pairwise verdicts (:mod:`workbench.evaluation.judge`).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import torch
from tqdm.auto import tqdm

from workbench.atomic import atomic_write_bytes, atomic_write_text
from workbench.data import SAMPLES, LossSettings, load_data, loss_labels, loss_settings, prompt_and_reference
from workbench.data.formats import record_kind
from workbench.data.samples import ExampleScore, JsonTask, Sample, example_score, json_task, mean_scores
from workbench.errors import WorkbenchError
from workbench.evaluation.forgetting import load_probe, score_probe
from workbench.evaluation.judge import agreement, judge_pairs
from workbench.evaluation.metrics import metric_path
from workbench.inference import answers
from workbench.inference.bench import BASE, ModelBench
from workbench.inference.generation import GenerationSettings, Message, as_messages, finished, stream_batch
from workbench.models import load_model
from workbench.training.config import TrainConfig, find_run_config
from workbench.workspace.runs import EVAL_DIR, MODEL_DIR, run_info

# Greedy and short: evaluation should measure the model, not the dice, and stay minutes long on a CPU.
EVAL_SETTINGS = GenerationSettings(max_new_tokens=64, temperature=0.0, repetition_penalty=1.15)
PROBE_SETTINGS = GenerationSettings(max_new_tokens=48, temperature=0.0, repetition_penalty=1.15)
LOWER_IS_BETTER = {"loss", "perplexity"}
SCALES = {"bleu": 100.0}  # sacrebleu's 0-100; the other rates run from 0 to 1
CHANGES = ("improved", "regressed", "unchanged")

SideModel = Callable[[str], AbstractContextManager]


def _answer_logprob(model, ids: list[int], labels: list[int]) -> tuple[float, int]:
    """Summed log-probability of the labelled tokens, and how many there are."""
    input_ids = torch.tensor([ids], device=model.device)
    target = torch.tensor([labels[1:]], device=model.device)
    with torch.inference_mode():
        logits = model(input_ids=input_ids).logits[:, :-1].float()
    mask = target != -100
    logp = torch.log_softmax(logits, dim=-1).gather(-1, target.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return float((logp * mask).sum()), int(mask.sum())


def _scored_sequence(labels: dict[str, tuple[list[int], list[int]]]) -> tuple[list[int], list[int]]:
    # Demonstrations have one sequence; for a pair, the loss is the chosen answer's (what SFT would learn).
    return labels.get("sequence") or labels["chosen"]


def _generate_answers(
    sides: list[str],
    use: SideModel,
    bench: ModelBench | None,
    tokenizer,
    prompts: list[list[Message]],
    settings: GenerationSettings,
    desc: str,
    batch_size: int = 8,
) -> dict[str, list[str]]:
    """Every side's greedy answers to the prompts, batched (all sides in one batch when they share a bench).

    Generation is most of an evaluation's minutes on a CPU: a bar named ``desc`` counts the answers (the
    Evaluate tab shows it through ``gr.Progress(track_tqdm=True)``).
    """
    answers: dict[str, list[str]] = {side: [] for side in sides}
    with tqdm(total=len(prompts) * len(sides), desc=desc, unit="answer", leave=False) as bar:
        if bench is not None:
            rows = [(side, prompt) for prompt in prompts for side in sides]
            for start in range(0, len(rows), batch_size):
                chunk = rows[start : start + batch_size]
                stream = bench.stream_rows([side for side, _ in chunk], [p for _, p in chunk], settings, hold=False)
                texts = finished(stream)
                for (side, _), text in zip(chunk, texts):
                    answers[side].append(text.strip())
                bar.update(len(chunk))
            return answers
        for side in sides:
            with use(side) as model:
                for start in range(0, len(prompts), batch_size):
                    texts = finished(stream_batch(model, tokenizer, prompts[start : start + batch_size], settings))
                    answers[side].extend(t.strip() for t in texts)
                    bar.update(len(texts))
    return answers


def _example_scores(
    answers: list[str], references: list[str], records: list[dict], score: ExampleScore | None, rouge, bleu
) -> tuple[dict[str, float], list[float], list[dict[str, float]]]:
    """(set-level text and task metrics, one score per example, the task scores per example).

    An example's score is the mean of its task scores where the sample has a task metric, else its ROUGE-L.
    """
    text = rouge.compute(predictions=answers, references=references)
    per_example = text.pop("rougeL_per_example")
    text.update(bleu.compute(predictions=answers, references=references))
    if score is None:
        return text, per_example, [{} for _ in answers]
    task = [score(a, r) for a, r in zip(answers, records)]
    return text | mean_scores(task), [example_score(t) for t in task], task


def _change(tuned: float, base: float) -> str:
    return "improved" if tuned > base + 1e-9 else "regressed" if tuned < base - 1e-9 else "unchanged"


def evaluate_sides(
    sides: list[str],
    use: SideModel,
    tokenizer,
    records: list[dict],
    score: ExampleScore | None = None,
    beta: float = 0.1,
    settings: GenerationSettings = EVAL_SETTINGS,
    bench: ModelBench | None = None,
    loss: LossSettings | None = None,
    max_length: int | None = None,
    probe: bool = True,
) -> dict:
    """Every metric for every side on ``records`` (normalized rows: messages, prompt+completion or pairs).

    ``use(side)`` is a context manager giving the model that answers as ``side``; ``sides[0]`` is the base
    and the reference for DPO rewards. ``loss`` and ``max_length`` are the run's (default: answer-only loss,
    no truncation), so ``loss`` equals the trainer's eval loss on the same records.
    """
    # The evaluate library is slow to import: loaded when metrics are computed, not at the app's start.
    import evaluate  # noqa: PLC0415

    results: dict[str, dict[str, float]] = {side: {} for side in sides}
    labelled = [loss_labels(r, tokenizer, loss, max_length) for r in records]
    for side in sides:
        with use(side) as model:
            total, count = 0.0, 0
            for ids, labels in map(_scored_sequence, labelled):
                logp, n = _answer_logprob(model, ids, labels)
                total, count = total + logp, count + n
        if count:
            results[side]["loss"] = -total / count
            results[side]["perplexity"] = math.exp(-total / count)

    pairs = [labels for labels in labelled if "chosen" in labels]
    if pairs:
        logps: dict[str, list[tuple[float, float]]] = {}
        for side in sides:
            with use(side) as model:
                logps[side] = [tuple(_answer_logprob(model, *p[k])[0] for k in ("chosen", "rejected")) for p in pairs]
        reference = logps[sides[0]]
        for side in sides:
            margins = [beta * ((c - rc) - (r - rr)) for (c, r), (rc, rr) in zip(logps[side], reference)]
            # A tie (the base scored against itself) counts half: chance level, not "wrong". TRL's own
            # rewards/accuracies counts a tie as wrong, so the base shows 0.5 here where TRL would log 0.
            results[side]["preference_accuracy"] = sum(1.0 if m > 0 else 0.5 if m == 0 else 0.0 for m in margins) / len(
                margins
            )
            results[side]["reward_margin"] = sum(margins) / len(margins)
            results[side]["chosen_more_likely"] = sum(c > r for c, r in logps[side]) / len(pairs)

    prompts, references = zip(*(prompt_and_reference(r) for r in records)) if records else ((), ())
    prompts = [as_messages(p) for p in prompts]
    answers = _generate_answers(sides, use, bench, tokenizer, prompts, settings, "held-out answers")
    rouge, bleu = evaluate.load(metric_path("rouge_l")), evaluate.load(metric_path("bleu"))
    scores, task_scores = {}, {}
    for side in sides:
        metrics, scores[side], task_scores[side] = _example_scores(
            answers[side], list(references), records, score, rouge, bleu
        )
        results[side].update(metrics)
    examples = [
        {
            "prompt": prompts[i],
            "reference": references[i],
            "answers": {side: answers[side][i] for side in sides},
            "scores": {side: scores[side][i] for side in sides},
            "task_scores": {side: task_scores[side][i] for side in sides},
            "change": {side: _change(scores[side][i], scores[sides[0]][i]) for side in sides[1:]},
        }
        for i in range(len(records))
    ]
    out = {
        "sides": results,
        "examples": examples,
        "settings": settings.as_dict(),
        "samples": len(records),
        "beta": beta,
        "example_score": "mean of the task scores" if score else "ROUGE-L F1",
    }
    if isinstance(score, JsonTask):
        out["task"] = {"fields": list(score.fields), "categories": score.categories}
        confusion = {side: score.confusion(answers[side], records) for side in sides}
        out["confusion"] = {field: {side: confusion[side][field] for side in sides} for field in score.categories}
    if probe:
        out["forgetting"] = _forgetting(sides, use, bench, tokenizer, load_probe())
    return out


def _forgetting(sides: list[str], use: SideModel, bench: ModelBench | None, tokenizer, items: list) -> dict:
    answers = _generate_answers(
        sides, use, bench, tokenizer, [as_messages(i.prompt) for i in items], PROBE_SETTINGS, "forgetting probe"
    )
    return score_probe(items, answers)


def evaluate_task(
    sides: list[str],
    use: SideModel,
    tokenizer,
    records: list[dict],
    score: ExampleScore,
    settings: GenerationSettings = EVAL_SETTINGS,
    bench: ModelBench | None = None,
    desc: str = "out-of-distribution answers",
) -> dict[str, dict[str, float]]:
    """Only the task metric per side (the out-of-distribution probe: answers generated, no loss); ``desc`` labels
    the progress bar."""
    prompts = [as_messages(prompt_and_reference(r)[0]) for r in records]
    answers = _generate_answers(sides, use, bench, tokenizer, prompts, settings, desc)
    return {side: mean_scores([score(a, r) for a, r in zip(answers[side], records)]) for side in sides}


def _known_sample(path_or_name: str | Path | None) -> Sample | None:
    """The sample a data path or name belongs to (its train or eval file, or its name)."""
    if not path_or_name:
        return None
    if str(path_or_name) in SAMPLES:
        return SAMPLES[str(path_or_name)]
    path = Path(path_or_name).resolve()
    return next((s for s in SAMPLES.values() if path in (s.train_path.resolve(), s.eval_path.resolve())), None)


def _eval_data(
    run_dir: Path, config: TrainConfig | None, data: str | Path | None
) -> tuple[list[dict], str, Sample | None]:
    """The held-out records, where they came from, and the sample they belong to (for its out-of-distribution
    probe)."""
    trained_on = _known_sample(config.data if config else None)
    source = data or (config.eval_data if config else None) or (trained_on.eval_path if trained_on else None)
    if not source:
        raise WorkbenchError(f"no held-out data for {run_dir}: pass --data FILE (an eval file in any supported format)")
    sample = _known_sample(source)
    path = sample.eval_path if sample and str(source) == sample.name else source
    bundle = load_data(path)
    records = list(bundle.dataset)
    if bundle.kind == "kto":  # an answer marked bad is no reference to compare with: the good ones are
        records = [r for r in records if r["label"]]
    if not records:
        what = "answers marked good (label true)" if bundle.kind == "kto" else "usable records"
        raise WorkbenchError(f"no {what} in {path}:\n{bundle.report.summary()}")
    return records, str(path), sample


def _run_sides(run_dir: Path) -> tuple[list[str], SideModel, object, ModelBench | None, list[ModelBench]]:
    """(sides, use, tokenizer, bench, held) for base vs a run, on the one answer path's benches: an adapter on the
    base it trained on (4-bit for QLoRA: on another base the adapter is not the model that trained, and its loss
    is not the trainer's; docs/evaluation.md), a full run on its own model beside the base. ``held`` are the
    benches to hold while evaluating."""
    info = run_info(run_dir)
    if info.kind == "full":
        base, tuned = answers.bench(info.base), answers.bench(str(run_dir / MODEL_DIR))
        use = lambda side: (base if side == BASE else tuned).use(BASE)  # noqa: E731
        return [BASE, run_dir.name], use, base.tokenizer, None, [base, tuned]
    bench = answers.bench(info.base, info.quantization)
    side = bench.adapter_side(run_dir, name=run_dir.name)
    return [BASE, side], bench.use, bench.tokenizer, bench, [bench]


def _labelled(results, side: str, label: str):
    """The report names the run by its folder; the shared bench may know it under another side name (two runs
    of one name, in two learners' folders, are two sides there)."""
    if side == label:
        return results
    if isinstance(results, dict):
        return {(label if key == side else key): _labelled(value, side, label) for key, value in results.items()}
    if isinstance(results, list):
        return [label if item == side else _labelled(item, side, label) for item in results]
    return results


@contextmanager
def _holding(benches: list[ModelBench]):
    """Hold the benches for a whole evaluation: the loss passes switch adapters on the shared model too."""
    with ExitStack() as stack:
        for held in sorted(benches, key=id):
            stack.enter_context(held.lock)
        yield


def evaluate_forgetting(run_dir: str | Path, limit: int | None = None) -> dict:
    """Only the forgetting probe (its first ``limit`` questions), base vs the run, as ``evaluate_run`` reports it.

    Example:
        >>> print(forgetting_markdown({"forgetting": evaluate_forgetting("runs/sft-json")}))
    """
    sides, use, tokenizer, bench, held = _run_sides(Path(run_dir))
    with _holding(held):
        results = _forgetting(sides, use, bench, tokenizer, load_probe()[:limit])
    return _labelled(results, sides[1], Path(run_dir).name)


def evaluate_run(
    run_dir: str | Path,
    data: str | Path | None = None,
    max_samples: int = 32,
    settings: GenerationSettings = EVAL_SETTINGS,
    probe: bool = True,
    judge: str | None = None,
) -> dict:
    """Evaluate a run folder (LoRA adapter or full model) against its base; save ``eval/`` in the run folder.

    ``probe`` adds the forgetting probe; ``judge`` names a local model (folder or Hub ID) that compares the
    base's and the run's answers pairwise.

    Example:
        >>> results = evaluate_run("runs/sft-json")
        >>> print(results["table"])
    """
    run_dir = Path(run_dir)
    config = find_run_config(run_dir)
    records, source, sample = _eval_data(run_dir, config, data)
    task = json_task(records)  # from the whole file: a category the first records lack is still a category
    records = records[:max_samples]
    sides, use, tokenizer, bench, held = _run_sides(run_dir)
    with _holding(held):
        results = _evaluate(config, records, task, sample, sides, use, tokenizer, bench, settings, max_samples, probe)
    results = _labelled(results, sides[1], run_dir.name)
    if judge:
        results["judge"] = _judge(judge, results, [BASE, run_dir.name])
    results.update(run=str(run_dir), data=source, base_quantization=bench.base.quantization if bench else None)
    write_report(results, run_dir / EVAL_DIR)
    return results


def _evaluate(config, records, score, sample, sides, use, tokenizer, bench, settings, max_samples, probe) -> dict:
    """The held-out and out-of-distribution passes of :func:`evaluate_run`, with the benches held."""
    kind = record_kind(records[0])
    loss = loss_settings(kind, config.loss_on if config else "answer", tokenizer)
    results = evaluate_sides(
        sides,
        use,
        tokenizer,
        records,
        score,
        config.beta if config else 0.1,
        settings,
        bench,
        loss,
        config.max_length if config else None,
        probe,
    )
    if sample and sample.ood_path and score and sample.ood_path.is_file():
        ood = list(load_data(sample.ood_path).dataset)[:max_samples]
        results["ood"] = {
            "data": str(sample.ood_path),
            "samples": len(ood),
            "sides": evaluate_task(sides, use, tokenizer, ood, score, settings, bench),
        }
    return results


def _judge(judge: str, results: dict, sides: list[str]) -> dict:
    """The judge's verdicts on base vs tuned, and how often they agree with the per-example score."""
    lm = load_model(judge)
    base, tuned = sides[0], sides[1]
    examples = results["examples"]
    prompts = [e["prompt"][-1]["content"] for e in examples]
    verdicts = judge_pairs(
        lm.model, lm.tokenizer, prompts, [e["answers"][base] for e in examples], [e["answers"][tuned] for e in examples]
    )
    changes = [e["scores"][tuned] - e["scores"][base] for e in examples]
    return {
        "model": judge,
        "verdicts": verdicts,
        "tuned_win_rate": sum(verdicts) / max(1, len(verdicts)),
        "agreement_with_score": agreement(verdicts, changes),
    }


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


def change_counts(results: dict) -> dict[str, dict[str, int]]:
    """For each tuned side: how many examples improved, regressed, stayed."""
    tuned = list(results["sides"])[1:]
    return {side: {c: sum(e["change"][side] == c for e in results["examples"]) for c in CHANGES} for side in tuned}


def _cell(text: str, limit: int = 160) -> str:
    # Markdown table cells: one line, pipes escaped, long answers cut (eval.json keeps them whole).
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def examples_markdown(results: dict, change: str | None = None) -> str:
    """The per-example table: prompt, reference, each side's answer and score, and the change (filterable)."""
    sides = list(results["sides"])
    head = ["#", "change", "prompt", "reference", *(f"{s} (score)" for s in sides)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, e in enumerate(results["examples"]):
        verdict = e["change"].get(sides[-1], "") if len(sides) > 1 else ""
        if change and verdict != change:
            continue
        cells = [
            str(i),
            verdict,
            _cell(e["prompt"][-1]["content"], 120),
            _cell(e["reference"], 80),
            *(f"{_cell(e['answers'][s])} ({e['scores'][s]:.2f})" for s in sides),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def confusion_markdown(results: dict) -> str:
    """One confusion table per classification field and side: expected value (rows) by answered value."""
    tables = []
    for field, by_side in results.get("confusion", {}).items():
        columns = [*results["task"]["categories"][field], "invalid"]
        for side, rows in by_side.items():
            lines = [
                f"### {field}: {side}\n",
                "| expected \\ answered | " + " | ".join(map(_cell, columns)) + " |",
                "|" + "---|" * (len(columns) + 1),
            ]
            for expected in (c for c in columns if c in rows):
                lines.append(
                    f"| {_cell(expected)} | " + " | ".join(str(rows[expected].get(c, 0)) for c in columns) + " |"
                )
            tables.append("\n".join(lines))
    return "\n\n".join(tables)


def forgetting_markdown(results: dict) -> str:
    """The forgetting probe: share passed per side and category, and the questions the tuned model lost."""
    probe = results.get("forgetting")
    if not probe:
        return ""
    sides = list(probe["sides"])
    categories = list(probe["sides"][sides[0]]["by_category"])
    lines = ["| questions | " + " | ".join(sides) + " |", "|" + "---|" * (len(sides) + 1)]
    lines.append("| all | " + " | ".join(f"{probe['sides'][s]['score']:.2f}" for s in sides) + " |")
    for c in categories:
        lines.append(f"| {c} | " + " | ".join(f"{probe['sides'][s]['by_category'][c]:.2f}" for s in sides) + " |")
    for side in sides[1:]:
        lost = probe["sides"][side]["lost"]
        lines.append(
            f"\n{side} lost {len(lost)} of the questions the base answered" + (": " + "; ".join(lost) if lost else ".")
        )
    return "\n".join(lines)


def write_report(results: dict, out_dir: str | Path) -> dict[str, Path]:
    """Save ``eval.json``, ``eval.md`` and ``before_after.png`` into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    table = markdown_table(results)
    results["table"] = table
    paths = {"json": out_dir / "eval.json", "markdown": out_dir / "eval.md", "chart": out_dir / "before_after.png"}
    atomic_write_text(paths["json"], json.dumps(results, indent=1, ensure_ascii=False, default=str))
    atomic_write_text(paths["markdown"], report_markdown(results))
    atomic_write_bytes(paths["chart"], _chart_png(results))
    return paths


def report_markdown(results: dict) -> str:
    """The whole report as markdown: metrics, out-of-distribution probe, forgetting probe, judge, per example."""
    parts = [
        f"# Evaluation of {results.get('run', '')}",
        f"Data: {results.get('data', '')} ({results['samples']} held-out examples)"
        + (
            f". Base loaded in {results['base_quantization']}, as the run trained on it."
            if results.get("base_quantization")
            else ""
        ),
        results["table"],
    ]
    if "confusion" in results:
        parts += [
            "## Classification fields\n\nRows: the value the reference gives; columns: what the side answered "
            "(invalid: not a valid answer, counted as wrong).",
            confusion_markdown(results),
        ]
    if "ood" in results:
        ood = results["ood"]
        parts += [
            f"## Out-of-distribution probe\n\n{ood['data']} ({ood['samples']} examples: the same task on other text)",
            markdown_table({"sides": ood["sides"]}),
        ]
    if "forgetting" in results:
        parts += [
            "## Forgetting probe\n\nGeneral questions the base model answers correctly, asked of each side.",
            forgetting_markdown(results),
        ]
    if "judge" in results:
        j = results["judge"]
        agree = "n/a" if j["agreement_with_score"] is None else f"{j['agreement_with_score']:.2f}"
        parts.append(
            f"## Judge\n\n{j['model']} judged each pair twice (answers swapped): tuned win rate "
            f"{j['tuned_win_rate']:.2f}, agreement with the per-example score {agree}."
        )
    counts = change_counts(results)
    summary = "; ".join(
        f"{side}: " + ", ".join(f"{n} {c}" for c, n in c_counts.items()) for side, c_counts in counts.items()
    )
    parts += [f"## Per example\n\nScore: {results.get('example_score', '')}. {summary}", examples_markdown(results)]
    return "\n\n".join(parts) + "\n"


def _chart_png(results: dict) -> bytes:
    # Matplotlib is loaded when a chart is drawn, not at the app's start. A Figure, not pyplot: no backend is chosen
    # for the whole process (a notebook keeps its own), and nothing is left open.
    from matplotlib.figure import Figure  # noqa: PLC0415

    sides = list(results["sides"])
    bars_by_metric = {
        m: [results["sides"][s].get(m, 0.0) for s in sides]
        for m in dict.fromkeys(m for side in sides for m in results["sides"][side])
    }
    if "forgetting" in results:  # what the tuned model still answers, beside what it learned
        bars_by_metric["general questions (forgetting probe)"] = [
            results["forgetting"]["sides"][s]["score"] for s in sides
        ]
    fig = Figure(figsize=(2.6 * len(bars_by_metric), 3.4))
    axes = fig.subplots(1, len(bars_by_metric), squeeze=False)
    for ax, (metric, values) in zip(axes[0], bars_by_metric.items()):
        bars = ax.bar(range(len(sides)), values, color=["#9e9e9e", *["#1f77b4"] * (len(sides) - 1)])
        ax.bar_label(bars, fmt="%.3g", fontsize=8)
        if metric not in LOWER_IS_BETTER | {"reward_margin"}:
            # A rate keeps its whole scale, so a bar at 0 reads as 0 and not as an empty chart.
            ax.set_ylim(0, 1.1 * SCALES.get(metric, 1.0))
        else:
            ax.margins(y=0.15)  # room for the value labels
        ax.set_xticks(range(len(sides)), sides, rotation=30, ha="right", fontsize=8)
        title = metric + (" (lower is better)" if metric in LOWER_IS_BETTER else "")
        ax.set_title(title if len(title) < 28 else title.replace(" (", "\n("), fontsize=9)
    fig.suptitle("Before (base) and after (tuned)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
