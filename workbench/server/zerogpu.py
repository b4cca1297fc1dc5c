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
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:  # ZeroGPU wants `spaces` imported before CUDA is initialised: app.py imports this module first.
    import spaces
except ImportError:  # not on a Space, or a CPU Space without it: every decorator below is the identity
    spaces = None

from workbench.errors import WorkbenchError
from workbench.evaluation import evaluate as evaluation
from workbench.evaluation.forgetting import load_probe
from workbench.inference import answers
from workbench.inference.generation import GenerationSettings, Message
from workbench.inference.threads import start_compute_thread
from workbench.server import public
from workbench.training import load_run_config
from workbench.training.estimate import estimate_config

# A GPU call pays for starting (or reusing) its worker and moving the model onto the GPU before any work.
_STARTUP_SECONDS = 15
# Generation speed assumed for the duration request, well under what a 135M model reaches on a ZeroGPU
# H200 slice, so a request is not cut off: tokens a second, per streamed answer.
_GPU_TOKENS_PER_SECOND = 20


def on_zerogpu() -> bool:
    """True on a ZeroGPU Space (which sets SPACES_ZERO_GPU), where GPU work must go through spaces.GPU."""
    return spaces is not None and public.on_zerogpu()


def capped(seconds: float) -> int:
    """A duration request in whole seconds, at most what one visitor's call may take here."""
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


def _readable(exc: WorkbenchError) -> Exception:
    """On ZeroGPU a worker's exception reaches the page as "ZeroGPU worker error" unless it is a ``gr.Error``
    (spaces/zero/wrappers.py): there a WorkbenchError's sentence travels as one. Elsewhere it stays itself."""
    if not on_zerogpu():
        return exc
    # Gradio only on ZeroGPU, where its Error carries the sentence: server/ stays free of Gradio elsewhere.
    import gradio as gr  # noqa: PLC0415

    return gr.Error(str(exc))


# --- generation: Chat and Arena ------------------------------------------------------------------------------


def _answer_seconds(model_name, sides, conversations, settings=None, run_dirs=None) -> float:
    return _generation_seconds(settings, len(sides))


@gpu(duration=_answer_seconds)
def stream_answers(
    model_name: str,
    sides: list,
    conversations: list[list[Message]],
    settings: GenerationSettings | None = None,
    run_dirs: Mapping[str, str] | None = None,
) -> Iterator[list[str]]:
    """Every side's text so far as it grows (:func:`workbench.inference.answers.stream_answers`), in the process that
    has the GPU: the Chat tab's one side and the Arena's several.

    ``sides`` are :class:`~workbench.inference.answers.Side` values (run name and LoRA scale), ``run_dirs`` maps each
    run name to its folder (the page's own list), ``conversations[i]`` is what side i reads. The server keeps
    the conversation (:class:`~workbench.inference.arena.ArenaChat`) and the votes; only the texts come back.

    Example:
        >>> for texts in stream_answers("default", [Side("base"), Side("sft-json")], [messages, messages],
        ...                             run_dirs={"sft-json": "runs/sft-json"}):
        ...     print(texts)
    """
    try:
        yield from answers.stream_answers(model_name, sides, conversations, settings, run_dirs)
    except WorkbenchError as exc:
        raise _readable(exc) from exc


@dataclass
class GpuArena:
    """What :class:`~workbench.inference.arena.ArenaChat` asks to answer (``.stream``), sent through
    :func:`stream_answers`. The conversation stays in the server's ArenaChat; the models live where the GPU is."""

    model_name: str
    run_dirs: Mapping[str, str] | None = None

    def stream(self, sides, conversations, settings: GenerationSettings | None = None) -> Iterator[list[str]]:
        run_dirs = None if self.run_dirs is None else {k: str(v) for k, v in self.run_dirs.items()}
        return stream_answers(self.model_name, list(sides), [list(c) for c in conversations], settings, run_dirs)


# --- evaluation ---------------------------------------------------------------------------------------------


