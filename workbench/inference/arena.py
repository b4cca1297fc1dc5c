"""The adapter arena: multi-turn chats where the base, adapters (at any LoRA scale) and full fine-tunes answer together.

The same calls serve the app's Arena and Chat tabs and a notebook::

    >>> arena = Arena("default", runs_root="runs")
    >>> chat = ArenaChat([Side("base"), Side("sft-lora"), Side("sft-lora", scale=0.5)], system="Be brief.")
    >>> for texts in chat.ask(arena, "Rate this review: great kettle."):
    ...     pass                                   # texts: every side's answer so far
    >>> chat.vote("b", folder="runs/arena")        # with two sides: a, b, tie or both_bad

Each side keeps its own history (it reads its own earlier answers); every side samples with the same seed.
The base and every plain LoRA adapter, at any scale, answer in one batch (:class:`ModelBench` and
:mod:`workbench.inference.adapter_batch`); a full fine-tuning run is another set of weights, so it answers after the
batch, as does an adapter that is not plain LoRA (DoRA...).

A side names a run; the arena finds its folder under ``runs_root``, or, where the caller passes ``run_dirs``
(a name -> folder map), only there: a workshop server hands each learner's own and shared runs that way, so
two learners' runs of the same name are two different sides and nobody names a folder outside their list.
"""

from __future__ import annotations

import random
import re
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.inference.bench import BASE, ModelBench
from workbench.inference.generation import GenerationSettings, Message, stream_batch
from workbench.inference.votes import Choice, record_vote
from workbench.models import DEFAULT_MODEL, LoadedModel, load_model
from workbench.workspace.runs import ADAPTER_DIR, MODEL_DIR, adapter_base_name, is_full_run, list_runs, read_run_config

MAX_SIDES = 4
MAX_SCALE = 2.0
MAX_TURNS = 16  # with MAX_MESSAGE_CHARS, bounds what one conversation makes the model read
MAX_MESSAGE_CHARS = 4000
MAX_SYSTEM_CHARS = 2000
ARENA_DIR = "arena"
LETTERS = "ABCD"


def votes_dir(runs_root: str | Path) -> Path:
    """The server-wide votes folder under a runs folder (``runs/arena/``)."""
    return Path(runs_root) / ARENA_DIR


@dataclass(frozen=True)
class Side:
    """Who answers: ``"base"`` or a run's name, and for an adapter the LoRA scale (a multiplier of alpha / r)."""

    run: str = BASE
    scale: float = 1.0

    def __post_init__(self):
        if not 0 <= self.scale <= MAX_SCALE:
            raise WorkbenchError(f"LoRA scale {self.scale:g} is outside 0 to {MAX_SCALE:g}")

    @property
    def label(self) -> str:
        """``run``, or ``run@0.5`` at another scale: the name votes and the leaderboard use."""
        return self.run if self.run == BASE or self.scale == 1 else f"{self.run}@{self.scale:g}"

    @classmethod
    def parse(cls, text: str) -> Side:
        """``"base"``, ``"run"`` or ``"run@0.5"``."""
        run, _, scale = text.partition("@")
        try:
            return cls(run, float(scale) if scale else 1.0)
        except ValueError:
            raise WorkbenchError(f"{text!r}: write a side as RUN or RUN@SCALE, e.g. sft-lora@0.5") from None


