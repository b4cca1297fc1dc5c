"""The run folder: its layout, and how a run is listed and read (config, adapter, metrics, checkpoints).

Layout of ``runs/<name>/`` (read by compare, evaluation, export and the app, always through this module)::

    config.yaml      the resolved TrainConfig (``model`` holds the workbench model name)
    metrics.jsonl    one JSON object per logged step: step, loss, learning_rate, eval_loss, tokens_per_second,
                     DPO rewards/*
    adapter/         LoRA/QLoRA: PEFT adapter (safetensors) + tokenizer;  full: model/ instead
    checkpoints/     resumable Trainer checkpoints (checkpoint-<step>/)
    loss.png         the loss curve
    estimate.json    estimated vs measured peak memory and time
    README.md        the model card
    eval/            workbench eval's report: eval.json, eval.md, before_after.png
    status.json      running / completed / stopped / failed, with the process (pid, host) and the data's hash
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from safetensors import SafetensorError, safe_open

from workbench.atomic import atomic_write_text
from workbench.errors import WorkbenchError
from workbench.models import DEFAULT_MODEL

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
ADAPTER_DIR = "adapter"
MODEL_DIR = "model"
CHECKPOINTS_DIR = "checkpoints"
LOSS_PLOT = "loss.png"
ESTIMATE_FILE = "estimate.json"
CARD_FILE = "README.md"
EVAL_DIR = "eval"
STATUS_FILE = "status.json"

# The status of a run a server had queued when it restarted: it never started, so its name is free again.
DROPPED = "dropped"

# "interrupted": the file says running, but the process that wrote it is gone (a crash, kill -9, an app restart).
# The one rule for a run's name (a folder name): letters, digits, '.', '_', '-', starting with a letter or digit.
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# Names the server's own folders use beside runs: none can be a run (or a learner; see learners.RESERVED).
RESERVED_NAMES = frozenset({"arena", "shared", "votes", "uploads", "visitors"})
RunKind = Literal["adapter", "full"]

RunStatusName = Literal["running", "completed", "stopped", "failed", "interrupted", "dropped", "unknown"]


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands, for the app's run lists and for resume."""

    status: RunStatusName
    step: int = 0
    error: str = ""
    pid: int | None = None
    host: str = ""
    data_hash: str = ""

    @property
    def resumable(self) -> bool:
        """Training did not reach its end; ``workbench train --resume`` (or resume()) continues it."""
        return self.status in ("interrupted", "stopped", "failed")

    @property
    def usable(self) -> bool:
        """Its weights are final: evaluate, compare and export may use them."""
        return self.status in ("completed", "stopped", "unknown")


def write_status(run_dir: str | Path, status: str, **fields: Any) -> None:
    """Record the run's status (merged over what is there), stamped with this process and the time."""
    path = Path(run_dir) / STATUS_FILE
    previous = _read_status_file(path)
    record = (
        previous | fields | {"status": status, "pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}
    )
    atomic_write_text(path, json.dumps(record) + "\n")


def run_status(run_dir: str | Path) -> RunStatus:
    """The run's status; a "running" run whose process is gone on this host reads as "interrupted".

    Run folders from before status.json say "unknown" (final weights present) or "interrupted" (none).
    """
    run_dir = Path(run_dir)
    record = _read_status_file(run_dir / STATUS_FILE)
    if not record:
        has_weights = (run_dir / ADAPTER_DIR).is_dir() or (run_dir / MODEL_DIR).is_dir()
        return RunStatus("unknown" if has_weights else "interrupted")
    status = record.get("status", "unknown")
    pid, host = record.get("pid"), record.get("host", "")
    if status == "running" and host == socket.gethostname() and not process_alive(pid):
        status = "interrupted"
    return RunStatus(
        status,
        int(record.get("step") or 0),
        str(record.get("error") or ""),
        pid,
        host,
        str(record.get("data_hash") or ""),
    )


def read_adapter_config(folder: str | Path) -> dict[str, Any]:
    """A PEFT adapter folder's ``adapter_config.json``, checked together with its weights file.

    A truncated or empty ``adapter_model.safetensors`` (a full disk, a copy cut short) and a broken config
    are named here in a sentence, before PEFT or safetensors fail on them with a traceback.
    """
    folder = Path(folder)
    path = folder / "adapter_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WorkbenchError(
            f"{path} is unreadable ({exc.__class__.__name__}): the adapter is broken; train "
            "the run again, or resume it from a checkpoint"
        ) from None
    if not isinstance(config, dict) or not isinstance(config.get("base_model_name_or_path", ""), (str, type(None))):
        raise WorkbenchError(f"{path} is not a PEFT adapter config (expected an object naming its base model)")
    weights = folder / "adapter_model.safetensors"
    try:
        with safe_open(str(weights), "pt") as f:
            if not list(f.keys()):
                raise WorkbenchError(f"{weights} holds no tensors: the adapter is empty; train the run again")
    except (SafetensorError, OSError) as exc:
        raise WorkbenchError(
            f"{weights} is damaged ({str(exc).splitlines()[0]}): the file was cut short or is not "
            "safetensors; train the run again, or resume it from a checkpoint"
        ) from None
    return config


