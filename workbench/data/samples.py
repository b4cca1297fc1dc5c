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
    if value["sentiment"] not in SENTIMENTS or not isinstance(stars, int) or isinstance(stars, bool) or not 1 <= stars <= 5:
        return None
    return value


def sentiment_json_metric(predictions: list[str], records: list[dict]) -> dict[str, float]:
    """Share of answers in the strict JSON format, and label accuracy (an invalid answer counts as wrong).

    ``records`` are the eval records (normalized rows, or raw Alpaca/preference records), in prediction order.

    Example:
        >>> sentiment_json_metric(['{"sentiment": "positive", "stars": 4}'], [{"output": '{"sentiment": "positive", "stars": 4}'}])
        {'valid_format': 1.0, 'sentiment_accuracy': 1.0, 'stars_accuracy': 1.0}
    """
    if len(predictions) != len(records):
        raise ValueError(f"{len(predictions)} predictions for {len(records)} records")
    valid = sentiment = stars = 0
    for prediction, record in zip(predictions, records):
        expected = parse_rating(record["output"] if "output" in record else prompt_and_reference(record)[1])
        got = parse_rating(prediction)
        if got is None or expected is None:
            continue
        valid += 1
        sentiment += got["sentiment"] == expected["sentiment"]
        stars += got["stars"] == expected["stars"]
    n = max(1, len(predictions))
    return {"valid_format": valid / n, "sentiment_accuracy": sentiment / n, "stars_accuracy": stars / n}


@dataclass(frozen=True)
class Sample:
    """One sample dataset: its files, what the trainer sees, its data card, and its metric if it has one."""

    name: str
    kind: str
    description: str
    train_path: Path
    eval_path: Path
    card_path: Path
    metric: Callable[[list[str], list[dict]], dict[str, float]] | None = None

    @property
    def paths(self) -> dict[str, Path]:
        return {"train": self.train_path, "eval": self.eval_path}


def _sample(name: str, kind: str, description: str, metric=None) -> Sample:
    return Sample(name, kind, description, SAMPLES_DIR / f"{name}.train.jsonl", SAMPLES_DIR / f"{name}.eval.jsonl",
                  SAMPLES_DIR / f"{name}.md", metric)


SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in [
        _sample("sentiment_json", "conversational",
                "SFT: answer a product review with only a JSON rating, e.g. {\"sentiment\": \"positive\", \"stars\": 4}",
                sentiment_json_metric),
        _sample("unit_chat", "conversational",
                "Multi-turn chats (ShareGPT format, system prompt) with a terse unit-converter persona"),
        _sample("sentiment_preference", "preference",
                "DPO: the strict JSON rating is chosen over chatty, fenced or wrongly labelled answers",
                sentiment_json_metric),
    ]
}
BROKEN_DIR = SAMPLES_DIR / "broken"
