"""A/B votes between two answers, kept as a log of every vote and a preference file DPO trains on as it is.

Two JSONL files in one folder:

- ``votes.jsonl``: every vote, ties and "both bad" included: ``time``, ``prompt`` (messages), ``answers``
  ({"a": {"model", "text"}, "b": {...}}), ``choice`` ("a", "b", "tie", "both_bad"), ``settings``.
- ``preferences.jsonl``: only votes that prefer one answer, in TRL's conversational preference format:
  ``prompt`` (messages), ``chosen`` and ``rejected`` (one assistant message each), plus ``chosen_model``,
  ``rejected_model``, ``settings`` and ``time``, which DPOTrainer ignores. A tie or "both bad" says nothing
  about which answer is better, so it is no pair; keeping it out lets ``load_dataset("json", ...)`` hand the
  file straight to DPOTrainer.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

from filelock import FileLock

from workbench.errors import WorkbenchError
from workbench.generation import GenerationSettings, Message, as_messages

Choice = Literal["a", "b", "tie", "both_bad"]
CHOICES: tuple[Choice, ...] = ("a", "b", "tie", "both_bad")
VOTES_FILE = "votes.jsonl"
PAIRS_FILE = "preferences.jsonl"


def _append(path: Path, row: dict) -> None:
    # Several app sessions may vote at once: the lock keeps their lines whole and in order.
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"), path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")


def record_vote(
    folder: str | Path,
    prompt: str | list[Message],
    answer_a: str,
    answer_b: str,
    choice: Choice,
    model_a: str,
    model_b: str,
    settings: GenerationSettings | None = None,
    system: str | None = None,
) -> dict | None:
    """Append a vote to ``folder/votes.jsonl``; for "a" or "b" also append the pair to ``preferences.jsonl``.

    ``prompt`` is what both answers replied to (a string or the chat history). Returns the pair written,
    or None for a tie or "both bad".

    Example:
        >>> record_vote("votes", "Name a color.", "Blue.", "Colors are...", "a", "sft-run", "base")
    """
    if choice not in CHOICES:
        raise WorkbenchError(f"unknown vote {choice!r}: use one of {', '.join(CHOICES)}")
    messages = as_messages(prompt, system)
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    settings_dict = (settings or GenerationSettings()).as_dict()
    folder = Path(folder)
    _append(
        folder / VOTES_FILE,
        {
            "time": now,
            "prompt": messages,
            "answers": {"a": {"model": model_a, "text": answer_a}, "b": {"model": model_b, "text": answer_b}},
            "choice": choice,
            "settings": settings_dict,
        },
    )
    if choice not in ("a", "b"):
        return None
    ranked = [(answer_a, model_a), (answer_b, model_b)]
    if choice == "b":
        ranked.reverse()
    (chosen, chosen_model), (rejected, rejected_model) = ranked
    pair = {
        "prompt": messages,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "chosen_model": chosen_model,
        "rejected_model": rejected_model,
        "settings": settings_dict,
        "time": now,
    }
    _append(folder / PAIRS_FILE, pair)
    return pair


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_votes(folder: str | Path) -> list[dict]:
    """Every vote recorded in ``folder``, oldest first."""
    return _read(Path(folder) / VOTES_FILE)


def read_pairs(folder: str | Path) -> list[dict]:
    """The preference pairs recorded in ``folder``, oldest first."""
    return _read(Path(folder) / PAIRS_FILE)


def pairs_dataset(folder: str | Path):
    """The preference pairs as a ``datasets.Dataset`` ready for DPOTrainer."""
    from datasets import load_dataset

    path = Path(folder) / PAIRS_FILE
    if not read_pairs(folder):
        raise WorkbenchError(f"no preference pairs in {path} yet: vote 'A better' or 'B better' first")
    return load_dataset("json", data_files=str(path), split="train")
