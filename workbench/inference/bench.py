"""One base model in memory with any number of LoRA adapters by name, answering side by side.

The base is loaded once and each adapter is added to it as a PEFT named adapter, so "base", "adapter A" and
"adapter B" share every base weight; the base answers with adapters disabled. :meth:`ModelBench.stream_rows` holds
the one rule for answering several sides: one batch, each row through its own adapter or none
(:mod:`workbench.inference.adapter_batch`), or one side after another where an adapter is not plain LoRA. The app,
the CLI and evaluation reach a bench through :mod:`workbench.inference.answers` (one per base and quantization).
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, nullcontext
from pathlib import Path

from peft import PeftModel
from peft.helpers import rescale_adapter_scale

from workbench.errors import WorkbenchError
from workbench.inference.adapter_batch import PEFT_BASE, can_share_a_batch, per_row_adapters
from workbench.inference.generation import GenerationSettings, Message, as_messages, finished, stream_batch
from workbench.models import DEFAULT_MODEL, LoadedModel, Quantization, load_model
from workbench.workspace.runs import ADAPTER_DIR, adapter_base_name, adapter_dir

BASE = "base"
_DONE = object()  # the end of a stream of rows


def same_model(name: str, *others: str) -> bool:
    """Whether ``name`` and one of ``others`` name the same model: equal names, or paths to one folder."""
    if name in others:
        return True
    paths = [Path(p).expanduser() for p in (name, *others)]
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
        self._by_version: dict[tuple[str, int], str] = {}  # (adapter folder, weights mtime) -> side name
        # One caller at a time: adapters are attached and LoRA hooks set on the shared model. A plain Lock, not an
        # RLock: a streamed answer is resumed by whichever thread serves the page next, and releases it from there.
        self.lock = threading.Lock()

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
        folder = adapter_dir(path)
        trained_on = adapter_base_name(folder)
        if not same_model(trained_on, self.base.name, self.base.path):
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

    def adapter_side(self, path: str | Path, name: str | None = None) -> str:
        """The side answering with the adapter at ``path``: added on first use, and again (under a new name) when
        its weights changed, as when a run of the same name was trained anew."""
        folder = adapter_dir(path)
        version = (str(folder.resolve()), (folder / "adapter_model.safetensors").stat().st_mtime_ns)
        with self.lock:
            if version not in self._by_version:
                self._by_version[version] = self.add_adapter(folder, name=name)
            return self._by_version[version]

    @contextmanager
    def use(self, side: str, scale: float = 1.0):
        """The model answering as ``side``: the base with adapters disabled, or one adapter active at ``scale``
        (a multiplier of its ``lora_alpha / r``, PEFT's ``rescale_adapter_scale``)."""
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
        *,
        hold: bool = True,
    ) -> Iterator[list[str]]:
        """Row i answers ``conversations[i]`` as ``sides[i]`` (sides may repeat) at ``scales[i]``.

        Yields every row's text so far after each token. All rows run in one batch where the adapters allow
        (:meth:`can_batch`), else one side after another. ``hold=False``: the caller holds :attr:`lock` already
        (evaluation holds it for a whole run).
        """
        scales = list(scales or [1.0] * len(sides))
        self._check_sides(list(dict.fromkeys(sides)))
        # The rows are generated, and the bench held, by a thread of their own: a page that stops reading (a closed
        # tab, an error) cannot keep the bench, which the thread frees as soon as the answer ends or is cancelled.
        updates: queue.Queue = queue.Queue()
        cancelled = threading.Event()

        def generate() -> None:
            try:
                with (
                    self.lock if hold else nullcontext(),
                    closing(self._rows(sides, conversations, settings, scales)) as rows,
                ):
                    for texts in rows:
                        if cancelled.is_set():
                            break  # closing the rows cancels their generate call
                        updates.put(texts)
            except BaseException as exc:  # noqa: BLE001  (handed to the reader, who raises it)
                updates.put(exc)
            finally:
                updates.put(_DONE)

        threading.Thread(target=generate, name="bench-rows", daemon=True).start()
        try:
            while (item := updates.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancelled.set()

    def _rows(
        self,
        sides: Sequence[str],
        conversations: Sequence[list[Message]],
        settings: GenerationSettings | None,
        scales: list[float],
    ) -> Iterator[list[str]]:
        """The rows' texts so far: one batch where the adapters allow, else one side after another."""
        if self.can_batch(sides):
            adapters = per_row_adapters(self.model, self._peft_names(sides), scales) if self.adapters else nullcontext()
            with adapters, closing(stream_batch(self.model, self.tokenizer, conversations, settings)) as stream:
                yield from stream
            return
        texts = [""] * len(sides)
        for i, (side, conversation) in enumerate(zip(sides, conversations)):
            with (
                self.use(side, scales[i]) as model,
                closing(stream_batch(model, self.tokenizer, [conversation], settings)) as stream,
            ):
                for (text,) in stream:
                    texts[i] = text
                    yield list(texts)

    def _peft_names(self, sides: Sequence[str]) -> list[str]:
        return [PEFT_BASE if side == BASE else self._peft[side] for side in sides]

    def stream_side_by_side(
        self,
        prompt_or_histories: str | list[Message] | Mapping[str, list[Message]],
        sides: Sequence[str] | None = None,
        settings: GenerationSettings | None = None,
        system: str | None = None,
    ) -> Iterator[dict[str, str]]:
        """Answer with every side; yield {side: text so far} as tokens arrive.

        ``prompt_or_histories`` is one prompt or chat history for all sides, or a {side: history} mapping
        for multi-turn chats that went differently per side. Every side gets the same settings and seed, and
        they answer as :meth:`stream_rows` decides (one batch where the adapters allow).
        """
        sides = list(sides or self.sides)
        self._check_sides(sides)
        if isinstance(prompt_or_histories, Mapping):
            conversations = [as_messages(prompt_or_histories[s], system) for s in sides]
        else:
            conversations = [as_messages(prompt_or_histories, system)] * len(sides)
        for texts in self.stream_rows(sides, conversations, settings):
            yield dict(zip(sides, texts))

    def side_by_side(
        self,
        prompt_or_histories,
        sides: Sequence[str] | None = None,
        settings: GenerationSettings | None = None,
        system: str | None = None,
    ) -> dict[str, str]:
        """The finished answers of :meth:`stream_side_by_side`."""
        answers = finished(self.stream_side_by_side(prompt_or_histories, sides, settings, system))
        return {side: text.strip() for side, text in answers.items()}