class Arena:
    """One base model in memory with the runs that answer beside it: adapters share the base, full runs load once.

    Runs are kept by folder (two runs of one name in two learners' folders are two adapters). One turn at a
    time per arena (:attr:`lock`): adapters are attached and LoRA hooks set on the shared model.
    """

    def __init__(self, base: str | LoadedModel, runs_root: str | Path = "runs"):
        self.bench = ModelBench(base if isinstance(base, LoadedModel) else load_model(base))
        self.runs_root = Path(runs_root)
        self.full: dict[str, LoadedModel] = {}  # run folder -> its model
        self.adapter_names: dict[str, str] = {}  # run folder -> its PEFT adapter name (no dots allowed there)
        self.lock = threading.Lock()

    @property
    def base_name(self) -> str:
        return self.bench.base.name

    def runs(self) -> list[str]:
        """Runs that can answer beside this base (see :func:`answering_runs`)."""
        return answering_runs(self.runs_root)

    def _run_dir(self, run: str, run_dirs: Mapping[str, str | Path] | None = None) -> Path:
        if run_dirs is not None:  # the caller's list is the whole world: no name outside it is looked up
            path = Path(run_dirs[run]) if run in run_dirs else None
        else:
            path = self.runs_root / run if Path(run).name == run and run not in ("", ".", "..") else None
        if path is None or _kind(path) is None:
            raise WorkbenchError(
                f"no run {run!r} with an adapter or a model in {self.runs_root if run_dirs is None else 'your runs'}"
            )
        return path

    def prepare(self, sides: Sequence[Side], run_dirs: Mapping[str, str | Path] | None = None) -> dict[str, str]:
        """Attach each side's adapter or load its full model (once per folder); refuse runs trained on another base.

        Returns run name -> folder key for the sides that are not the base.
        """
        keys = {}
        for side in sides:
            if side.run == BASE or side.run in keys:
                continue
            path = self._run_dir(side.run, run_dirs)
            key = keys[side.run] = str(path.resolve())
            if key in self.adapter_names or key in self.full:
                continue
            if _kind(path) == "adapter":
                # add_adapter refuses another base itself, naming both; it makes the PEFT name unique.
                unique = re.sub(r"[^A-Za-z0-9_-]+", "_", side.run) or "adapter"
                self.adapter_names[key] = self.bench.add_adapter(path, name=unique)
            else:
                trained_on = _trained_on(path)
                if trained_on not in (self.base_name, self.bench.base.path):
                    raise WorkbenchError(
                        f"run {side.run!r} was trained on {trained_on!r}, but the loaded base is "
                        f"{self.base_name!r}: the arena compares runs of the same base model"
                    )
                self.full[key] = load_model(str(path / MODEL_DIR))
        return keys

    def stream(
        self,
        sides: Sequence[Side],
        conversations: Sequence[list[Message]],
        settings: GenerationSettings | None = None,
        run_dirs: Mapping[str, str | Path] | None = None,
    ) -> Iterator[list[str]]:
        """Side i answers ``conversations[i]``; yield every side's text so far as tokens arrive.

        The base and plain LoRA adapters (any scales) run as one batch; full runs and other adapters follow,
        one generate call each. ``run_dirs`` (run name -> folder), when given, is where the sides' runs are.
        """
        with self.lock:
            keys = self.prepare(sides, run_dirs)
            texts = [""] * len(sides)
            full = {i for i, s in enumerate(sides) if s.run != BASE and keys[s.run] in self.full}
            adapters = [i for i in range(len(sides)) if i not in full]
            names = [self._bench_side(sides[i], keys) for i in adapters]
            batched = adapters if self.bench.can_batch(names) else [i for i in adapters if sides[i].run == BASE]
            if batched:
                rows = self.bench.stream_rows(
                    [self._bench_side(sides[i], keys) for i in batched],
                    [conversations[i] for i in batched],
                    settings,
                    [sides[i].scale for i in batched],
                )
                for update in rows:
                    for i, text in zip(batched, update):
                        texts[i] = text
                    yield list(texts)
            for i in (i for i in range(len(sides)) if i not in batched):
                for (text,) in self._stream_one(sides[i], keys, conversations[i], settings):
                    texts[i] = text
                    yield list(texts)

    def _bench_side(self, side: Side, keys: Mapping[str, str]) -> str:
        return BASE if side.run == BASE else self.adapter_names[keys[side.run]]

    def _stream_one(
        self, side: Side, keys: Mapping[str, str], conversation: list[Message], settings: GenerationSettings | None
    ) -> Iterator[list[str]]:
        if side.run != BASE and keys[side.run] in self.full:
            lm = self.full[keys[side.run]]
            with closing(stream_batch(lm.model, lm.tokenizer, [conversation], settings)) as stream:
                yield from stream
            return
        with (
            self.bench.use(self._bench_side(side, keys), side.scale) as model,
            closing(stream_batch(model, self.bench.tokenizer, [conversation], settings)) as stream,
        ):
            yield from stream


def answering_runs(runs_root: str | Path) -> list[str]:
    """Runs under ``runs_root`` that can answer: those with a LoRA adapter or a full model, newest first."""
    return [p.name for p in list_runs(runs_root) if _kind(p) is not None]


def can_answer(run_dir: str | Path) -> bool:
    """Whether the run folder holds what answers: a LoRA adapter or a full model."""
    return _kind(Path(run_dir)) is not None


def _kind(run_dir: Path) -> str | None:
    if (run_dir / ADAPTER_DIR / "adapter_config.json").is_file():
        return "adapter"
    return "full" if is_full_run(run_dir) else None


def _trained_on(run_dir: Path) -> str:
    return (
        adapter_base_name(run_dir)
        if _kind(run_dir) == "adapter"
        else read_run_config(run_dir).get("model") or DEFAULT_MODEL
    )


@dataclass
class Turn:
    """One user message and every side's answer to it, with the settings (and seed) they were sampled with."""

    user: str
    answers: list[str]
    settings: GenerationSettings
    done: bool = False
    vote: str | None = None


