"""Faults a workshop meets: kill -9 mid-conversion and mid-checkpoint, a full disk, many starts at once.

Each ends with nothing half-written being trusted, the earlier files intact, and a way on (resume or rebuild).
Kills happen in a child process at a chosen moment of a real write: the child replaces the writer with one
that writes half the bytes, then sends itself SIGKILL. (Kill -9 mid-training: test_training_resume.py.)
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from datasets import Dataset

from workbench.errors import WorkbenchError
from workbench.training import TrainConfig, resume, train
from workbench.workspace.runs import METRICS_FILE, latest_checkpoint

ROWS = [
    {"messages": [{"role": "user", "content": f"Label {i}"}, {"role": "assistant", "content": f'{{"label": {i % 3}}}'}]}
    for i in range(24)
]
# Imported by the child before it runs: `die_half_written(path, data)` writes half of ``data`` and dies.
DIE_HALF_WRITTEN = """
import os, signal
def die_half_written(path, data):
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
    os.kill(os.getpid(), signal.SIGKILL)
"""


def run_child(script: str, **env: str) -> subprocess.CompletedProcess:
    code = DIE_HALF_WRITTEN + textwrap.dedent(script)
    child_env = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    return subprocess.run([sys.executable, "-c", code], env=child_env, capture_output=True, text=True, timeout=600)


def run_config(model_dir: Path, root: Path, name: str = "run") -> dict:
    return dict(
        model=str(model_dir),
        output_dir=str(root),
        name=name,
        data=str(root / "data.jsonl"),
        max_steps=6,
        batch_size=4,
        max_length=64,
        learning_rate=5e-3,
        eval_fraction=0.0,
        save_steps=2,
        precision="fp32",
    )


def metric_lines(run_dir: Path) -> list[dict]:
    """Every line of metrics.jsonl, parsed: a torn or glued line fails here, where read_metrics would skip it."""
    return [json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines()]


def assert_steps_once_each(run_dir: Path, last: int) -> None:
    steps = [r["step"] for r in metric_lines(run_dir) if "loss" in r]
    assert steps == list(range(1, last + 1)), f"metric lines lost or repeated: {steps}"


def assert_loadable_adapter(folder: Path, base: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), folder)


@pytest.mark.embedded
def test_kill_9_during_default_model_conversion_is_rebuilt_never_half_loaded(tmp_path):
    from workbench.atomic import staging_name
    from workbench.models import _is_complete, default_model_dir, load_model

    # The child converts the embedded GGUF for real and dies halfway through writing the weights.
    child = run_child(
        """
        import transformers.modeling_utils as modeling
        from safetensors.torch import save
        modeling.safe_save_file = lambda tensors, path, metadata=None: die_half_written(
            path, save(tensors, metadata=metadata)
        )
        from workbench.models import ensure_default_model
        ensure_default_model()
    """,
        WORKBENCH_CACHE=str(tmp_path),
    )
    assert child.returncode == -9, child.stderr[-2000:]
    os.environ["WORKBENCH_CACHE"] = str(tmp_path)  # default_model_dir() reads it
    try:
        target = default_model_dir()
        half = list(target.parent.glob(f"{staging_name(target)}*"))
        assert half and (half[0] / "model.safetensors").is_file(), "the kill came mid-write"
        assert not _is_complete(target), "the half-written folder never takes the cache's name"

        lm = load_model("default")  # the next start converts again
        assert _is_complete(target) and lm.path == str(target)
        assert not list(target.parent.glob(f"{staging_name(target)}*")), "the killed conversion's 540 MB are cleaned up"
        assert sum(p.numel() for p in lm.model.parameters()) > 100e6
    finally:
        del os.environ["WORKBENCH_CACHE"]


@pytest.mark.parametrize(
    ("moment", "patch"),
    [
        (
            "writing the adapter weights",
            """
            import peft.peft_model as peft_model
            from safetensors.torch import save
            real = peft_model.safe_save_file
            def save_file(tensors, path, metadata=None):
                if "checkpoint-4" in str(path):
                    die_half_written(path, save(tensors, metadata=metadata))
                return real(tensors, path, metadata=metadata)
            peft_model.safe_save_file = save_file
        """,
        ),
        (
            "writing trainer_state.json",
            """
            import dataclasses, json
            from transformers.trainer_callback import TrainerState
            real = TrainerState.save_to_json
            def save_to_json(self, path):
                if "checkpoint-4" in str(path):
                    die_half_written(path, json.dumps(dataclasses.asdict(self), indent=2).encode())
                return real(self, path)
            TrainerState.save_to_json = save_to_json
        """,
        ),
    ],
)
def test_kill_9_while_saving_a_checkpoint_keeps_the_previous_one(tiny_model_dir, tmp_path, moment, patch):
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    child = run_child(
        textwrap.dedent(patch)
        + f"""
