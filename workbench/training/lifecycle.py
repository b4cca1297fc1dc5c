"""A run's lifecycle on disk: what a failure leaves, whether the data changed, and whether a run may resume.

pipeline.py and grpo.py call these at the edges of a run; the status itself, and claiming the folder, live in
workspace/runs.py (``run_status``), which the app reads to tell a finished run from one that an app restart or a kill
cut short.
"""

from __future__ import annotations

import json
import shutil
from contextlib import suppress
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.workspace.runs import ADAPTER_DIR, MODEL_DIR, read_metrics, run_status, write_status


def record_failure(run_dir: Path, exc: BaseException) -> None:
    """A run that failed before logging anything (bad target modules, wrong data) leaves no folder behind; one
    that trained keeps its metrics and checkpoints for diagnosis and resume, its status saying failed. On a full
    disk this small write can fail too: the error the user needs is the one being raised, so the status then
    stays as it was."""
    if not read_metrics(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    with suppress(OSError):
        write_status(run_dir, "failed", error=str(exc)[:500] or type(exc).__name__)


def check_resumable(run_dir: Path, checkpoint: Path) -> None:
    """Refuse to resume a run that already reached its last step (the Trainer would train one more each time)."""
    status = run_status(run_dir)
    if status.status == "running":
        raise WorkbenchError(
            f"{run_dir} is training right now (pid {status.pid} on {status.host}): wait for it or stop it"
        )
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        done, planned = int(state["global_step"]), int(state["max_steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return  # latest_checkpoint() only returns checkpoints whose state parses; be lenient on odd ones
    # A run that trained every step but could not save its weights (a full disk) resumes to save them.
    saved = (run_dir / ADAPTER_DIR).is_dir() or (run_dir / MODEL_DIR).is_dir()
    if status.status == "completed" or (done >= planned > 0 and saved):
        raise WorkbenchError(
            f"{run_dir.name} already finished all its {planned} steps: nothing to resume. To train further, start a "
            "new run (raise max_steps or epochs), e.g. with the same config and another name"
        )


def track_data(run_dir: Path, data_hash: str, resuming: bool) -> list[str]:
    """Record the data's hash when a run starts; when it resumes, a warning if the data is not what it started on."""
    recorded = run_status(run_dir).data_hash
    if not resuming or not recorded:
        write_status(run_dir, "running", data_hash=data_hash)
        return []
    if recorded != data_hash:
        return [
            f"warning: the training data changed since this run started (hash {recorded} then, {data_hash} now): "
            "the resumed steps train on different examples than the first ones"
        ]
    return []


def dropped_examples(before: int, after: int, max_length: int) -> list[str]:
    """A warning when TRL left examples out (truncation left them no trained token), else nothing."""
    if after >= before:
        return []
    return [
        f"warning: {before - after} of {before} training examples have no trained token left after truncation "
        f"to max_length={max_length}; TRL leaves them out, training on {after}. Raise max_length or shorten "
        "the prompts"
    ]
