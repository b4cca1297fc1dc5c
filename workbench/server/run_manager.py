"""The server's training queue: first come first served, a set number of trainings at once, one waiting run per learner.

Gradio callbacks only ask this module to submit, cancel or stop a run and read :meth:`RunManager.snapshot`; a
background thread per training calls ``workbench.server.zerogpu.train`` (or ``resume``) with an event sink and a
stop flag: the training itself runs in a ``@spaces.GPU`` call on ZeroGPU (the stop reaches it as a file), in
this process elsewhere. The state lives here (module level, shared by all sessions), not in a session, so closing or
reloading the page neither stops nor forgets a run. Each run belongs to an *owner* (a learner, or an
anonymous browser outside workshop mode): only its owner, or the teacher, can see it live, stop or cancel it.
The queue is capped in total and per owner (``public.caps()``), and kept in a file (:meth:`RunManager.restore`),
so runs still waiting when the server stops are marked dropped in their folders when it starts again.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import torch

from workbench.atomic import atomic_write_text
from workbench.errors import WorkbenchError
from workbench.inference.threads import start_compute_thread
from workbench.server import public, zerogpu
from workbench.training import TrainConfig
from workbench.workspace.runs import DROPPED, STATUS_FILE, mark_dropped, run_status

Status = Literal["idle", "queued", "running", "completed", "stopped", "failed", "cancelled"]
FALLBACK_RUN_SECONDS = 60.0  # a run whose estimate failed still takes a turn; counted as a short one in the waits
HISTORY = 500  # finished runs remembered for the teacher's view (the run folders keep everything else)
QUEUE_FILE = ".queue.json"  # in the runs folder: the runs waiting or starting, for the next server start to see
DROPPED_WHY = "dropped from the queue when the server restarted: start it again"


def concurrent_runs() -> int:
    """Trainings at once: ``WORKBENCH_CONCURRENT_RUNS``, else one per GPU, else 1 (two runs on a CPU only share its
    cores)."""
    value = os.environ.get("WORKBENCH_CONCURRENT_RUNS")
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise WorkbenchError(f"WORKBENCH_CONCURRENT_RUNS={value!r} should be a whole number like 1 or 2") from None
    return max(1, torch.cuda.device_count())


@dataclass
class RunState:
    """What a page needs to draw one run (queued, live or finished); copied out by :meth:`RunManager.snapshot`."""

    status: Status = "idle"
    name: str = ""
    run_dir: str = ""
    step: int = 0
    max_steps: int = 0
    eta_seconds: float | None = None
    records: list[dict[str, Any]] = field(default_factory=list)  # the step events' metrics, for the live plot
    log: list[str] = field(default_factory=list)
    error: str = ""
    started: float = 0.0
    owner: str = ""
    queued_at: float = 0.0
    estimate_seconds: float | None = None
    position: int = 0  # 1 = next to start; 0 when not waiting
    wait_seconds: float | None = None  # estimated time until it starts, while queued

    @property
    def busy(self) -> bool:
        return self.status == "running"

    @property
    def waiting(self) -> bool:
        return self.status == "queued"

    def copy(self) -> RunState:
        return replace(self, records=list(self.records), log=list(self.log))


@dataclass
class _Job:
    state: RunState
    work: Callable[[Callable, threading.Event], Any]  # (on_event, stop) -> a result with .status
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    # The submitting request's context (Gradio's current request among it): on ZeroGPU, spaces.GPU reads the
    # visitor's quota token from it, also when the run starts later from the queue's own thread.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)
    config_yaml: str | None = None  # a new run's config, kept in the queue file; None for a resume

    def saved(self) -> dict[str, Any]:
        """What the queue file keeps of this job: enough to say, after a restart, that it never ran."""
        return {"run_dir": self.state.run_dir, "status": self.state.status, "config": self.config_yaml}


class RunManager:
    """A FIFO of trainings, ``concurrency`` of them running at once.

    ``train_fn`` and ``resume_fn`` default to the workbench's own through :mod:`workbench.server.zerogpu`; tests inject
    fakes with the same signatures.

    Example:
        >>> ok, message = MANAGER.submit(TrainConfig(data="sentiment_json", max_steps=5), owner="ana")
        >>> MANAGER.snapshot("ana").status
        'running'
    """

    def __init__(
        self, train_fn: Callable = zerogpu.train, resume_fn: Callable = zerogpu.resume, concurrency: int | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._train, self._resume, self._concurrency = train_fn, resume_fn, concurrency
        self._queue: list[_Job] = []
        self._running: list[_Job] = []
        self._latest: dict[str, _Job] = {}  # each owner's most recent run, whatever its status
        self._history: list[_Job] = []
        self._queue_file: Path | None = None  # set by restore(); None: the queue lives in memory only

    @property
    def concurrency(self) -> int:
        return self._concurrency or concurrent_runs()

    # -- a learner's actions ------------------------------------------------------------------------------
    def submit(
        self, config: TrainConfig, dataset=None, owner: str = "", estimate_seconds: float | None = None
    ) -> tuple[bool, str]:
        """Queue ``config`` for ``owner``; it starts at once when a slot is free. (False, why) when refused."""
        try:
            config = config.resolved()
        except WorkbenchError as exc:
            return False, str(exc)
        run_dir = Path(config.output_dir) / config.name
        with self._lock:
            taken = run_dir.exists() and any(run_dir.iterdir()) and run_status(run_dir).status != DROPPED
            if taken and not config.overwrite or self._live(str(run_dir)):
                return False, f"a run named {config.name} already exists: pick another name"
            state = RunState(
                status="queued",
                name=config.name,
                run_dir=str(run_dir),
                owner=owner,
                queued_at=time.time(),
                max_steps=max(config.max_steps, 0),
                estimate_seconds=estimate_seconds,
            )
            state.log.append(f"queued {config.name}: {config.method} + {config.adaptation}")
            return self._enqueue(
                _Job(
                    state,
                    lambda on_event, stop: self._train(config, on_event=on_event, stop=stop, dataset=dataset),
                    config_yaml=config.to_yaml(),
                )
            )

    def submit_resume(
        self, run_dir: str | Path, owner: str = "", estimate_seconds: float | None = None
    ) -> tuple[bool, str]:
        """Queue the continuation of an interrupted or stopped run from its last checkpoint."""
        run_dir = Path(run_dir)
        with self._lock:
            if self._live(str(run_dir)):
                return False, f"{run_dir.name} is already queued or training"
            state = RunState(
                status="queued",
                name=run_dir.name,
                run_dir=str(run_dir),
                owner=owner,
                queued_at=time.time(),
                estimate_seconds=estimate_seconds,
            )
            state.log.append(f"queued: resume {run_dir.name} from its last checkpoint")
            return self._enqueue(
                _Job(state, lambda on_event, stop: self._resume(run_dir, on_event=on_event, stop=stop))
            )

    def cancel(self, owner: str) -> str:
        """Take ``owner``'s waiting run out of the queue (a running one is stopped with :meth:`stop`)."""
        with self._lock:
            job = next((j for j in self._queue if j.state.owner == owner), None)
            if job is None:
                return "nothing of yours is waiting"
            self._queue.remove(job)
            self._finish(job, "cancelled", "")
            self._save()
            return f"cancelled {job.state.name}: it left the queue"

    def stop(self, owner: str) -> str:
        """Ask ``owner``'s running training to stop after its current step (the adapter is still saved); a waiting
        one is cancelled. Nobody else's run is touched, whoever asks."""
        with self._lock:
            job = next((j for j in self._running if j.state.owner == owner), None)
            waiting = any(j.state.owner == owner for j in self._queue)
        if job is None:
            return self.cancel(owner) if waiting else "nothing is training"
        return self._request_stop(job)

    # -- the teacher's actions ----------------------------------------------------------------------------
    def stop_run(self, run_dir: str | Path) -> str:
        """Stop (or take out of the queue) the run in ``run_dir``, whoever owns it."""
        with self._lock:
            queued = next((j for j in self._queue if j.state.run_dir == str(run_dir)), None)
            if queued is not None:
                self._queue.remove(queued)
                self._finish(queued, "cancelled", "")
                self._save()
                return f"cancelled {queued.state.name}"
            job = next((j for j in self._running if j.state.run_dir == str(run_dir)), None)
        return self._request_stop(job) if job is not None else f"{Path(run_dir).name} is not training"

    def stop_all(self) -> None:
        """Empty the queue and stop every training (resetting the room)."""
        with self._lock:
            for job in self._queue:
                self._finish(job, "cancelled", "")
            self._queue.clear()
            self._save()
            running = list(self._running)
        for job in running:
            self._request_stop(job)

    # -- reading ------------------------------------------------------------------------------------------
    def snapshot(self, owner: str = "") -> RunState:
        """A copy of ``owner``'s latest run (its queue position and wait filled in while it waits)."""
        with self._lock:
            job = self._latest.get(owner)
            if job is None:
                return RunState()
            self._fill_waits()
            return job.state.copy()

    def jobs(self) -> list[RunState]:
        """Every run this server process knows: running, then waiting in order, then finished (newest first)."""
        with self._lock:
            self._fill_waits()
            return [j.state.copy() for j in self._running + self._queue + self._history[::-1]]

    def live_run_dirs(self) -> set[str]:
        """Run folders being trained or waiting: the Runs tab must not call them interrupted."""
        with self._lock:
            return {j.state.run_dir for j in self._running + self._queue}

    def wait(self, owner: str | None = None, timeout: float | None = None) -> RunState:
        """Block until ``owner``'s runs (every run when None) have ended (for tests and scripts); return the latest
        state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [j for j in self._running + self._queue if owner is None or j.state.owner == owner]
            if not pending or (deadline is not None and time.monotonic() >= deadline):
                break
            thread = pending[0].thread
            if thread is not None:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            else:
                time.sleep(0.05)
        if owner is None:
            with self._lock:
                last = self._history[-1] if self._history else None
            return last.state.copy() if last else RunState()
        return self.snapshot(owner)

    # -- a server start ---------------------------------------------------------------------------------------
    def restore(self, queue_file: str | Path) -> list[str]:
        """Keep this queue in ``queue_file`` from now on; first mark the runs an earlier server left in it as
        dropped (they never started, or never reached their folder), and return their folders.

        They are not started again: a run's data may have been a visitor's upload held in memory, and on ZeroGPU
        its GPU time is billed to the visitor who pressed Start, who is gone. A run that had started has its own
        status.json, which reads "interrupted" once its process is gone (the Runs tab offers Resume).
        """
        queue_file = Path(queue_file)
        try:
            left = json.loads(queue_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            left = []
        dropped = []
        for entry in left if isinstance(left, list) else []:
            try:
                run_dir, config_yaml, status = Path(entry["run_dir"]), entry["config"], entry["status"]
            except (KeyError, TypeError):
                continue  # a hand-edited or foreign file: nothing to say about it
            if not isinstance(config_yaml, (str, type(None))):
                continue
            if config_yaml is None:  # a resume: it ran if it left the queue (its status.json then says so)
                never_ran = status == "queued" and run_dir.is_dir()
            else:  # a new run: it ran if it reached its folder
                never_ran = not (run_dir / STATUS_FILE).is_file()
            if never_ran:
                with suppress(OSError):  # a full or read-only disk must not stop the server from starting
                    mark_dropped(run_dir, config_yaml, DROPPED_WHY)
                    dropped.append(str(run_dir))
        with self._lock:
            self._queue_file = queue_file
            self._save()
        return dropped

    # -- inside -------------------------------------------------------------------------------------------
    def _save(self) -> None:
        """Write the live jobs to the queue file (lock held). A failed write (a full disk) costs only the notice
        after a restart, so the queue goes on without it."""
        if self._queue_file is None:
            return
        with suppress(OSError):
            atomic_write_text(self._queue_file, json.dumps([j.saved() for j in self._running + self._queue]) + "\n")

    def _live(self, run_dir: str) -> bool:
        return any(j.state.run_dir == run_dir for j in self._running + self._queue)

    def _enqueue(self, job: _Job) -> tuple[bool, str]:
        """Called with the lock held."""
        owner, caps = job.state.owner, public.caps()
        if sum(j.state.owner == owner for j in self._queue) >= caps.runs_waiting_per_owner:
            runs = "a run" if caps.runs_waiting_per_owner == 1 else f"{caps.runs_waiting_per_owner} runs"
            return False, f"you already have {runs} waiting in the queue: cancel it first, or wait for it to start"
        if len(self._queue) >= caps.runs_waiting:
            return False, (
                f"the training queue is full ({caps.runs_waiting} runs waiting, the most this server takes): "
                "try again when some have started"
            )
        self._queue.append(job)
        self._latest[owner] = job
        self._dispatch()
        self._save()
        if job.state.status == "running":
            return True, f"started {job.state.name}"
        self._fill_waits()
        return True, f"queued {job.state.name}: {waiting_text(job.state)}"

    def _dispatch(self) -> None:
        """Start waiting runs while there are free slots (lock held)."""
        while self._queue and len(self._running) < self.concurrency:
            job = self._queue.pop(0)
            job.state.status, job.state.started, job.state.position, job.state.wait_seconds = (
                "running",
                time.time(),
                0,
                None,
            )
            job.state.log.append(f"starting {job.state.name}")
            self._running.append(job)
            # A daemon thread: stopping the server must not wait for a long run to finish.
            job.thread = start_compute_thread(
                lambda job=job: job.context.run(self._run, job), name=f"train-{job.state.name}"
            )

    def _fill_waits(self) -> None:
        """Each waiting run's position and estimated wait: runs ahead of it take the first free slot in turn (lock
        held)."""
        now = time.time()
        slots = []
        for job in self._running:
            s = job.state
            left = (
                s.eta_seconds
                if s.eta_seconds is not None
                else (s.estimate_seconds or FALLBACK_RUN_SECONDS) - (now - s.started)
            )
            slots.append(max(0.0, left))
        slots += [0.0] * max(0, self.concurrency - len(slots))
        for position, job in enumerate(self._queue, start=1):
            slots.sort()
            job.state.position, job.state.wait_seconds = position, slots[0]
            slots[0] += job.state.estimate_seconds or FALLBACK_RUN_SECONDS

    def _request_stop(self, job: _Job) -> str:
        with self._lock:
            if job.state.status != "running":
                return "nothing is training"
            if job.stop.is_set():  # a double click: one stop is enough
                return f"already stopping {job.state.name}: it ends after the current step"
            job.stop.set()
            job.state.log.append("stop requested: finishing the current step, then saving the adapter")
            return f"stopping {job.state.name} after the current step"

    def _finish(self, job: _Job, status: Status, error: str) -> None:
        """Record the end of ``job`` (lock held)."""
        job.state.status, job.state.error, job.state.position, job.state.wait_seconds = status, error, 0, None
        if error:
            job.state.log.append(f"failed: {error}")
        elif status == "cancelled":
            job.state.log.append("cancelled while waiting")
        self._history = (self._history + [job])[-HISTORY:]

    def _on_event(self, job: _Job, event: dict[str, Any]) -> None:
        with self._lock:
            s = job.state
            if event["type"] == "step":
                s.step, s.max_steps, s.eta_seconds = event["step"], event["max_steps"], event["eta_seconds"]
                s.records.append({"step": event["step"], **event["metrics"]})
                shown = {
                    k: round(v, 4) for k, v in event["metrics"].items() if k in ("loss", "eval_loss", "learning_rate")
                }
                s.log.append(
                    f"step {event['step']}/{event['max_steps']}: " + ", ".join(f"{k} {v:g}" for k, v in shown.items())
                )
            elif event["type"] == "log":
                s.log.append(event["message"])
            elif event["type"] == "done":
                s.log.append(f"{event['status']} after {event['steps']} steps: {event['run_dir']}")

    def _run(self, job: _Job) -> None:
        try:
            result = job.work(lambda event: self._on_event(job, event), job.stop)
            status, error = result.status, ""
        except WorkbenchError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # anything else is a bug, but the page must say so rather than spin forever
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        with self._lock:
            self._running.remove(job)
            self._finish(job, status, error)
            self._dispatch()
            self._save()


def waiting_text(state: RunState) -> str:
    """'position 2 in the queue, about 3 min' for a waiting run."""
    wait = state.wait_seconds
    about = (
        "starting now"
        if wait is not None and wait < 1
        else (f"about {wait / 60:.0f} min" if wait and wait >= 90 else f"about {wait or 0:.0f} s")
    )
    return f"position {state.position} in the queue, {about}"


# Shared by every session of this server process: the one queue, whoever submits.
MANAGER = RunManager()