def _evaluation_seconds(
    run_dir, data=None, max_samples: int = 32, settings=None, probe: bool = True, judge: str | None = None
) -> float:
    # Answers go in batches of 8 (evaluation._generate_answers), for two sides (base and tuned); a judge reads
    # every pair once more, about as long again.
    tokens = 2 * -(-max_samples // 8) * (settings or evaluation.EVAL_SETTINGS).max_new_tokens
    if probe:
        tokens += 2 * -(-len(load_probe()) // 8) * evaluation.PROBE_SETTINGS.max_new_tokens
    return _STARTUP_SECONDS + (2 if judge else 1) * tokens / _GPU_TOKENS_PER_SECOND


@gpu(duration=_evaluation_seconds)
def evaluate_run(
    run_dir: str | Path,
    data: str | Path | None = None,
    max_samples: int = 32,
    settings=None,
    probe: bool = True,
    judge: str | None = None,
) -> dict:
    """:func:`workbench.evaluation.evaluate.evaluate_run` on the GPU; the report is written into ``<run_dir>/eval``."""
    settings = settings or evaluation.EVAL_SETTINGS
    return evaluation.evaluate_run(run_dir, data, max_samples, settings, probe=probe, judge=judge)


# --- training -----------------------------------------------------------------------------------------------


def stop_file(config) -> Path:
    """The file whose presence stops ``config``'s run: a stop request the forked GPU worker can see too."""
    return run_stop_file(Path(config.output_dir) / config.name)


def run_stop_file(run_dir: str | Path) -> Path:
    """The stop file of the run in ``run_dir`` (beside it, hidden: it is not part of the run folder)."""
    run_dir = Path(run_dir)
    return run_dir.parent / f".{run_dir.name}.stop"


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
    rows = len(dataset) if dataset is not None else (public.caps().max_rows or 1000)
    config = public.apply_caps(config)
    # Without tokenizing the data here, assume examples fill half of max_length: public data is short.
    estimate = estimate_config(config, n_train=rows, mean_tokens=config.max_length / 2)
    return _STARTUP_SECONDS + 1.5 * estimate.seconds


def _resume_seconds(run_dir) -> float:
    return _training_seconds(load_run_config(run_dir))


def _events(work: Callable[[Callable, FileStop], Any], stop: FileStop, name: str) -> Iterator[dict[str, Any]]:
    """Run ``work(on_event, stop)`` (train or resume) in a compute thread and yield its events, then ``finished``.

    A WorkbenchError (bad data, no checkpoint) ends as ``{"type": "finished", "status": "failed", "error"}``:
    on ZeroGPU an exception leaves the worker as a generic "worker error", a yielded sentence arrives intact.
    """
    stop.path.unlink(missing_ok=True)  # a request left over from an earlier run of the same name
    events: queue.Queue = queue.Queue()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            result = work(events.put, stop)
            outcome.update(status=result.status, run_dir=str(result.run_dir))
        except WorkbenchError as exc:
            outcome.update(status="failed", error=str(exc))
        except BaseException as exc:  # re-raised in the consumer below, where the caller can see it
            outcome["exception"] = exc
        finally:
            events.put(None)

    # train() blocks and reports through a callback; a thread turns that into this generator's yields.
    thread = start_compute_thread(run, name=f"train-{name}")
    try:
        while (event := events.get()) is not None:
            yield event
    finally:
        if thread.is_alive():  # the reader went away early: end the run after its current step, adapter saved
            stop.set()
        thread.join()
        stop.path.unlink(missing_ok=True)
    if "exception" in outcome:
        raise outcome["exception"]
    yield {"type": "finished", **outcome}


@gpu(duration=_training_seconds)
def train_events(config, dataset=None) -> Iterator[dict[str, Any]]:
    """Train ``config`` and yield its progress events as they happen; the run folder holds the rest.

    The events are the ones :func:`workbench.training.train` sends to ``on_event`` (events.py), then one
    ``{"type": "finished", "status", "run_dir"}`` (``"error"`` instead of ``"run_dir"`` when it failed).
    Stop the run from any process with ``FileStop(stop_file(config)).set()``; closing the generator early
    stops it too. Public caps are applied here too, so a visitor's run always fits the duration that was
    requested for it.

    Example:
        >>> for event in train_events(TrainConfig(data="sentiment_json", max_steps=2)):
        ...     print(event["type"])
    """
    # train() loads TRL and PEFT: kept off the app's start path.
    from workbench.training import train  # noqa: PLC0415

    config = public.apply_caps(config)
    yield from _events(
        lambda on_event, stop: train(config, on_event=on_event, stop=stop, dataset=dataset),
        FileStop(stop_file(config)),
        config.name,
    )


@gpu(duration=_resume_seconds)
def resume_events(run_dir: str | Path) -> Iterator[dict[str, Any]]:
    """:func:`train_events` for continuing the run in ``run_dir`` from its last checkpoint."""
    from workbench.training import resume  # noqa: PLC0415  (TRL and PEFT, kept off the app's start path)

    yield from _events(
        lambda on_event, stop: resume(Path(run_dir), on_event=on_event, stop=stop),
        FileStop(run_stop_file(run_dir)),
        Path(run_dir).name,
    )


@dataclass(frozen=True)
class Outcome:
    """How a run through :func:`follow` ended (what ``workbench.training.train`` returns, as far as a queue needs)."""

    status: str
    run_dir: str


def follow(
    events: Iterator[dict[str, Any]],
    stop_path: Path,
    on_event: Callable[[dict], None] | None = None,
    stop: threading.Event | None = None,
) -> Outcome:
    """Drive a GPU training generator from the server: each event to ``on_event``, ``stop`` relayed as the stop file.

    This is how the app's training queue trains (``train``/``resume`` below): ``stop`` is set in the server
    process, and the worker (forked on ZeroGPU, a thread elsewhere) only sees files. A failure raises the
    WorkbenchError the run ended with, as ``workbench.training.train`` would.
    """
    done = threading.Event()

    def relay() -> None:
        # Touch again until the run ends: the worker clears a stale stop file as it starts, which may be just after.
        while not done.wait(0.2):
            if stop is not None and stop.is_set():
                FileStop(stop_path).set()

    relay_thread = threading.Thread(target=relay, name=f"stop-relay-{stop_path.name}", daemon=True)
    relay_thread.start()
    finished: dict[str, Any] = {}
    try:
        for event in events:
            if event["type"] == "finished":
                finished = event
            elif on_event is not None:
                on_event(event)
    finally:
        done.set()
        relay_thread.join()
        getattr(events, "close", lambda: None)()
        stop_path.unlink(missing_ok=True)
    if finished.get("error"):
        raise WorkbenchError(finished["error"])
    return Outcome(finished.get("status", "failed"), finished.get("run_dir", ""))


def train(
    config, on_event: Callable[[dict], None] | None = None, stop: threading.Event | None = None, *, dataset=None
) -> Outcome:
    """:func:`workbench.training.train`'s signature, the work done by :func:`train_events` (on the GPU on ZeroGPU)."""
    return follow(train_events(config, dataset), stop_file(config), on_event, stop)


def resume(
    run_dir: str | Path, on_event: Callable[[dict], None] | None = None, stop: threading.Event | None = None
) -> Outcome:
    """:func:`workbench.training.resume`'s signature, the work done by :func:`resume_events`."""
    return follow(resume_events(str(run_dir)), run_stop_file(run_dir), on_event, stop)
