"""One base model in memory with any number of LoRA adapters by name, answering side by side.

The Arena and Chat tabs (through `workbench.inference.arena`), `workbench compare` and the evaluation all use
:class:`ModelBench`: the base is loaded once and each adapter is added to it as a PEFT named adapter, so
"base", "adapter A" and "adapter B" share every base weight. The base answers with adapters disabled.
Side-by-side answers run as one batch, each row through its own adapter or none (:mod:`workbench.inference.adapter_batch`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, nullcontext
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.inference.adapter_batch import PEFT_BASE, can_share_a_batch, per_row_adapters
from workbench.inference.generation import GenerationSettings, Message, as_messages, stream_batch
from workbench.models import DEFAULT_MODEL, LoadedModel, Quantization, load_model
from workbench.workspace.runs import ADAPTER_DIR, adapter_base_name, adapter_dir

BASE = "base"


def _same_model(a: str, b: LoadedModel) -> bool:
    if a in (b.name, b.path):
        return True
    paths = [Path(p).expanduser() for p in (a, b.name, b.path)]
    return paths[0].exists() and any(p.exists() and p.resolve() == paths[0].resolve() for p in paths[1:])


def peft_name(name: str) -> str:
    """The one rule turning a side's name (a run folder's, any text) into a PEFT adapter name: PEFT names must not
    contain dots (they become module keys). The CLI and the app both go through it."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name) or "adapter"


def _side_name(path: Path) -> str:
    # A run folder's name says more than "adapter".
    folder = adapter_dir(path)
    return folder.parent.name if folder.name == ADAPTER_DIR else folder.name


