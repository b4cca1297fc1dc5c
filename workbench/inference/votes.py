"""A/B votes between two answers, kept as a log of every vote and a preference file DPO trains on as it is.

Two JSONL files in one folder (the app's arena uses one folder per server, ``runs/arena/``):

- ``votes.jsonl``: every vote, ties and "both bad" included: ``time``, ``session``, ``sides``
  ({"a": model, "b": model}), ``choice`` ("a", "b", "tie", "both_bad"), ``conversations`` ({"a": messages,
  "b": messages}, each side's conversation up to and including the answer voted on), ``settings`` and
  whatever else the caller adds (the arena adds ``mode``, ``turn``, ``base``). The leaderboard reads it.
- ``preferences.jsonl``: only votes that prefer one answer, in TRL's conversational preference format:
  ``prompt`` (messages, several turns in a chat), ``chosen`` and ``rejected`` (one assistant message each),
  plus ``chosen_model``, ``rejected_model``, ``settings`` and ``time``, which DPOTrainer ignores. A tie or
  "both bad" says nothing about which answer is better, so it is no pair; keeping it out lets
  ``load_dataset("json", ...)`` hand the file straight to DPOTrainer.

In a multi-turn arena each side sees its own earlier answers, so the two sides answered slightly different
conversations. The pair's prompt is the chosen side's conversation: the context the voter endorsed, in which
the chosen answer was written; the rejected answer replies to the same last user message.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock

from workbench.errors import WorkbenchError
from workbench.inference.generation import GenerationSettings, Message, as_messages
from workbench.workspace.runs import append_jsonl  # one line, written whole and fsynced, cut back on a failed write

Choice = Literal["a", "b", "tie", "both_bad"]
CHOICES: tuple[Choice, ...] = ("a", "b", "tie", "both_bad")
VOTES_FILE = "votes.jsonl"
PAIRS_FILE = "preferences.jsonl"


def _append(path: Path, row: dict) -> None:
    # Several app sessions vote at once: the lock keeps their lines whole and in order.
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        append_jsonl(path, row)


def preference_pair(
    prompt_a: list[Message],
    answer_a: str,
    prompt_b: list[Message],
    answer_b: str,
    choice: Choice,
    model_a: str,
    model_b: str,
    settings: dict[str, Any] | None = None,
    now: str | None = None,
) -> dict | None:
    """The DPO row a vote makes (None for a tie or "both bad"): the chosen side's conversation is the prompt."""
    if choice not in ("a", "b"):
        return None
    ranked = [(prompt_a, answer_a, model_a), (prompt_b, answer_b, model_b)]
    if choice == "b":
        ranked.reverse()
    (prompt, chosen, chosen_model), (_, rejected, rejected_model) = ranked
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "chosen_model": chosen_model,
        "rejected_model": rejected_model,
        "settings": settings or GenerationSettings().as_dict(),
        "time": now or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


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
    *,
    prompt_b: list[Message] | None = None,
    session: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict | None:
    """Append a vote to ``folder/votes.jsonl``; for "a" or "b" also append the pair to ``preferences.jsonl``.

    ``prompt`` is what A answered (a string or the chat history); ``prompt_b`` what B answered when it
    differs (a multi-turn chat where each side saw its own answers). ``details`` go into the log record.
    Returns the pair written, or None for a tie or "both bad".

    Example:
        >>> record_vote("votes", "Name a color.", "Blue.", "Colors are...", "a", "sft-run", "base")
    """
    if choice not in CHOICES:
        raise WorkbenchError(f"unknown vote {choice!r}: use one of {', '.join(CHOICES)}")
    messages_a = as_messages(prompt, system)
    messages_b = as_messages(prompt_b, system) if prompt_b is not None else messages_a
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    settings_dict = (settings or GenerationSettings()).as_dict()
    folder = Path(folder)
    record = {
        "time": now,
        "session": session,
        "sides": {"a": model_a, "b": model_b},
        "choice": choice,
        "conversations": {
            "a": [*messages_a, {"role": "assistant", "content": answer_a}],
            "b": [*messages_b, {"role": "assistant", "content": answer_b}],
        },
        "settings": settings_dict,
    }
    _append(folder / VOTES_FILE, record | (details or {}))
    pair = preference_pair(messages_a, answer_a, messages_b, answer_b, choice, model_a, model_b, settings_dict, now)
    if pair is not None:
        _append(folder / PAIRS_FILE, pair)
    return pair


def read_jsonl(path: str | Path) -> list[dict]:
    """Every JSON object of a JSONL file, oldest first; a torn line (a crash mid-write) or a non-object is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def read_votes(folder: str | Path) -> list[dict]:
    """Every vote recorded in ``folder``, oldest first."""
    return read_jsonl(Path(folder) / VOTES_FILE)


def read_pairs(folder: str | Path) -> list[dict]:
    """The preference pairs recorded in ``folder``, oldest first."""
    return read_jsonl(Path(folder) / PAIRS_FILE)


def pairs_dataset(folder: str | Path):
    """The preference pairs as a ``datasets.Dataset`` ready for DPOTrainer."""
    from datasets import load_dataset  # noqa: PLC0415  (datasets is heavy: loaded when pairs are exported)

    path = Path(folder) / PAIRS_FILE
    if not read_pairs(folder):
        raise WorkbenchError(f"no preference pairs in {path} yet: vote 'A better' or 'B better' first")
    return load_dataset("json", data_files=str(path), split="train")
