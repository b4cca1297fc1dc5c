"""The sample datasets shipped in ``data_samples/``, with the task metric that shows what training changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from workbench.data.formats import prompt_and_reference
from workbench.data.loading import load_data

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "data_samples"

# A field is a classification field when its values are at most this many categories, each seen at least twice
# on average: a label set (sentiment, stars, intent), not free text that happens to repeat.
MAX_CATEGORIES = 10


def _canonical(value) -> str:
    """A JSON value as comparable text: 4, 4.0 and true differ, as they do to a program reading the answer."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _field(value: dict, name: str) -> str | None:
    """A field's value as canonical JSON; None where the object leaves the field out."""
    return _canonical(value[name]) if name in value else None


def _json_type(value) -> str:
    """The JSON type of a parsed value: null, boolean, number, string, array or object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, (int, float)) else {str: "string", list: "array"}.get(type(value), "object")


def _object(text: str) -> dict | None:
    """The text as a JSON object if it is exactly one (strict: nothing around it)."""
    try:
        value = json.loads(text.strip())
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _reference(record: dict) -> str:
    """The answer an eval record gives: a normalized row, or a raw record with an ``output`` (Alpaca, GRPO)."""
    return record["output"] if "output" in record else prompt_and_reference(record)[1]


@dataclass(frozen=True)
class JsonTask:
    """The task metric of data whose answers are JSON objects, read from the data itself.

    An answer is valid when it is exactly a JSON object with the reference's fields, each classification field
    holding one of its categories and every other field a value of the reference's JSON type. The scores of one
    answer (an :data:`ExampleScore`): ``valid_format``, and ``<field>_accuracy`` for each field, an exact match
    of the value (an invalid answer counts as wrong everywhere). Build one with :func:`json_task`.

    Example:
        >>> task = json_task([{"output": '{"sentiment": "positive", "stars": 5}'}] * 2)
        >>> task('{"sentiment": "positive", "stars": 4}', {"output": '{"sentiment": "positive", "stars": 5}'})
        {'valid_format': 1.0, 'sentiment_accuracy': 1.0, 'stars_accuracy': 0.0}
    """

    fields: tuple[str, ...]  # in the order the data first gives them
    categories: dict[str, tuple[str, ...]]  # classification fields: their values in the data, as canonical JSON
    types: dict[str, str]  # every other field: the JSON type its values have in the data

    def parse(self, text: str, reference: dict | None = None) -> dict | None:
        """The answer as a dict if it is valid for ``reference`` (default: any record with all the fields)."""
        value = _object(text)
        expected = set(reference) if reference is not None else set(self.fields)
        if value is None or set(value) != expected:
            return None
        for name, item in value.items():
            if name in self.categories:
                if _canonical(item) not in self.categories[name]:
                    return None
            elif self.types.get(name) not in (None, _json_type(item)):
                return None
        return value

    def __call__(self, prediction: str, record: dict) -> dict[str, float]:
        expected = _object(_reference(record))
        got = self.parse(prediction, expected) if expected is not None else None
        scores = {"valid_format": float(got is not None)}
        for name in self.fields:
            scores[f"{name}_accuracy"] = float(got is not None and _field(got, name) == _field(expected, name))
        return scores

    def confusion(self, predictions: list[str], records: list[dict]) -> dict[str, dict[str, dict[str, int]]]:
        """For each classification field, ``{expected: {answered: count}}`` with values as canonical JSON; an
        answer that is not valid is counted as "invalid" (wrong, as in the accuracy)."""
        table: dict[str, dict[str, dict[str, int]]] = {name: {} for name in self.categories}
        for prediction, record in zip(predictions, records):
            expected = _object(_reference(record))
            if expected is None:
                continue
            got = self.parse(prediction, expected)
            for name, rows in table.items():
                if name in expected:
                    row = rows.setdefault(_canonical(expected[name]), {})
                    answer = "invalid" if got is None else _canonical(got[name])
                    row[answer] = row.get(answer, 0) + 1
        return table


def json_task(records: list[dict]) -> JsonTask | None:
    """The JSON task metric of eval records whose answers all parse as JSON objects; None where one does not.

    Example:
        >>> json_task(load_data("mine.jsonl").dataset).fields
        ('intent', 'urgent', 'reply')
    """
    try:
        answers = [_object(_reference(r)) for r in records]
    except (ValueError, KeyError):  # plain text, or a record with no answer to compare with
        return None
    if not answers or any(a is None for a in answers):
        return None
    fields = tuple(dict.fromkeys(name for a in answers for name in a))
    categories, types = {}, {}
    for name in fields:
        values = [a[name] for a in answers if name in a]
        distinct = tuple(dict.fromkeys(_canonical(v) for v in values))
        scalar = all(isinstance(v, (str, int)) for v in values)  # labels, never floats, lists or objects
        if scalar and 2 <= len(distinct) <= min(MAX_CATEGORIES, len(values) // 2):
            categories[name] = tuple(sorted(distinct))
        else:
            kinds = {_json_type(v) for v in values}
            types[name] = kinds.pop() if len(kinds) == 1 else None
    return JsonTask(fields, categories, {k: v for k, v in types.items() if v is not None})


# One answer's task scores (each in [0, 1]) against its eval record.
ExampleScore = Callable[[str, dict], dict[str, float]]


def example_score(scores: dict[str, float]) -> float:
    """One answer's task scores as one number, their mean: the per-example score and GRPO's reward."""
    return sum(scores.values()) / len(scores)


def mean_scores(per_example: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each score over the examples (what a task metric reports for a whole set)."""
    keys = list(dict.fromkeys(k for scores in per_example for k in scores))
    return {k: sum(scores.get(k, 0.0) for scores in per_example) / max(1, len(per_example)) for k in keys}


