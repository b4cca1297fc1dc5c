"""The one answer path: sides (the base, runs at a LoRA scale) answer conversations, streamed.

The Chat tab, the Arena, ``workbench compare`` and evaluation all answer through here. A process keeps one
:class:`~workbench.inference.bench.ModelBench` per (model, quantization): a QLoRA run answers on its 4-bit base
wherever it is asked (the base it trained on), every plain-LoRA run of a base shares that base's one copy, and a
full fine-tuning run is a bench of its own. A side's run is looked up only in the caller's ``run_dirs`` (name ->
folder), which the workspace filled with the runs that caller may see
(:func:`workbench.workspace.learners.visible_runs`).

Example:
    >>> sides = [Side("base"), Side("sft-lora", scale=0.5)]
    >>> for texts in stream_answers("default", sides, [messages, messages], run_dirs={"sft-lora": "runs/sft-lora"}):
    ...     print(texts)   # every side's answer so far
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.inference.bench import BASE, ModelBench, same_model
from workbench.inference.generation import GenerationSettings, Message, finished
from workbench.models import LoadedModel, Quantization, load_model
from workbench.workspace.runs import MODEL_DIR, run_info

MAX_SCALE = 2.0

_benches: dict[tuple[str, str | None], ModelBench] = {}
_benches_lock = threading.Lock()


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


def bench(model: str, quantization: Quantization | None = None) -> ModelBench:
    """This process's bench for ``model`` loaded at ``quantization`` (loaded on first use, then shared)."""
    key = (model, quantization)
    with _benches_lock:
        if key not in _benches:
            _benches[key] = ModelBench(load_model(model, quantization=quantization))
        return _benches[key]


def base_model(model: str) -> LoadedModel:
    """The full-precision base the server answers with (its tokenizer serves the Data and Train tabs too)."""
    return bench(model).base


@dataclass(frozen=True)
class Seat:
    """Where one side answers: a bench, the side's name on it, and the LoRA scale."""

    bench: ModelBench
    name: str
    scale: float = 1.0


def seat(
    side: Side,
    model: str,
    run_dirs: Mapping[str, str | Path] | None = None,
    base_quantization: Quantization | None = None,
) -> Seat:
    """The seat of ``side`` beside the base ``model``: the base itself (at ``base_quantization``), a run's adapter on
    the base it trained on, or a full run's own model. Runs trained on another base are refused."""
    if side.run == BASE:
        return Seat(bench(model, base_quantization), BASE)
    folder = (run_dirs or {}).get(side.run)
    if folder is None:
        raise WorkbenchError(f"no run {side.run[:60]!r} among your runs: pick one from the list")
    info = run_info(folder)
    if info.kind is None:
        raise WorkbenchError(f"run {side.run!r} has no adapter or model yet: wait for it to finish training")
    if not same_model(info.base, model):
        raise WorkbenchError(
            f"run {side.run!r} was trained on {info.base!r}, but the base here is {model!r}: "
            "compare runs of the same base model"
        )
    if info.kind == "full":
        return Seat(bench(str(Path(folder) / MODEL_DIR)), BASE)
    run_bench = bench(model, info.quantization)
    return Seat(run_bench, run_bench.adapter_side(folder, name=side.run), side.scale)


def stream_seats(
    seats: Sequence[Seat], conversations: Sequence[list[Message]], settings: GenerationSettings | None = None
) -> Iterator[list[str]]:
    """Seat i answers ``conversations[i]``; yields every seat's text so far as tokens arrive.

    Seats on one bench answer together (:meth:`ModelBench.stream_rows`); benches answer one after another.
    """
    texts = [""] * len(seats)
    groups: dict[int, list[int]] = {}
    for i, s in enumerate(seats):
        groups.setdefault(id(s.bench), []).append(i)
    for rows in groups.values():
        on = seats[rows[0]].bench
        stream = on.stream_rows(
            [seats[i].name for i in rows], [conversations[i] for i in rows], settings, [seats[i].scale for i in rows]
        )
        for update in stream:
            for i, text in zip(rows, update):
                texts[i] = text
            yield list(texts)


def stream_answers(
    model: str,
    sides: Sequence[Side],
    conversations: Sequence[list[Message]],
    settings: GenerationSettings | None = None,
    run_dirs: Mapping[str, str | Path] | None = None,
) -> Iterator[list[str]]:
    """Side i answers ``conversations[i]`` beside the base ``model``; yields every side's text so far."""
    yield from stream_seats([seat(side, model, run_dirs) for side in sides], conversations, settings)


def answers(
    model: str,
    sides: Sequence[Side],
    conversations: Sequence[list[Message]],
    settings: GenerationSettings | None = None,
    run_dirs: Mapping[str, str | Path] | None = None,
) -> list[str]:
    """The finished answers of :func:`stream_answers`."""
    return [t.strip() for t in finished(stream_answers(model, sides, conversations, settings, run_dirs))]
