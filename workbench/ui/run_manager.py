"""The one training run a server does at a time, in a background thread that outlives any browser tab.

Gradio callbacks only ask this module to start or stop a run and read :meth:`RunManager.snapshot`; the
thread calls ``workbench.training.train`` with an event sink and a stop flag. Because the state lives
here (module level, shared by all sessions) and not in a session, closing or reloading the page does not
stop the run, and every visitor sees the same live progress.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from workbench.errors import WorkbenchError
from workbench.threads import start_compute_thread
from workbench.training import TrainConfig, train

Status = Literal["idle", "running", "completed", "stopped", "failed"]


def runs_root() -> Path:
    """Where the app writes run folders: ``WORKBENCH_RUNS`` if set, else ``runs/``."""
    return Path(os.environ.get("WORKBENCH_RUNS") or "runs")


@dataclass
class RunState:
    """What a page needs to draw the current (or last) run; copied out by :meth:`RunManager.snapshot`."""

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

    @property
    def busy(self) -> bool:
        return self.status == "running"


class RunManager:
    """Starts at most one training thread and records its events.

    Example:
        >>> ok, message = MANAGER.start(TrainConfig(data="data_samples/sentiment_json.train.jsonl", max_steps=5))
        >>> MANAGER.snapshot().status
        'running'
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = RunState()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, config: TrainConfig, dataset=None) -> tuple[bool, str]:
        """Start ``config`` in the background; (False, why) when a run is already going or the config is bad."""
        with self._lock:
            if self._state.busy:
                return False, f"busy: {self._state.name} is training, try later"
            try:
                config = config.resolved()
            except WorkbenchError as exc:
                return False, str(exc)
            run_dir = Path(config.output_dir) / config.name
            if run_dir.exists() and any(run_dir.iterdir()) and not config.overwrite:
                return False, f"a run named {config.name} already exists: pick another name"
            self._stop = threading.Event()
            self._state = RunState(status="running", name=config.name, run_dir=str(run_dir), started=time.time(),
                                   max_steps=max(config.max_steps, 0))
            self._state.log.append(f"starting {config.name}: {config.method} + {config.adaptation}")
            # A daemon thread: stopping the server must not wait for a long run to finish.
            stop = self._stop
            self._thread = start_compute_thread(lambda: self._run(config, dataset, stop), name=f"train-{config.name}")
        return True, f"started {config.name}"

    def stop(self) -> str:
        """Ask the running training to stop after its current step (the adapter is still saved)."""
        with self._lock:
            if not self._state.busy:
                return "nothing is training"
            if self._stop.is_set():  # a double click, or two visitors: one stop is enough
                return f"already stopping {self._state.name}: it ends after the current step"
            self._stop.set()
            self._state.log.append("stop requested: finishing the current step, then saving the adapter")
            return f"stopping {self._state.name} after the current step"

    def snapshot(self) -> RunState:
        """A copy of the state, safe to read while the thread keeps writing."""
        with self._lock:
            s = self._state
            return RunState(s.status, s.name, s.run_dir, s.step, s.max_steps, s.eta_seconds, list(s.records),
                            list(s.log), s.error, s.started)

    def wait(self, timeout: float | None = None) -> RunState:
        """Block until the current run ends (for tests and scripts), then return the state."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.snapshot()

    def _on_event(self, event: dict[str, Any]) -> None:
        with self._lock:
            s = self._state
            if event["type"] == "step":
                s.step, s.max_steps, s.eta_seconds = event["step"], event["max_steps"], event["eta_seconds"]
                s.records.append({"step": event["step"], **event["metrics"]})
                shown = {k: round(v, 4) for k, v in event["metrics"].items() if k in ("loss", "eval_loss", "learning_rate")}
                s.log.append(f"step {event['step']}/{event['max_steps']}: " + ", ".join(f"{k} {v:g}" for k, v in shown.items()))
            elif event["type"] == "log":
                s.log.append(event["message"])
            elif event["type"] == "done":
                s.log.append(f"{event['status']} after {event['steps']} steps: {event['run_dir']}")

    def _run(self, config: TrainConfig, dataset, stop: threading.Event) -> None:
        try:
            result = train(config, on_event=self._on_event, stop=stop, dataset=dataset)
            status, error = result.status, ""
        except WorkbenchError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # anything else is a bug, but the page must say so rather than spin forever
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        with self._lock:
            self._state.status = status
            self._state.error = error
            if error:
                self._state.log.append(f"failed: {error}")


# Shared by every session of this server process: one training at a time, whoever started it.
MANAGER = RunManager()
