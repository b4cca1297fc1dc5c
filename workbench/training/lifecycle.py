"""A run's lifecycle on disk: claim its folder atomically, record its status, and decide whether it may resume.

run.py calls these at the edges of a run; the status itself lives in runs.py (``run_status``), which the app
reads to tell a finished run from one that an app restart or a kill cut short.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from workbench.atomic import atomic_write_text
from workbench.errors import WorkbenchError
from workbench.workspace.runs import ADAPTER_DIR, CONFIG_FILE, MODEL_DIR, STATUS_FILE, run_status, write_status

# The status of a run a server had queued when it restarted: it never started, so its name is free again.
DROPPED = "dropped"


def mark_dropped(run_dir: Path, config_yaml: str | None, why: str) -> None:
    """Record in ``run_dir`` that a queued run never started: a new folder with its config and ``why`` (so the
    Runs tab lists it), or, for a queued resume, the run's own status."""
    if config_yaml is None:
        write_status(run_dir, "interrupted", error=why)
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / CONFIG_FILE, config_yaml)
    write_status(run_dir, DROPPED, error=why)


def claim_run_dir(run_dir: Path, overwrite: bool, data_hash: str = "") -> None:
    """Create ``run_dir`` for this process alone, or raise: two starts with one name cannot share a folder.

    ``mkdir`` without ``exist_ok`` and an ``O_EXCL`` status file are atomic, so of two processes racing for
    one name exactly one wins, where an exists-then-create check leaves a window for both.
    """
    taken = WorkbenchError(
        f"run folder {run_dir} already exists: pick another name (--set name=...), continue it with "
        f"`workbench train --resume {run_dir}`, or set overwrite: true"
    )
    status = run_status(run_dir).status if run_dir.is_dir() else None
    if overwrite and run_dir.exists():
        if status == "running":
            raise WorkbenchError(f"run {run_dir.name} is training right now (status.json): overwrite refused")
        shutil.rmtree(run_dir)
    elif status == DROPPED:
        shutil.rmtree(run_dir, ignore_errors=True)
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        run_dir.mkdir()
    except FileExistsError:
        if not run_dir.is_dir() or not run_dir.parent.is_dir():
            raise _not_a_folder(run_dir) from None
        if any(p.name != STATUS_FILE for p in run_dir.iterdir()):
            raise taken from None
    except NotADirectoryError:
        raise _not_a_folder(run_dir) from None
    except PermissionError as exc:
        raise WorkbenchError(
            f"cannot create the run folder {run_dir}: {exc.strerror}; set output_dir to a folder you can write to"
        ) from None
    try:
        os.close(os.open(run_dir / STATUS_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        raise taken from None
    write_status(run_dir, "running", step=0, data_hash=data_hash)


def _not_a_folder(run_dir: Path) -> WorkbenchError:
    file = next((p for p in (run_dir, *run_dir.parents) if p.exists() and not p.is_dir()), run_dir)
    return WorkbenchError(f"{file} is a file, not a folder: set output_dir to a folder (runs/ is the default)")


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