from workbench.training import TrainConfig, train
train(TrainConfig(**{run_config(tiny_model_dir, tmp_path)!r}))
"""
    )
    assert child.returncode == -9, child.stderr[-2000:]
    run_dir = tmp_path / "run"
    assert (run_dir / "checkpoints" / "checkpoint-4").is_dir(), f"the kill came while {moment}"
    assert latest_checkpoint(run_dir).name == "checkpoint-2"
    assert_loadable_adapter(run_dir / "checkpoints" / "checkpoint-2", tiny_model_dir)

    result = resume(run_dir)
    assert result.status == "completed" and result.steps == 6
    assert_steps_once_each(run_dir, 6)
    assert_loadable_adapter(run_dir / "adapter", tiny_model_dir)


def _disk_full(monkeypatch, where: str) -> None:
    """Make one write fail with ENOSPC after writing half its bytes, as a filling disk does."""
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if where == "metrics.jsonl":
        real_write = os.write

        def write(fd, data):
            if bytes(data[:11]) == b'{"step": 3,':
                real_write(fd, bytes(data[: len(data) // 2]))
                raise full
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write)
        return
    import peft.peft_model as peft_model

    real_save = peft_model.safe_save_file

    def save_file(tensors, path, metadata=None):
        if where in str(path):
            Path(path).write_bytes(b"\0" * 100)
            raise full
        return real_save(tensors, path, metadata=metadata)

    monkeypatch.setattr(peft_model, "safe_save_file", save_file)


@pytest.mark.parametrize("where", ["metrics.jsonl", "checkpoint-4", ".adapter.tmp"])
def test_disk_full_while_saving_says_so_and_keeps_what_was_written(tiny_model_dir, tmp_path, monkeypatch, where):
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        _disk_full(patch, where)
        with pytest.raises(WorkbenchError, match=f"the disk is full: .* in {run_dir}. Free some space") as info:
            train(TrainConfig(**run_config(tiny_model_dir, tmp_path)))
    assert "--resume" in str(info.value)
    lines = metric_lines(run_dir)  # no torn or glued line
    assert [r["step"] for r in lines if "loss" in r] == sorted({r["step"] for r in lines if "loss" in r})
    assert_loadable_adapter(latest_checkpoint(run_dir), tiny_model_dir)
    assert not (run_dir / ".adapter.tmp").exists() and not (run_dir / "adapter").exists()

    result = resume(run_dir)  # space freed
    assert result.status == "completed"
    assert_steps_once_each(run_dir, 6)
    assert_loadable_adapter(run_dir / "adapter", tiny_model_dir)


def test_many_starts_at_once_run_one_queue_one_and_refuse_the_others(tiny_model_dir, tmp_path):
    """Six clicks of one page at once: one trains, one waits its turn (one waiting run per learner), four are
    refused."""
    from workbench.server.run_manager import RunManager

    manager = RunManager()
    gate = threading.Barrier(6)
    answers: list[tuple[bool, str]] = []

    def start(i: int) -> None:
        config = TrainConfig(**run_config(tiny_model_dir, tmp_path, name=f"click-{i}") | {"max_steps": 2})
        gate.wait()
        answers.append(manager.submit(config, dataset=Dataset.from_list(ROWS), owner="one-page"))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    started = [message for ok, message in answers if ok and message.startswith("started ")]
    queued = [message for ok, message in answers if ok and message.startswith("queued ")]
    assert len(started) == 1 and len(queued) == 1, answers
    refused = [message for ok, message in answers if not ok]
    assert refused == ["you already have a run waiting in the queue: cancel it first, or wait for it to start"] * 4
    assert manager.wait(timeout=240).status == "completed"
    names = sorted([started[0].removeprefix("started "), queued[0].split(":")[0].removeprefix("queued ")])
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == names, "the refused starts made no folder"