class ModelBench:
    """A base model and named adapters, sharing one copy of the base weights.

    Example:
        >>> bench = ModelBench.from_adapters(["runs/sft-json"])
        >>> for texts in bench.stream_side_by_side("Give me a JSON list of three colors."):
        ...     print(texts)   # {"base": "...", "sft-json": "..."}, growing token by token

    After the first adapter is added, the loaded model is wrapped by PEFT in place: generate through
    ``bench.model`` (or :meth:`use`), not through the original ``LoadedModel.model``.
    """

    def __init__(self, base: LoadedModel):
        self.base = base
        self.model = base.model
        self.tokenizer = base.tokenizer
        self.adapters: dict[str, Path] = {}
        self._peft: dict[str, str] = {}  # side name -> PEFT adapter name (peft_name, made unique)

    @classmethod
    def from_adapters(
        cls, adapters: Sequence[str | Path], base: str | None = None, quantization: Quantization | None = None
    ) -> ModelBench:
        """Load the base the adapters were trained on (or ``base``) once and add every adapter to it."""
        name = base or (adapter_base_name(adapters[0]) if adapters else DEFAULT_MODEL)
        bench = cls(load_model(name, quantization=quantization))
        for path in adapters:
            bench.add_adapter(path)
        return bench

    @property
    def sides(self) -> list[str]:
        """Everything that can answer: "base" first, then the adapters in the order they were added."""
        return [BASE, *self.adapters]

    def add_adapter(self, path: str | Path, name: str | None = None) -> str:
        """Attach a saved LoRA adapter under ``name`` (default: the run folder's name); return the name used."""
        from peft import PeftModel

        folder = adapter_dir(path)
        trained_on = adapter_base_name(folder)
        if not _same_model(trained_on, self.base):
            raise WorkbenchError(
                f"the adapter in {folder} was trained on {trained_on!r}, but the loaded base is {self.base.name!r}: "
                "compare adapters of the same base model"
            )
        name = name or _side_name(folder)
        unique, n = name, 2
        while unique in self.sides or peft_name(unique) in (PEFT_BASE, *self._peft.values()):
            unique, n = f"{name}-{n}", n + 1
        internal = peft_name(unique)
        try:
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(str(folder), adapter_name=internal)
            else:
                self.model = PeftModel.from_pretrained(self.model, str(folder), adapter_name=internal)
        except (RuntimeError, ValueError, KeyError) as exc:  # size mismatch, missing target modules
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WorkbenchError(f"the adapter in {folder} does not fit the base {self.base.name!r}: {first}") from exc
        self.model.eval()
        self.adapters[unique] = folder
        self._peft[unique] = internal
        return unique

    @contextmanager
    def use(self, side: str, scale: float = 1.0):
        """The model answering as ``side``: the base with adapters disabled, or one adapter active at ``scale``
        (a multiplier of its ``lora_alpha / r``, PEFT's ``rescale_adapter_scale``)."""
        from peft.helpers import rescale_adapter_scale

        self._check_sides([side])
        if side == BASE:
            if self.adapters:
                with self.model.disable_adapter():
                    yield self.model
            else:
                yield self.model
        else:
            self.model.set_adapter(self._peft[side])
            with rescale_adapter_scale(self.model, float(scale)) if scale != 1 else nullcontext():
                yield self.model

    def _check_sides(self, sides: Sequence[str]) -> None:
        unknown = [s for s in sides if s not in self.sides]
        if unknown:
            raise WorkbenchError(f"unknown side(s) {', '.join(unknown)}: choose from {', '.join(self.sides)}")
        if len(set(sides)) != len(sides):
            raise WorkbenchError("each side can appear only once")

    def can_batch(self, sides: Sequence[str]) -> bool:
        """Whether these sides can answer in one batch: always, unless an adapter is not plain LoRA (DoRA...)."""
        return not self.adapters or can_share_a_batch(self.model, self._peft_names(sides))

    def stream_rows(
        self,
        sides: Sequence[str],
        conversations: Sequence[list[Message]],
        settings: GenerationSettings | None = None,
        scales: Sequence[float] | None = None,
    ) -> Iterator[list[str]]:
        """Row i answers ``conversations[i]`` as ``sides[i]`` (sides may repeat) at ``scales[i]``, all rows in one batch.

        Yields every row's text so far after each token. Check :meth:`can_batch` first.
        """
        self._check_sides(list(dict.fromkeys(sides)))
        with per_row_adapters(self.model, self._peft_names(sides), scales) if self.adapters else nullcontext():
            with closing(stream_batch(self.model, self.tokenizer, conversations, settings)) as stream:
                yield from stream

    def _peft_names(self, sides: Sequence[str]) -> list[str]:
        return [PEFT_BASE if side == BASE else self._peft[side] for side in sides]

    def stream_side_by_side(
        self,
        prompt_or_histories: str | list[Message] | Mapping[str, list[Message]],
        sides: Sequence[str] | None = None,
        settings: GenerationSettings | None = None,
        system: str | None = None,
        batched: bool = True,
    ) -> Iterator[dict[str, str]]:
        """Answer with every side; yield {side: text so far} as tokens arrive.

        ``prompt_or_histories`` is one prompt or chat history for all sides, or a {side: history} mapping
        for multi-turn chats that went differently per side. Every side gets the same settings and seed.
        ``batched`` runs all sides in one generate call, each row through its own adapter
        (:mod:`workbench.inference.adapter_batch`); otherwise, or when an adapter is not plain LoRA, they run one after
        another, each streamed in turn.
        """
        sides = list(sides or self.sides)
        self._check_sides(sides)
        if isinstance(prompt_or_histories, Mapping):
            conversations = [as_messages(prompt_or_histories[s], system) for s in sides]
        else:
            conversations = [as_messages(prompt_or_histories, system)] * len(sides)
        if batched and self.can_batch(sides):
            for texts in self.stream_rows(sides, conversations, settings):
                yield dict(zip(sides, texts))
            return
        answers = dict.fromkeys(sides, "")
        for side, conversation in zip(sides, conversations):
            with (
                self.use(side) as model,
                closing(stream_batch(model, self.tokenizer, [conversation], settings)) as stream,
            ):
                for (text,) in stream:
                    answers[side] = text
                    yield dict(answers)

    def side_by_side(
        self,
        prompt_or_histories,
        sides: Sequence[str] | None = None,
        settings: GenerationSettings | None = None,
        system: str | None = None,
        batched: bool = True,
    ) -> dict[str, str]:
        """The finished answers of :meth:`stream_side_by_side`."""
        answers: dict[str, str] = {}
        for answers in self.stream_side_by_side(prompt_or_histories, sides, settings, system, batched):
            pass
        return {side: text.strip() for side, text in answers.items()}
