"""A/B votes between two answers, kept as a log of every vote and a preference file DPO trains on as it is; and
thumbs up or down on single answers, kept as a file KTO trains on as it is (:func:`record_feedback`).

Two JSONL files in one folder (each person's own, ``workspace.learners.votes_dir``: ``runs/.votes/`` on one
person's server):

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
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock

from workbench.atomic import atomic_write_text
from workbench.errors import WorkbenchError
from workbench.inference.generation import GenerationSettings, Message, as_messages
from workbench.inference.leaderboard import Leaderboard, Outcome, leaderboard_from_counts, outcome
from workbench.workspace.runs import append_jsonl

Choice = Literal["a", "b", "tie", "both_bad"]
CHOICES: tuple[Choice, ...] = ("a", "b", "tie", "both_bad")
VOTES_FILE = "votes.jsonl"
PAIRS_FILE = "preferences.jsonl"
# Votes one voter may cast into one log: far more than a person votes in a session, and it bounds what one
# visitor adds to a log every other visitor's leaderboard reads.
MAX_VOTES_PER_VOTER = 200


def _lock(path: Path) -> FileLock:
    """Several app sessions (or processes) vote at once: the lock keeps their lines whole and in order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path) + ".lock")


class VoteLog:
    """A votes log read as it grows: each :meth:`tally` reads only the lines appended since the last one, so a
    vote costs the same after 5 votes or 5,000, and the leaderboard is refitted only when votes were added.

    Get one with :func:`vote_log` (one per file in a process). A line still being written is read next time; a log
    replaced or cut (a room reset) is read again from its start.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._start(None)

    def _start(self, identity: tuple[int, int] | None) -> None:
        self._identity, self._offset, self._board = identity, 0, None
        # (side A, side B, choice) -> votes. Only blind votes rank the sides: a named vote knows which side is whose.
        self.outcomes: Counter[Outcome] = Counter()
        self.named: Counter[Outcome] = Counter()  # shown apart, never ranked
        self.voters: Counter[str] = Counter()  # voter -> votes cast

    def tally(self) -> VoteLog:
        """Read what was appended since the last call; returns the log, its counts up to date."""
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._start(None)
                return self
            if (stat.st_dev, stat.st_ino) != self._identity or stat.st_size < self._offset:
                self._start((stat.st_dev, stat.st_ino))
            if stat.st_size > self._offset:
                with self.path.open("rb") as f:
                    f.seek(self._offset)
                    for line in f:
                        if not line.endswith(b"\n"):
                            break
                        self._offset += len(line)
                        self._count(line)
            return self

    def _count(self, line: bytes) -> None:
        try:
            row = json.loads(line)
        except ValueError:
            return
        if not isinstance(row, dict):
            return
        if isinstance(row.get("voter"), str):
            self.voters[row["voter"]] += 1
        if (kind := outcome(row)) is not None:
            (self.outcomes if row.get("mode") == "blind" else self.named)[kind] += 1

    def leaderboard(self, rounds: int = 200, seed: int = 0) -> Leaderboard:
        """The log's leaderboard of blind votes, fitted again only when votes were added (ValueError while it has
        none)."""
        self.tally()
        with self._lock:
            key = (self._identity, self._offset, rounds, seed)
            if self._board is None or self._board[0] != key:
                self._board = (key, leaderboard_from_counts(self.outcomes, rounds, seed))
            return self._board[1]


_logs_lock = threading.Lock()
_logs: dict[Path, VoteLog] = {}


def vote_log(folder: str | Path) -> VoteLog:
    """The :class:`VoteLog` of ``folder/votes.jsonl``, up to date (one per file in this process).

    Example:
        >>> vote_log("runs/.votes").leaderboard().table()
    """
    path = (Path(folder) / VOTES_FILE).resolve()
    with _logs_lock:
        if path not in _logs:
            _logs[path] = VoteLog(path)
        log = _logs[path]
    return log.tally()


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
    voter: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict | None:
    """Append a vote to ``folder/votes.jsonl``; for "a" or "b" also append the pair to ``preferences.jsonl``.

    ``prompt`` is what A answered (a string or the chat history); ``prompt_b`` what B answered when it
    differs (a multi-turn chat where each side saw its own answers). ``details`` go into the log record.
    ``voter`` (a visitor's session or a learner) may cast at most ``MAX_VOTES_PER_VOTER`` votes into one
    folder; one more is refused with a sentence. Appending reads nothing back: a vote costs the same however
    long the log. Returns the pair written, or None for a tie or "both bad".

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
    if voter is not None:
        record["voter"] = voter
    with _lock(folder / VOTES_FILE):  # the count and the append together: two tabs cannot both pass the cap
        if voter is not None and vote_log(folder).voters[voter] >= MAX_VOTES_PER_VOTER:
            raise WorkbenchError(
                f"you have cast {MAX_VOTES_PER_VOTER} votes here, the most one visitor may: the leaderboard is "
                "shared, so each visitor's say in it is bounded"
            )
        append_jsonl(folder / VOTES_FILE, record | (details or {}))  # one line, whole and fsynced
    pair = preference_pair(messages_a, answer_a, messages_b, answer_b, choice, model_a, model_b, settings_dict, now)
    if pair is not None:
        with _lock(folder / PAIRS_FILE):
            append_jsonl(folder / PAIRS_FILE, pair)
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


def feedback_row(prompt: list[Message], answer: str, label: bool, model: str) -> dict:
    """The KTO row a thumb makes, in TRL's conversational unpaired preference form: ``prompt`` (the conversation
    before the answer), ``completion`` (the answer as one assistant message) and ``label`` (True: thumbs up), plus
    ``model`` and ``time``, which KTOTrainer ignores."""
    return {
        "prompt": prompt,
        "completion": [{"role": "assistant", "content": answer}],
        "label": label,
        "model": model,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def record_feedback(
    path: str | Path,
    prompt: list[Message],
    answer: str,
    label: bool | None,
    model: str,
    limit: int | None = None,
) -> int:
    """Set the thumb on one answer in the KTO file ``path``; returns how many rows the file holds.

    One row per answer: a second thumb on the same answer (the same conversation before it) replaces the first,
    and ``label=None`` (the thumb taken back) removes it, so a changed mind never leaves two opposite rows. A new
    row beyond ``limit`` rows is refused.

    Example:
        >>> record_feedback("runs/.feedback/kto.jsonl", [{"role": "user", "content": "Hi"}], "Hello!", True, "base")
        1
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        completion = [{"role": "assistant", "content": answer}]
        rows = [r for r in read_jsonl(path) if (r.get("prompt"), r.get("completion")) != (prompt, completion)]
        if label is not None:
            if limit is not None and len(rows) >= limit:
                raise WorkbenchError(
                    f"your thumbs file holds {len(rows)} rows, the most a run on this server trains on: download it, "
                    "train on it, or take a thumb back"
                )
            rows.append(feedback_row(prompt, answer, label, model))
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)


def pairs_dataset(folder: str | Path):
    """The preference pairs as a ``datasets.Dataset`` ready for DPOTrainer."""
    from datasets import load_dataset  # noqa: PLC0415  (slow to import; only a DPO run reads the pairs)

    path = Path(folder) / PAIRS_FILE
    if not read_pairs(folder):
        raise WorkbenchError(f"no preference pairs in {path} yet: vote 'A better' or 'B better' first")
    return load_dataset("json", data_files=str(path), split="train")
