"""Lifecycle faults end in a sentence and a way on: a full disk at the final save, a server restart with runs
waiting, a flooded queue, export/push/bundle targets that hold something they did not write, a Hub out of reach."""

from __future__ import annotations

import errno
import json
import os

import pytest
from conftest import sft_rows, tiny_config

from workbench.errors import WorkbenchError
from workbench.training import resume, train
from workbench.workspace import runs
from workbench.workspace.runs import latest_checkpoint, run_status

# What safetensors (Rust) raises when the disk fills mid-write: not an OSError, so no errno to test.
SAFETENSORS_DISK_FULL = "Error while serializing: I/O error: No space left on device (os error 28)"


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in sft_rows(16)))
    return path


@pytest.mark.parametrize("status_writable", [True, False], ids=["status-written", "disk-stays-full"])
def test_disk_full_at_the_final_save_gives_the_resume_sentence(
    tiny_model_dir, tmp_path, data_file, monkeypatch, status_writable
):
    import peft.peft_model as peft_model
    from safetensors import SafetensorError

    config = tiny_config(tiny_model_dir, tmp_path, data=str(data_file), max_steps=4, save_steps=2)
    run_dir = tmp_path / "runs" / "run"
    full = []
    real_save, real_write = peft_model.safe_save_file, runs.atomic_write_text

    def save_file(tensors, path, metadata=None):
        if ".adapter.tmp" in str(path):  # the final adapter; checkpoints save under checkpoints/
            full.append(path)
            raise SafetensorError(SAFETENSORS_DISK_FULL)
        return real_save(tensors, path, metadata=metadata)

    def write_status_file(path, text):
        if full and not status_writable:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(path, text)

    with monkeypatch.context() as patch:
        patch.setattr(peft_model, "safe_save_file", save_file)
        patch.setattr(runs, "atomic_write_text", write_status_file)
        with pytest.raises(WorkbenchError) as info:
            train(config)
    assert full, "the final save was reached"
    assert str(info.value).startswith(
        f"the disk is full: the trained weights and run files could not be written in {run_dir}"
    )
    assert f"`workbench train --resume {run_dir}`" in str(info.value)
    assert latest_checkpoint(run_dir).name == "checkpoint-4"
    assert not (run_dir / "adapter").exists() and not list(run_dir.glob(".adapter.tmp*"))
    if status_writable:
        assert run_status(run_dir).status == "failed"
        result = resume(run_dir)  # space freed: the weights are saved from the last checkpoint
        assert result.status == "completed" and (run_dir / "adapter" / "adapter_model.safetensors").is_file()