@dataclass
class ArenaChat:
    """One conversation with two to four sides (one in the Chat tab); in blind mode names stay hidden until a vote.

    Everything a vote records comes from here, i.e. from what the server generated, never from the page.
    """

    sides: list[Side]
    system: str = ""
    blind: bool = False
    turns: list[Turn] = field(default_factory=list)
    revealed: bool = False
    session: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self):
        if not 1 <= len(self.sides) <= MAX_SIDES:
            raise WorkbenchError(f"choose one to {MAX_SIDES} sides, not {len(self.sides)}")
        if len({s.label for s in self.sides}) != len(self.sides):
            raise WorkbenchError("each side can appear only once (the same run at another scale is another side)")
        if len(self.system) > MAX_SYSTEM_CHARS:
            raise WorkbenchError(
                f"the system prompt is {len(self.system)} characters long; the arena takes up to {MAX_SYSTEM_CHARS}"
            )

    def names(self) -> list[str]:
        """What the page calls each side: ``A: base``..., or ``Model A`` while a blind round is unrevealed."""
        if self.blind and not self.revealed:
            return [f"Model {LETTERS[i]}" for i in range(len(self.sides))]
        return [f"{LETTERS[i]}: {s.label}" for i, s in enumerate(self.sides)]

    def conversation(self, i: int, turns: int | None = None) -> list[Message]:
        """Side i's messages: the system prompt, then each turn's user message and side i's own answer.

        With ``turns``, only that many turns, and the last one's user message without an answer: what side i
        read before answering it.
        """
        messages = [{"role": "system", "content": self.system}] if self.system else []
        shown = self.turns if turns is None else self.turns[:turns]
        for n, turn in enumerate(shown):
            messages.append({"role": "user", "content": turn.user})
            if turns is None or n < turns - 1:
                messages.append({"role": "assistant", "content": turn.answers[i]})
        return messages

    def text_size(self) -> int:
        """Characters the model reads in the longest side's conversation (for a server's prompt cap)."""
        return max(sum(len(m["content"]) for m in self.conversation(i)) for i in range(len(self.sides)))

    def ask(self, arena: Arena, message: str, settings: GenerationSettings | None = None) -> Iterator[list[str]]:
        """Every side answers ``message`` after its own history; yields their texts so far, then keeps the answers."""
        message = message.strip()
        if not message:
            raise WorkbenchError("write a message first")
        if len(message) > MAX_MESSAGE_CHARS:
            raise WorkbenchError(
                f"the message is {len(message)} characters long; the arena takes up to {MAX_MESSAGE_CHARS}"
            )
        if self.turns and not self.turns[-1].done:
            self.turns.pop()  # an answer cut off (a closed page, an error) is dropped, not continued
        if len(self.turns) >= MAX_TURNS:
            raise WorkbenchError(
                f"this conversation has {MAX_TURNS} turns, the most the arena keeps: press Clear to start again"
            )
        self.turns.append(Turn(message, [""] * len(self.sides), settings or GenerationSettings()))
        yield from self._answer(arena)

    def regenerate(self, arena: Arena) -> Iterator[list[str]]:
        """Answer the last message again with the next seed (the same for every side); its vote, if any, stays logged."""
        if not self.turns:
            raise WorkbenchError("nothing to regenerate yet: send a message first")
        last = self.turns[-1]
        self.turns[-1] = Turn(last.user, [""] * len(self.sides), replace(last.settings, seed=last.settings.seed + 1))
        yield from self._answer(arena)

    def _answer(self, arena: Arena) -> Iterator[list[str]]:
        turn = self.turns[-1]
        conversations = [self.conversation(i, len(self.turns)) for i in range(len(self.sides))]
        for texts in arena.stream(self.sides, conversations, turn.settings):
            turn.answers = texts
            yield texts
        turn.answers = [t.strip() for t in turn.answers]
        turn.done = True

    def can_vote(self) -> str | None:
        """None when the last turn can take a vote, else why not."""
        if len(self.sides) != 2:
            return "votes compare two sides: choose two sides, or play a blind round"
        if not self.turns or not self.turns[-1].done:
            return "send a message and let both sides answer before voting"
        if self.turns[-1].vote is not None:
            return "this turn has its vote: send another message (or Regenerate) to vote again"
        return None

    def vote(self, choice: Choice, folder: str | Path, base: str | None = None) -> dict | None:
        """Record a vote on the last turn into ``folder`` (votes log and, for a or b, a preference row); reveal blind names.

        Returns the preference row written, or None for a tie or "both bad".
        """
        why_not = self.can_vote()
        if why_not:
            raise WorkbenchError(why_not)
        turn = self.turns[-1]
        a, b = self.sides
        n = len(self.turns)
        pair = record_vote(
            folder,
            self.conversation(0, n),
            turn.answers[0],
            turn.answers[1],
            choice,
            a.label,
            b.label,
            turn.settings,
            prompt_b=self.conversation(1, n),
            session=self.session,
            details={
                "mode": "blind" if self.blind else "named",
                "turn": n,
                "base": base,
                "scales": {"a": a.scale, "b": b.scale},
            },
        )
        turn.vote = choice
        self.revealed = True
        return pair


def blind_pair(pool: Sequence[str], rng: random.Random | None = None) -> list[Side]:
    """Two different sides drawn at random from ``pool`` (run names or ``run@scale``), in random order."""
    pool = list(dict.fromkeys(pool))
    if len(pool) < 2:
        raise WorkbenchError("a blind round needs a pool of at least two sides")
    return [Side.parse(s) for s in (rng or random.SystemRandom()).sample(pool, 2)]
