"""Lifecycle faults end in a sentence and a way on: a full disk at the final save, a server restart with runs
waiting, a flooded queue, export/push/bundle targets that hold something they did not write, a Hub out of reach."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

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


# -- the training queue ------------------------------------------------------------------------------------------


class ClaimingTrainer:
    """Stands in for train(): claims the run folder as train() does, then waits for the test to stop it."""

    def __call__(self, config, on_event=None, stop=None, dataset=None):
        from types import SimpleNamespace

        from workbench.workspace.runs import claim_run_dir

        claim_run_dir(Path(config.output_dir) / config.name, config.overwrite)
        stop.wait(30)
        return SimpleNamespace(status="stopped")


def queue_config(root, name: str):
    from workbench.training import TrainConfig

    return TrainConfig(name=name, data="sentiment_json", output_dir=str(root), max_steps=2)


@pytest.fixture
def managers():
    """Run managers made by a test, each stopped at its end (a restart leaves the old one's threads behind)."""
    from workbench.server.run_manager import RunManager

    made = []

    def make():
        made.append(RunManager(train_fn=ClaimingTrainer(), resume_fn=ClaimingTrainer(), concurrency=1))
        return made[-1]

    yield make
    for manager in made:
        manager.stop_all()
        manager.wait(timeout=10)


def test_runs_waiting_when_the_server_stops_are_marked_dropped_when_it_starts(tmp_path, managers):
    from workbench.server.run_manager import DROPPED_WHY, QUEUE_FILE
    from workbench.training import list_runs

    root = tmp_path / "runs"
    interrupted = root / "cut-short"
    interrupted.mkdir(parents=True)
    (interrupted / "config.yaml").write_text(queue_config(root, "cut-short").to_yaml())
    (interrupted / "status.json").write_text(json.dumps({"status": "running", "pid": 2**22 + 1, "host": "x"}))

    before = managers()
    assert before.restore(root / QUEUE_FILE) == []
    assert before.submit(queue_config(root, "first"), owner="ana") == (True, "started first")
    assert before.submit(queue_config(root, "second"), owner="ben")[0]
    assert before.submit_resume(interrupted, owner="cid")[0]
    # The server stops here: a new process starts from the runs folder alone.
    after = managers()
    dropped = after.restore(root / QUEUE_FILE)

    assert sorted(dropped) == [str(interrupted), str(root / "second")]
    second = run_status(root / "second")
    assert second.status == "dropped" and second.error == DROPPED_WHY
    assert root / "second" in list_runs(root), "the Runs tab lists it, with why"
    assert run_status(interrupted).status == "interrupted" and run_status(interrupted).error == DROPPED_WHY
    assert run_status(root / "first").status == "running", "a run that had started keeps its own status"
    assert after.restore(root / QUEUE_FILE) == [], "each dropped run is reported once"

    # A dropped run never trained: its name is free to start again.
    assert after.submit(queue_config(root, "second"), owner="ben") == (True, "started second")


def test_a_torn_or_foreign_queue_file_does_not_stop_the_server(tmp_path, managers):
    from workbench.server.run_manager import QUEUE_FILE

    queue_file = tmp_path / QUEUE_FILE
    for text in ('[{"run_dir": "x", "sta', '{"not": "a list"}', '[1, {"run_dir": 2}, {"run_dir": "y", "config": 3}]'):
        queue_file.write_text(text)
        assert managers().restore(queue_file) == []
    assert json.loads(queue_file.read_text()) == []


def test_the_queue_has_a_cap_per_owner_and_in_total(tmp_path, managers, monkeypatch):
    from workbench.server import public

    monkeypatch.setenv("WORKBENCH_PUBLIC", "1")
    cap = public.caps().runs_waiting
    manager = managers()
    assert manager.submit(queue_config(tmp_path, "running"), owner="owner-0") == (True, "started running")
    answers = [manager.submit(queue_config(tmp_path, f"run-{i}"), owner=f"owner-{i}") for i in range(1, cap + 2)]
    assert all(ok for ok, _ in answers[:cap]), answers
    assert answers[cap] == (
        False,
        f"the training queue is full ({cap} runs waiting, the most this server takes): "
        "try again when some have started",
    )
    assert manager.submit(queue_config(tmp_path, "again"), owner="owner-1") == (
        False,
        "you already have a run waiting in the queue: cancel it first, or wait for it to start",
    )
    assert len([s for s in manager.jobs() if s.status == "queued"]) == cap


# -- export, push and bundle targets -----------------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_overwrite_never_replaces_a_base_model_or_another_runs_model(tmp_path, tiny_model_dir, make_adapter_run):
    """A model folder looks like an export without the export's marker: the run's base (plain, or itself an
    earlier export trained on) and a full run's model/ are refused, and nothing is loaded or written."""
    import shutil

    from workbench.cli import main
    from workbench.export.merge import EXPORT_MARKER, export_run

    base = shutil.copytree(tiny_model_dir, tmp_path / "models" / "base")
    run = make_adapter_run(tmp_path / "runs" / "tuned", base, seed=1)
    full = tmp_path / "runs" / "full"
    shutil.copytree(tiny_model_dir, full / "model")
    (full / "config.yaml").write_text(f"model: {tiny_model_dir}\nadaptation: full\nname: full\n")
    before = {folder: _tree(folder) for folder in (base, full)}

    for target, message in (
        (base, "is the base model of the run being exported (base)"),
        (tmp_path / "models", "holds the base model of the run being exported (base)"),
        (full / "model", "was not written by `workbench export`"),
    ):
        with pytest.raises(WorkbenchError, match=re.escape(message)):
            export_run(run, target, overwrite=True)
    (base / EXPORT_MARKER).write_text("{}")  # an earlier export, then trained on: still this run's base
    with pytest.raises(WorkbenchError, match="is the base model of the run being exported"):
        export_run(run, base, overwrite=True)
    (base / EXPORT_MARKER).unlink()
    assert main(["export", str(run), str(base), "--overwrite"]) == 2
    assert {folder: _tree(folder) for folder in (base, full)} == before


@pytest.mark.parametrize("failure", ["offline", "connection-refused"])
def test_push_without_the_hub_is_a_sentence(tmp_path, tiny_model_dir, make_adapter_run, monkeypatch, capsys, failure):
    """No network never reached here: HF_HUB_OFFLINE makes the real HfApi refuse by itself; a refused
    connection is the HTTP client's own error type, raised by a stand-in for HfApi."""
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import HTTPError

    from workbench.cli import main

    run = make_adapter_run(tmp_path / "runs" / "run", tiny_model_dir, seed=1)
    if failure == "offline":
        assert constants.HF_HUB_OFFLINE, "conftest keeps the Hub offline"
    else:

        def refused(self, *args, **kwargs):
            raise HTTPError("[Errno 111] Connection refused")

        monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", refused)
    assert main(["push", str(run), "me/run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: push to me/run failed: the Hugging Face Hub could not be reached ("), err
    assert "nothing was uploaded" in err and "Traceback" not in err


def test_bundle_refuses_a_folder_it_did_not_write_and_a_file(tmp_path, capsys):
    """Into a checkout of the Space (the repository itself is one) a bundle would overwrite its requirements.txt,
    lessons and configs: refused before anything is written, as a file target is."""
    from workbench.cli import main

    checkout = tmp_path / "space"
    checkout.mkdir()
    (checkout / "requirements.txt").write_text("gradio==6.31.0\n")
    (checkout / "app.py").write_text("print('the Space')\n")
    a_file = tmp_path / "bundle.zip"
    a_file.write_text("not a folder")
    before = _tree(tmp_path)

    assert main(["bundle", str(checkout)]) == 2
    assert f"error: {checkout} already holds files that `workbench bundle` did not write" in capsys.readouterr().err
    assert main(["bundle", str(a_file)]) == 2
    assert f"error: {a_file} is a file, not a folder" in capsys.readouterr().err
    assert _tree(tmp_path) == before
