"""The adapter arena: multi-turn chats where the base, adapters (at any LoRA scale) and full fine-tunes answer together.

The same calls serve the app's Arena and Chat tabs and a notebook::

    >>> arena = Arena("default", runs_root="runs")
    >>> chat = ArenaChat([Side("base"), Side("sft-lora"), Side("sft-lora", scale=0.5)], system="Be brief.")
    >>> for texts in chat.ask(arena, "Rate this review: great kettle."):
    ...     pass                                   # texts: every side's answer so far
    >>> chat.vote("b", folder="runs/.votes")       # with two sides: a, b, tie or both_bad

Each side keeps its own history (it reads its own earlier answers); every side samples with the same seed.
The answers come from the one answer path (:mod:`workbench.inference.answers`): the base and every plain LoRA
adapter of a base answer in one batch; a QLoRA run on its 4-bit base and a full run on its own model follow.

A side names a run; the arena finds its folder under ``runs_root``, or, where the caller passes ``run_dirs``
(a name -> folder map), only there: the app hands each page the runs its identity may see that way, so two
learners' runs of the same name are two different sides and nobody names a folder outside their list.
"""

from __future__ import annotations

import random
import secrets
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.inference.answers import Side, stream_answers
from workbench.inference.generation import GenerationSettings, Message
from workbench.inference.votes import Choice, record_vote
from workbench.workspace.runs import answering_runs

MAX_SIDES = 4
MAX_TURNS = 16  # with MAX_MESSAGE_CHARS, bounds what one conversation makes the model read
MAX_MESSAGE_CHARS = 4000
MAX_SYSTEM_CHARS = 2000
LETTERS = "ABCD"


class Arena:
    """The base ``model`` and the runs that may answer beside it, answering through :mod:`workbench.inference.answers`.

    ``run_dirs`` (run name -> folder) is the whole list a side may name; without it, the answering runs under
    ``runs_root`` (a notebook's or the CLI's own runs folder).
    """

    def __init__(
        self,
        model: str,
        runs_root: str | Path = "runs",
        run_dirs: Mapping[str, str | Path] | None = None,
    ):
        self.model = model
        self.run_dirs = dict(run_dirs) if run_dirs is not None else {p.name: p for p in answering_runs(runs_root)}

    def runs(self) -> list[str]:
        """Runs that can answer beside the base, newest first."""
        return list(self.run_dirs)

    def stream(
        self, sides: Sequence[Side], conversations: Sequence[list[Message]], settings: GenerationSettings | None = None
    ) -> Iterator[list[str]]:
        """Side i answers ``conversations[i]``; yield every side's text so far as tokens arrive."""
        return stream_answers(self.model, sides, conversations, settings, self.run_dirs)


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
        settings = settings or GenerationSettings()
        if self.blind and not self.revealed:
            # The page's seed would let a named round with the same seed reveal which side is which.
            settings = replace(settings, seed=secrets.randbelow(2**31))
        self.turns.append(Turn(message, [""] * len(self.sides), settings))
        yield from self._answer(arena)

    def regenerate(self, arena: Arena) -> Iterator[list[str]]:
        """Answer the last message again with the next seed (the same for every side); its vote, if any, stays
        logged."""
        if not self.turns:
            raise WorkbenchError("nothing to regenerate yet: send a message first")
        last = self.turns[-1]
        self.turns[-1] = Turn(last.user, [""] * len(self.sides), replace(last.settings, seed=last.settings.seed + 1))
        yield from self._answer(arena)

    def _answer(self, arena: Arena) -> Iterator[list[str]]:
        """Stream the sides' answers; a blind round shows them only together, when every side is done, since the
        order in which sides finish (a full run answers after the adapters) would tell them apart."""
        turn = self.turns[-1]
        conversations = [self.conversation(i, len(self.turns)) for i in range(len(self.sides))]
        hidden = self.blind and not self.revealed
        for texts in arena.stream(self.sides, conversations, turn.settings):
            turn.answers = texts
            if not hidden:
                yield texts
        turn.answers = [t.strip() for t in turn.answers]
        turn.done = True
        if hidden:
            yield turn.answers

    def can_vote(self) -> str | None:
        """None when the last turn can take a vote, else why not."""
        if len(self.sides) != 2:
            return "votes compare two sides: choose two sides, or play a blind round"
        if not self.turns or not self.turns[-1].done:
            return "send a message and let both sides answer before voting"
        if self.turns[-1].vote is not None:
            return "this turn has its vote: send another message (or Regenerate) to vote again"
        return None

    def vote(
        self, choice: Choice, folder: str | Path, base: str | None = None, voter: str | None = None
    ) -> dict | None:
        """Record a vote on the last turn into ``folder`` (votes log and, for a or b, a preference row); reveal blind
        names.

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
            voter=voter,
            details={
                "mode": "blind" if self.blind and not self.revealed else "named",
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