def _read_status_file(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def process_alive(pid: Any) -> bool:
    """Whether a process of this host still runs ``pid``."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    """Append one line and fsync it, so a kill -9 loses at most the line being written.

    A write that fails (a full disk) is cut back off, so the next append does not glue itself onto half a line.
    """
    line = memoryview((json.dumps(record, default=_jsonable) + "\n").encode("utf-8"))
    # os-level writes rather than a buffered file: a buffer would retry the failed bytes when it is closed.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.lseek(fd, 0, os.SEEK_END)
        try:
            while line:
                line = line[os.write(fd, line) :]
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def _jsonable(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every record of ``metrics.jsonl``; a torn last line (a crash mid-write) is skipped."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def truncate_metrics(run_dir: str | Path, last_step: int) -> None:
    """Drop records after ``last_step`` (and torn lines): a resumed run re-logs those steps itself."""
    path = Path(run_dir) / METRICS_FILE
    kept = [r for r in read_metrics(run_dir) if r.get("step", 0) <= last_step and r.get("type") != "summary"]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))


def config_path(run_dir: str | Path) -> Path:
    """Where the run's config is (for messages that point at it)."""
    return Path(run_dir) / CONFIG_FILE


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """The run's resolved config as written (``training.config.load_run_config`` makes it a TrainConfig)."""
    path = config_path(run_dir)
    if not path.is_file():
        raise WorkbenchError(f"{run_dir} is not a run folder: it has no {CONFIG_FILE}")
    try:
        record = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise WorkbenchError(f"{path} is unreadable ({exc.__class__.__name__}): the run's config is broken") from None
    if not isinstance(record, dict):
        raise WorkbenchError(f"{path} is not a run config (expected a mapping of fields)")
    return record


def write_run_config(run_dir: str | Path, text: str) -> None:
    """Write the run's resolved config (YAML), crash-safe."""
    atomic_write_text(config_path(run_dir), text)


def is_run(path: str | Path) -> bool:
    """Whether ``path`` is a run folder (it has a config)."""
    return config_path(path).is_file()


def run_folder_of(path: str | Path) -> Path | None:
    """The run folder ``path`` is, or the one an adapter folder sits in; None for a bare adapter folder."""
    path = Path(path).expanduser()
    return next((folder for folder in (path, path.parent) if is_run(folder)), None)


def is_full_run(run_dir: str | Path) -> bool:
    """A full fine-tuning run holds a whole model (``model/``) instead of an adapter."""
    return (Path(run_dir) / MODEL_DIR / "config.json").is_file()


def adapter_dir(path: str | Path) -> Path:
    """The PEFT adapter folder for a run folder (its ``adapter/``) or a bare adapter folder.

    Raises a WorkbenchError when there is no safetensors adapter there: pickled ``.bin`` adapters can run
    code when loaded, so they are refused.
    """
    path = Path(path).expanduser()
    folder = path / ADAPTER_DIR if (path / ADAPTER_DIR / "adapter_config.json").is_file() else path
    if not (folder / "adapter_config.json").is_file():
        if is_full_run(path):
            raise WorkbenchError(
                f"{path} is a full fine-tuning run: load its {MODEL_DIR}/ folder as a model, not as an adapter"
            )
        raise WorkbenchError(
            f"{path} is neither a run folder with {ADAPTER_DIR}/ nor a PEFT adapter folder (no adapter_config.json)"
        )
    if not (folder / "adapter_model.safetensors").is_file():
        raise WorkbenchError(f"{folder} has no adapter_model.safetensors: only safetensors adapters are loaded")
    read_adapter_config(folder)  # a damaged config or weights file is a sentence here, not a traceback in PEFT
    return folder


def adapter_base_name(path: str | Path) -> str:
    """The workbench model name the adapter was trained on (``base_model_name_or_path``, written by training)."""
    return read_adapter_config(adapter_dir(path)).get("base_model_name_or_path") or DEFAULT_MODEL


def list_runs(root: str | Path = "runs") -> list[Path]:
    """Run folders under ``root`` (those with a config.yaml), newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if is_run(p)]
    return sorted(runs, key=lambda p: (p / CONFIG_FILE).stat().st_mtime, reverse=True)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint: the Trainer writes trainer_state.json last, so a checkpoint whose
    trainer_state.json is missing or torn (a kill or a full disk mid-save) is skipped for the one before."""
    folder = Path(run_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return None
    done = [
        p
        for p in folder.glob("checkpoint-*")
        if p.name.rsplit("-", 1)[1].isdigit() and _readable_json(p / "trainer_state.json")
    ]
    return max(done, key=lambda p: int(p.name.rsplit("-", 1)[1]), default=None)


def _readable_json(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
        return True
    except (OSError, ValueError):
        return False


def check_run_name(name: str) -> str:
    """``name`` when it can name a run folder; else a WorkbenchError saying why (the one run-name rule)."""
    shown = repr(name[:60]) if isinstance(name, str) else repr(name)
    if not isinstance(name, str) or not RUN_NAME.fullmatch(name) or ".." in name:
        raise WorkbenchError(
            f"run name {shown} must be a plain folder name (letters, digits, '.', '_', '-'; "
            "no '/', no '..'; at most 100 characters)"
        )
    if name.lower() in RESERVED_NAMES:
        raise WorkbenchError(f"run name {shown} is reserved for the server's own folders: choose another")
    return name


def base_quantization(adaptation: str) -> str | None:
    """How a run's frozen base is loaded, while training and whenever the run answers: 4-bit NF4 for QLoRA
    (the adapter learned to correct that base), else full precision."""
    return "4bit" if adaptation == "qlora" else None


def run_kind(run_dir: str | Path) -> RunKind | None:
    """What answers for a run: its LoRA adapter, its full model, or nothing yet (training, failed)."""
    run_dir = Path(run_dir)
    if (run_dir / ADAPTER_DIR / "adapter_config.json").is_file():
        return "adapter"
    return "full" if is_full_run(run_dir) else None


@dataclass(frozen=True)
class RunInfo:
    """What every caller needs to know about a run folder, read in one place."""

    path: Path
    method: str
    adaptation: str
    base: str  # the workbench model name the run trained on, and answers on
    quantization: str | None  # how that base is loaded (base_quantization)
    kind: RunKind | None

    @property
    def name(self) -> str:
        return self.path.name


def run_info(path: str | Path) -> RunInfo:
    """A run's method, adaptation, base model and its quantization, and what answers; for a run folder, the adapter
    folder inside it, or a bare PEFT adapter folder (a WorkbenchError for anything else)."""
    path = Path(path).expanduser()
    run_dir = run_folder_of(path)
    if run_dir is None:  # a bare adapter folder: a LoRA adapter on the full-precision base it names
        return RunInfo(path, "sft", "lora", adapter_base_name(path), None, "adapter")
    config = read_run_config(run_dir)
    adaptation = str(config.get("adaptation") or "lora")
    kind = run_kind(run_dir)
    base = adapter_base_name(run_dir) if kind == "adapter" else str(config.get("model") or DEFAULT_MODEL)
    return RunInfo(run_dir, str(config.get("method") or "sft"), adaptation, base, base_quantization(adaptation), kind)


def answering_runs(root: str | Path) -> list[Path]:
    """Run folders under ``root`` that can answer (a LoRA adapter or a full model), newest first."""
    return [p for p in list_runs(root) if run_kind(p) is not None]


def claim_run_dir(run_dir: Path, overwrite: bool, data_hash: str = "") -> None:
    """Create ``run_dir`` for this process alone, or raise: two starts with one name cannot share a folder.

    ``mkdir`` without ``exist_ok`` and an ``O_EXCL`` status file are atomic, so of two processes racing for
    one name exactly one wins, where an exists-then-create check leaves a window for both.
    """
    check_run_name(run_dir.name)
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


def mark_dropped(run_dir: Path, config_yaml: str | None, why: str) -> None:
    """Record in ``run_dir`` that a queued run never started: a new folder with its config and ``why`` (so the
    Runs tab lists it), or, for a queued resume, the run's own status."""
    if config_yaml is None:
        write_status(run_dir, "interrupted", error=why)
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run_config(run_dir, config_yaml)
    write_status(run_dir, DROPPED, error=why)


def _not_a_folder(run_dir: Path) -> WorkbenchError:
    file = next((p for p in (run_dir, *run_dir.parents) if p.exists() and not p.is_dir()), run_dir)
    return WorkbenchError(f"{file} is a file, not a folder: set output_dir to a folder (runs/ is the default)")


def delete_run(run_dir: Path) -> None:
    """Delete a run folder, unless a process is training it (here or anywhere its status says it is running)."""
    status = run_status(run_dir)
    if status.status == "running":
        raise WorkbenchError(f"{run_dir.name} is training right now (pid {status.pid} on {status.host}): stop it first")
    shutil.rmtree(run_dir, ignore_errors=True)
