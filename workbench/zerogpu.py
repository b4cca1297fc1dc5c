"""Hugging Face ZeroGPU: the workbench's GPU work, each piece a ``@spaces.GPU`` function; plain calls elsewhere.

On a ZeroGPU Space a GPU is lent only while a function decorated with ``spaces.GPU`` runs, in a worker
process forked from the server (docs/hub spaces-zerogpu.md). Three rules follow, and every entry point here
keeps them:
- arguments and results cross a process boundary (pickled): they are names, paths, texts and settings,
  never a model; the worker finds the model by name (the server loaded it before forking, so the worker
  inherits it; a reused worker loads it once itself);
- whatever the server needs afterwards goes to disk (the run folder, eval/) or comes back as the result:
  memory the worker changes is lost to the server;
- ``duration`` is asked up front and counts against the visitor's quota: it comes from the workbench's
  own estimate, capped by ``public.caps().gpu_seconds``.
Without the ``spaces`` package, and wherever it is installed but the Space is not ZeroGPU (a laptop, a CPU
Space, the tests), ``spaces.GPU`` returns the function itself: the same code runs in-process, unchanged.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

try:  # ZeroGPU wants `spaces` imported before CUDA is initialised: app.py imports this module first.
    import spaces
except ImportError:  # not on a Space, or a CPU Space without it: every decorator below is the identity
    spaces = None

from workbench.generation import GenerationSettings, Message

# A GPU call pays for starting (or reusing) its worker and moving the model onto the GPU before any work.
_STARTUP_SECONDS = 15
# Generation speed assumed for the duration request, well under what a 135M model reaches on a ZeroGPU
# H200 slice, so a request is not cut off: tokens a second, per streamed answer.
_GPU_TOKENS_PER_SECOND = 20


def on_zerogpu() -> bool:
    """True on a ZeroGPU Space (which sets SPACES_ZERO_GPU), where GPU work must go through spaces.GPU."""
    from workbench.ui import public

    return spaces is not None and public.on_zerogpu()


def capped(seconds: float) -> int:
    """A duration request in whole seconds, at most what one visitor's call may take here."""
    from workbench.ui import public

    limit = public.caps().gpu_seconds
    seconds = max(1, round(seconds))
    return seconds if limit is None else min(seconds, limit)


def gpu(duration: Callable[..., float]) -> Callable[[Callable], Callable]:
    """Decorate ``fn`` with ``spaces.GPU(duration=...)`` where `spaces` is installed, else leave it as it is.

    ``duration`` takes the decorated function's arguments and returns seconds; the request is capped.
    """

    def decorate(fn: Callable) -> Callable:
        if spaces is None:
            return fn
        return spaces.GPU(fn, duration=lambda *args, **kwargs: capped(duration(*args, **kwargs)))

    return decorate


def _generation_seconds(settings: GenerationSettings | None, answers: int = 1) -> float:
    tokens = (settings or GenerationSettings()).max_new_tokens
    return _STARTUP_SECONDS + answers * tokens / _GPU_TOKENS_PER_SECOND


# --- generation: Chat and Compare -------------------------------------------------------------------------

_benches: dict[str, Any] = {}  # per process (server or GPU worker): model name -> ModelBench


@gpu(duration=lambda model_name, messages, settings=None: _generation_seconds(settings))
def stream_chat(model_name: str, messages: list[Message], settings: GenerationSettings | None = None) -> Iterator[str]:
    """The Chat tab's answer, piece by piece, from the server's shared model ``model_name``.

    Example:
        >>> for piece in stream_chat("default", [{"role": "user", "content": "Hi"}]):
        ...     print(piece, end="")
    """
    from workbench.generation import stream_chat as stream
    from workbench.ui.shared_model import get_model

    lm = get_model(model_name)
    yield from stream(lm.model, lm.tokenizer, messages, settings)


def bench(model_name: str, adapter_dirs: list[str | Path]) -> Any:
    """This process's ModelBench for ``model_name`` with the adapters in ``adapter_dirs`` attached (once each).

    A ModelBench wraps its model with PEFT in place, so it holds its own copy of the base, apart from the
    Chat tab's shared model.
    """
    from workbench.compare import ModelBench
    from workbench.models import load_model

    if model_name not in _benches:
        _benches[model_name] = ModelBench(load_model(model_name))
    found = _benches[model_name]
    for folder in map(Path, adapter_dirs):
        if folder.name not in found.adapters:
            found.add_adapter(folder, name=folder.name)
    return found


