"""Turn the Trainer's logs into progress events, append them to metrics.jsonl, and honour stop requests.

An event is a small dict: ``{"type": "step", "step", "max_steps", "metrics", "eta_seconds"}`` after a
logged step, ``{"type": "log", "message"}`` for news, ``{"type": "done", "run_dir", ...}`` at the end.
The app turns them into a progress bar and live plot, notebooks into tqdm (see ``notebook.py``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from workbench.workspace.runs import METRICS_FILE, append_jsonl

Event = dict[str, Any]
OnEvent = Callable[[Event], None]

# Keys worth a line in metrics.jsonl (what compare/eval/app read); the Trainer's other keys are noise.
_SKIP = {"total_flos"}


class ProgressCallback(TrainerCallback):
    """Writes metrics.jsonl (rank 0 only), emits events, stops on request or when the loss is not finite."""

    def __init__(self, run_dir: Path, on_event: OnEvent | None = None, stop: threading.Event | None = None):
        self.run_dir = Path(run_dir)
        self.on_event = on_event
        self.stop = stop
        self.nonfinite: tuple[int, str, float] | None = None  # (step, key, value) of the first NaN/inf loss
        self.stopped_by_request = False
        self._start_time: float | None = None
        self._start_step = 0
        self._last_tokens: tuple[float, int] | None = None

    def emit(self, event: Event) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception as exc:  # a broken progress display must not kill a long run
                print(f"warning: progress callback failed: {exc}")

    def on_train_begin(self, args, state, control, **kwargs):
        self._start_time = time.perf_counter()
        self._start_step = state.global_step
        self._last_tokens = (self._start_time, state.num_input_tokens_seen)
        self.emit({"type": "log", "message": f"training started at step {state.global_step} of {state.max_steps}"})

    def on_step_end(self, args, state, control, **kwargs):
        if self.stop is not None and self.stop.is_set():
            # Checked after the optimizer step, so the adapter that gets saved is a complete update.
            self.stopped_by_request = True
            control.should_training_stop = True
        if self.nonfinite is not None:
            control.should_training_stop = True

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = dict(logs or {})
        now = time.perf_counter()
        record: dict[str, Any] = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
        summary = "train_loss" in logs  # the end-of-training summary (train_runtime comes with every log)
        if summary:
            record["type"] = "summary"
        for key, value in logs.items():
            if key not in _SKIP:
                record[key] = value
        if "loss" in logs and self._last_tokens is not None and state.num_input_tokens_seen:
            t0, n0 = self._last_tokens
            if now > t0 and state.num_input_tokens_seen > n0:
                record["tokens_per_second"] = round((state.num_input_tokens_seen - n0) / (now - t0), 2)
            self._last_tokens = (now, state.num_input_tokens_seen)
        record["time"] = round(time.time(), 3)
        for key in ("loss", "eval_loss"):
            value = logs.get(key)
            if isinstance(value, (int, float)) and not math.isfinite(value) and self.nonfinite is None:
                self.nonfinite = (state.global_step, key, value)
                control.should_training_stop = True
        if state.is_world_process_zero:
            append_jsonl(self.run_dir / METRICS_FILE, record)
        if not summary:
            self.emit(
                {
                    "type": "step",
                    "step": state.global_step,
                    "max_steps": state.max_steps,
                    "metrics": {k: v for k, v in record.items() if k not in ("step", "time")},
                    "eta_seconds": self.eta(state.global_step, state.max_steps, now),
                }
            )
        if self.stop is not None and self.stop.is_set():  # a request made while this step was being logged
            self.stopped_by_request = True
            control.should_training_stop = True

    def eta(self, step: int, max_steps: int, now: float) -> float | None:
        done = step - self._start_step
        if self._start_time is None or done <= 0:
            return None
        return round((now - self._start_time) / done * max(max_steps - step, 0), 1)