def parse_rating(text: str) -> dict | None:
    """The answer as ``{"sentiment", "stars"}`` if it is exactly such a JSON object (strict: nothing around it)."""
    return SAMPLES["sentiment_json"].score.parse(text)


def sentiment_json_metric(predictions: list[str], records: list[dict]) -> dict[str, float]:
    """The ``sentiment_json`` sample's task metric averaged over a set, in prediction order.

    Example:
        >>> expected = [{"output": '{"sentiment": "positive", "stars": 4}'}]
        >>> sentiment_json_metric(['{"sentiment": "positive", "stars": 4}'], expected)
        {'valid_format': 1.0, 'sentiment_accuracy': 1.0, 'stars_accuracy': 1.0}
    """
    if len(predictions) != len(records):
        raise ValueError(f"{len(predictions)} predictions for {len(records)} records")
    score = SAMPLES["sentiment_json"].score
    return mean_scores([score(p, r) for p, r in zip(predictions, records)])


@dataclass(frozen=True)
class Sample:
    """One sample dataset: its files, what the trainer sees, its data card, and its task metric if it has one."""

    name: str
    kind: str
    description: str
    train_path: Path
    eval_path: Path
    card_path: Path
    ood_path: Path | None = None  # an out-of-distribution probe: the same task on other text, reported apart

    @property
    def paths(self) -> dict[str, Path]:
        return {"train": self.train_path, "eval": self.eval_path}

    @cached_property
    def score(self) -> JsonTask | None:
        """The task metric evaluation gives its eval file (:func:`json_task`); None where its answers are not JSON."""
        return json_task(list(load_data(self.eval_path).dataset))


def _sample(name: str, kind: str, description: str, ood: bool = False) -> Sample:
    return Sample(
        name,
        kind,
        description,
        SAMPLES_DIR / f"{name}.train.jsonl",
        SAMPLES_DIR / f"{name}.eval.jsonl",
        SAMPLES_DIR / f"{name}.md",
        SAMPLES_DIR / f"{name}.ood.jsonl" if ood else None,
    )


SAMPLES: dict[str, Sample] = {
    s.name: s
    for s in [
        _sample(
            "sentiment_json",
            "conversational",
            'SFT: answer a product review with only a JSON rating, e.g. {"sentiment": "positive", "stars": 4}',
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
        ),
    ]
}
BROKEN_DIR = SAMPLES_DIR / "broken"