@gpu(duration=lambda model_name, adapter_dirs, sides, prompt, settings=None: _generation_seconds(settings, len(sides)))
def stream_side_by_side(
    model_name: str,
    adapter_dirs: list[str | Path],
    sides: list[str],
    prompt: str | list[Message],
    settings: GenerationSettings | None = None,
) -> Iterator[dict[str, str]]:
    """Side-by-side answers, {side: text so far}; ``sides`` are "base" and run names from ``adapter_dirs``.

    Example:
        >>> for texts in stream_side_by_side("default", ["runs/sft-json"], ["base", "sft-json"], "Hi"):
        ...     print(texts)
    """
    yield from bench(model_name, adapter_dirs).stream_side_by_side(prompt, sides=sides, settings=settings)


# --- evaluation ---------------------------------------------------------------------------------------------


def _evaluation_seconds(run_dir, data=None, max_samples: int = 32, settings=None, probe: bool = True,
                        judge: str | None = None) -> float:
    from workbench.evaluation import EVAL_SETTINGS, PROBE_SETTINGS
    from workbench.forgetting import load_probe

    # Answers go in batches of 8 (evaluation._generate_answers), for two sides (base and tuned); a judge reads
    # every pair once more, about as long again.
    tokens = 2 * -(-max_samples // 8) * (settings or EVAL_SETTINGS).max_new_tokens
    if probe:
        tokens += 2 * -(-len(load_probe()) // 8) * PROBE_SETTINGS.max_new_tokens
    return _STARTUP_SECONDS + (2 if judge else 1) * tokens / _GPU_TOKENS_PER_SECOND


@gpu(duration=_evaluation_seconds)
def evaluate_run(run_dir: str | Path, data: str | Path | None = None, max_samples: int = 32, settings=None,
                 probe: bool = True, judge: str | None = None) -> dict:
    """:func:`workbench.evaluation.evaluate_run` on the GPU; the report is written into ``<run_dir>/eval``."""
    from workbench.evaluation import EVAL_SETTINGS
    from workbench.evaluation import evaluate_run as evaluate

    return evaluate(run_dir, data, max_samples, settings or EVAL_SETTINGS, probe=probe, judge=judge)


# --- training -----------------------------------------------------------------------------------------------


def stop_file(config) -> Path:
    """The file whose presence stops ``config``'s run: a stop request the forked GPU worker can see too."""
    return Path(config.output_dir) / f".{config.name}.stop"


class FileStop:
    """A stop flag with threading.Event's ``is_set``/``set``, kept on disk so it crosses the process boundary."""

    def __init__(self, path: Path):
        self.path = path

    def is_set(self) -> bool:
        return self.path.exists()

    def set(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()


def _training_seconds(config, dataset=None) -> float:
    """The workbench's own time estimate for ``config`` (training/estimate.py), plus loading and a margin."""
    from workbench.training.estimate import estimate_config
    from workbench.ui import public

    rows = len(dataset) if dataset is not None else (public.caps().max_rows or 1000)
    config = public.apply_caps(config)
    # Without tokenizing the data here, assume examples fill half of max_length: public data is short.
    estimate = estimate_config(config, n_train=rows, mean_tokens=config.max_length / 2)
    return _STARTUP_SECONDS + 1.5 * estimate.seconds


@gpu(duration=_training_seconds)
def train_events(config, dataset=None) -> Iterator[dict[str, Any]]:
    """Train ``config`` and yield its progress events as they happen; the run folder holds the rest.

    The events are the ones :func:`workbench.training.train` sends to ``on_event`` (events.py), then one
    ``{"type": "finished", "status", "run_dir"}``. Stop the run from any process with
    ``FileStop(stop_file(config)).set()``; closing the generator early stops it too. Public caps are applied
    here too, so a visitor's run always fits the duration that was requested for it.

    Example:
        >>> for event in train_events(TrainConfig(data="sentiment_json", max_steps=2)):
        ...     print(event["type"])
    """
    from workbench.threads import start_compute_thread
    from workbench.training import train
    from workbench.ui import public

    config = public.apply_caps(config)
    stop = FileStop(stop_file(config))
    stop.path.unlink(missing_ok=True)  # a request left over from an earlier run of the same name
    events: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            result = train(config, on_event=events.put, stop=stop, dataset=dataset)
            outcome.update(status=result.status, run_dir=str(result.run_dir))
        except BaseException as exc:  # re-raised in the consumer below, where the caller can see it
            outcome["error"] = exc
        finally:
            events.put(None)

    # train() blocks and reports through a callback; a thread turns that into this generator's yields.
    thread = start_compute_thread(run, name=f"train-{config.name}")
    try:
        while (event := events.get()) is not None:
            yield event
    finally:
        if thread.is_alive():  # the reader went away early: end the run after its current step, adapter saved
            stop.set()
        thread.join()
        stop.path.unlink(missing_ok=True)
    if "error" in outcome:
        raise outcome["error"]
    yield {"type": "finished", **outcome}
