"""The forgetting probe: general questions with checkable answers, asked of the base and of the tuned model.

A fine-tune teaches one task; it can also break what the base could do (catastrophic forgetting: a model
trained too long or at too high a learning rate starts answering everything in the new task's format). The
probe asks questions the base model answers correctly (checked when the probe was written: facts, simple
arithmetic, following a format, helpful answers) and counts which the tuned model still gets right. Checks
are deterministic string rules rather than a judge model, so the numbers mean the same on every machine.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

PROBE_PATH = Path(__file__).parent / "probes" / "general.jsonl"
# An answer that refuses, where the base answered, is a regression whatever else it says.
REFUSALS = ("i can't", "i cannot", "i'm sorry", "i am sorry", "as an ai", "i'm not able", "i am unable", "i won't")


@dataclass(frozen=True)
class ProbeItem:
    """One question: ``check`` holds ``any`` (one of these substrings, case-insensitive), ``regex`` and
    ``max_words``."""

    category: str
    prompt: str
    check: dict


def load_probe(path: str | Path = PROBE_PATH) -> list[ProbeItem]:
    """The probe's questions (JSON Lines of category, prompt, check)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [ProbeItem(**json.loads(line)) for line in lines if line.strip()]


def passes(answer: str, check: dict) -> bool:
    """Whether ``answer`` satisfies every rule of ``check`` and refuses nothing.

    Example:
        >>> passes("The capital of France is Paris.", {"any": ["paris"]})
        True
    """
    text = answer.strip().lower()
    if not text or any(phrase in text for phrase in REFUSALS):
        return False
    if "any" in check and not any(s in text for s in check["any"]):
        return False
    if "regex" in check and not re.search(check["regex"], text):
        return False
    return not ("max_words" in check and len(text.split()) > check["max_words"])


def score_probe(items: list[ProbeItem], answers: dict[str, list[str]]) -> dict:
    """Per side: the share of questions passed, per category, and which the base passed but the side lost.

    ``answers`` maps each side to its answers in item order; the first side is the base.
    """
    sides = list(answers)
    passed = {side: [passes(a, item.check) for a, item in zip(answers[side], items)] for side in sides}
    base = sides[0]
    summary = {}
    for side in sides:
        by_category: dict[str, list[bool]] = {}
        for item, ok in zip(items, passed[side]):
            by_category.setdefault(item.category, []).append(ok)
        summary[side] = {
            "score": sum(passed[side]) / max(1, len(items)),
            "by_category": {c: sum(v) / len(v) for c, v in by_category.items()},
            "lost": [item.prompt for item, b, s in zip(items, passed[base], passed[side]) if b and not s],
        }
    return {
        "sides": summary,
        "items": [
            {
                "category": item.category,
                "prompt": item.prompt,
                "answers": {side: answers[side][i] for side in sides},
                "passed": {side: passed[side][i] for side in sides},
            }
            for i, item in enumerate(items)
        ],
    }
