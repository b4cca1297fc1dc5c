"""A run's state on disk tells the truth: status.json says running/completed/stopped/failed (a dead "running" reads
as interrupted), a finished run cannot be resumed into extra steps, a resume on changed data warns, two starts with
one name cannot share a folder, and examples TRL drops are reported and counted. (#25)"""

from __future__ import annotations

import json
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from workbench import WorkbenchError
from workbench.training import TrainConfig, resume, train
from workbench.workspace.runs import STATUS_FILE, claim_run_dir, run_status, write_status


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def examples(n: int, tag: str = "") -> list[dict]:
    return [{"prompt": f"Rate {tag}{i}", "completion": f"score {i}"} for i in range(n)]


def tiny(model_dir, tmp_path, data, **overrides) -> TrainConfig:
    values = dict(
        model=str(model_dir),
        data=data,
        max_steps=2,
        save_steps=1,
        batch_size=2,
        max_length=64,
        eval_fraction=0.0,
        output_dir=str(tmp_path / "runs"),
        name="life",
        precision="fp32",
    )
    return TrainConfig(**(values | overrides))


def test_status_follows_the_run_and_a_dead_running_reads_as_interrupted(tmp_path, tiny_model_dir):
    result = train(tiny(tiny_model_dir, tmp_path, write_jsonl(tmp_path / "d.jsonl", examples(8))))
    status = run_status(result.run_dir)
    assert (status.status, status.step, status.usable, status.resumable) == ("completed", 2, True, False)
    assert status.data_hash and status.pid == os.getpid()

    # What an app restart leaves behind: "running", written by a process that no longer exists.
    write_status(result.run_dir, "running")
    record = json.loads((result.run_dir / STATUS_FILE).read_text())
    (result.run_dir / STATUS_FILE).write_text(json.dumps(record | {"pid": 2**22 + 12345}))
    assert run_status(result.run_dir).status == "interrupted" and run_status(result.run_dir).resumable
    # On another host nothing can be told from a pid: it stays "running".
    (result.run_dir / STATUS_FILE).write_text(json.dumps(record | {"pid": 1, "host": socket.gethostname() + "-other"}))
    assert run_status(result.run_dir).status == "running"


def test_a_finished_run_is_not_resumed_into_extra_steps(tmp_path, tiny_model_dir):
    result = train(tiny(tiny_model_dir, tmp_path, write_jsonl(tmp_path / "d.jsonl", examples(8))))
    adapter = (result.run_dir / "adapter" / "adapter_model.safetensors").read_bytes()
    for _ in range(2):
        with pytest.raises(WorkbenchError, match="already finished all its 2 steps: nothing to resume"):
            resume(result.run_dir)
    assert (result.run_dir / "adapter" / "adapter_model.safetensors").read_bytes() == adapter


def test_resuming_on_changed_data_warns(tmp_path, tiny_model_dir):
    data = tmp_path / "d.jsonl"
    write_jsonl(data, examples(8))
    stop = threading.Event()
    first = train(
        tiny(tiny_model_dir, tmp_path, str(data), max_steps=3),
        on_event=lambda e: stop.set() if e["type"] == "step" and e["step"] >= 1 else None,
        stop=stop,
    )
    assert first.status == "stopped" and run_status(first.run_dir).status == "stopped"
    write_jsonl(data, examples(8, tag="changed "))
    events: list[dict] = []
    result = resume(first.run_dir, on_event=events.append)
    assert result.status == "completed" and result.steps == 3
    warning = [n for n in result.notes if "training data changed since this run started" in n]
    assert warning and any(e.get("message") == warning[0] for e in events)


def test_two_starts_with_one_name_get_one_folder(tmp_path):
    run_dir = tmp_path / "runs" / "same"
    barrier = threading.Barrier(8)

    def claim(_):
        barrier.wait()
        try:
            claim_run_dir(run_dir, overwrite=False)
            return "won"
        except WorkbenchError as exc:
            assert "already exists" in str(exc)
            return "refused"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(claim, range(8)))
    assert outcomes.count("won") == 1, outcomes
    assert run_status(run_dir).status == "running"
    with pytest.raises(WorkbenchError, match="training right now"):
        claim_run_dir(run_dir, overwrite=True)  # overwrite never deletes a run that is training


def test_examples_trl_drops_are_reported_before_training_and_counted(tmp_path, tiny_model_dir):
    long = [{"prompt": f"Summarise {i}: " + "word " * 120, "completion": "ok"} for i in range(6)]
    events: list[dict] = []
    result = train(
        tiny(tiny_model_dir, tmp_path, write_jsonl(tmp_path / "d.jsonl", long + examples(4)), max_steps=1),
        on_event=events.append,
    )
    messages = [e["message"] for e in events if e["type"] == "log"]
    drop = next(m for m in messages if "6 of 10 training examples have no trained token left" in m)
    # Said before the run's estimate and its start, while a learner can still stop and fix the data.
    assert messages.index(drop) < next(
        i for i, m in enumerate(messages) if m.startswith(("estimate", "training started"))
    )
    assert "4 training / 0 eval examples" in (result.run_dir / "README.md").read_text()
