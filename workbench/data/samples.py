"""The sample datasets shipped in ``data_samples/``, with the task metric that shows what training changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workbench.data.formats import prompt_and_reference

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "data_samples"

SENTIMENTS = ("positive", "neutral", "negative")


def parse_rating(text: str) -> dict | None:
    """The answer as ``{"sentiment", "stars"}`` if it is exactly such a JSON object (strict: nothing around it)."""
    try:
        value = json.loads(text.strip())
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or set(value) != {"sentiment", "stars"}:
        return None
    stars = value["stars"]
    if (
        value["sentiment"] not in SENTIMENTS
        or not isinstance(stars, int)
        or isinstance(stars, bool)
        or not 1 <= stars <= 5
    ):
        return None
    return value


def sentiment_json_scores(prediction: str, record: dict) -> dict[str, float]:
    """One answer's scores: strict JSON format, and label accuracy (an invalid answer counts as wrong).

    ``record`` is the eval record (a normalized row, or a raw Alpaca/preference record).

    Example:
        >>> expected = {"output": '{"sentiment": "positive", "stars": 5}'}
        >>> sentiment_json_scores('{"sentiment": "positive", "stars": 4}', expected)
        {'valid_format': 1.0, 'sentiment_accuracy': 1.0, 'stars_accuracy': 0.0}
    """
    expected = parse_rating(record["output"] if "output" in record else prompt_and_reference(record)[1])
    got = parse_rating(prediction)
    if got is None or expected is None:
        return {"valid_format": 0.0, "sentiment_accuracy": 0.0, "stars_accuracy": 0.0}
    return {
        "valid_format": 1.0,
        "sentiment_accuracy": float(got["sentiment"] == expected["sentiment"]),
        "stars_accuracy": float(got["stars"] == expected["stars"]),
    }


# One answer's task scores (each in [0, 1]) against its eval record.
ExampleScore = Callable[[str, dict], dict[str, float]]


def example_score(scores: dict[str, float]) -> float:
    """One answer's task scores as one number, their mean: the per-example score and GRPO's reward."""
    return sum(scores.values()) / len(scores)


def mean_scores(per_example: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each score over the examples (what a task metric reports for a whole set)."""
    keys = list(dict.fromkeys(k for scores in per_example for k in scores))
    return {k: sum(scores.get(k, 0.0) for scores in per_example) / max(1, len(per_example)) for k in keys}


def sentiment_json_metric(predictions: list[str], records: list[dict]) -> dict[str, float]:
    """:func:`sentiment_json_scores` averaged over a set, in prediction order.

    Example:
        >>> expected = [{"output": '{"sentiment": "positive", "stars": 4}'}]
        >>> sentiment_json_metric(['{"sentiment": "positive", "stars": 4}'], expected)
        {'valid_format': 1.0, 'sentiment_accuracy': 1.0, 'stars_accuracy': 1.0}
    """
    if len(predictions) != len(records):
        raise ValueError(f"{len(predictions)} predictions for {len(records)} records")
    return mean_scores([sentiment_json_scores(p, r) for p, r in zip(predictions, records)])


@dataclass(frozen=True)
class Sample:
    """One sample dataset: its files, what the trainer sees, its data card, and its metric if it has one."""

    name: str
    kind: str
    description: str
    train_path: Path
    eval_path: Path
    card_path: Path
    score: ExampleScore | None = None  # None where the sample has no task metric
    ood_path: Path | None = None  # an out-of-distribution probe: the same task on other text, reported apart

    @property
    def paths(self) -> dict[str, Path]:
        return {"train": self.train_path, "eval": self.eval_path}


def _sample(name: str, kind: str, description: str, score=None, ood: bool = False) -> Sample:
    return Sample(
        name,
        kind,
        description,
        SAMPLES_DIR / f"{name}.train.jsonl",
        SAMPLES_DIR / f"{name}.eval.jsonl",
        SAMPLES_DIR / f"{name}.md",
        score,
        SAMPLES_DIR / f"{name}.ood.jsonl" if ood else None,
    )


SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in [
        _sample(
            "sentiment_json",
            "conversational",
            'SFT: answer a product review with only a JSON rating, e.g. {"sentiment": "positive", "stars": 4}',
            sentiment_json_scores,
            ood=True,
        ),
        _sample(
            "unit_chat",
            "conversational",
            "Multi-turn chats (ShareGPT format, system prompt) with a terse unit-converter persona",
        ),
        _sample(
            "sentiment_preference",
            "preference",
            "DPO: the strict JSON rating is chosen over chatty, fenced or wrongly labelled answers",
            sentiment_json_scores,
        ),
    ]
}
BROKEN_DIR = SAMPLES_DIR / "broken"
