"""Experiment logs: ``report_to: tensorboard`` writes event files a TensorBoard reads; off by default."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import sft_rows, tiny_config
from datasets import Dataset

from workbench.errors import WorkbenchError
from workbench.training import TrainConfig, train


def test_tensorboard_run_writes_event_files_with_the_loss(tiny_model_dir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tiny_config(tiny_model_dir, tmp_path, max_steps=2, save_steps=2, report_to="tensorboard")
    result = train(config, dataset=Dataset.from_list(sft_rows(8)))
    events = list(result.run_dir.rglob("events.out.tfevents.*"))
    assert events, sorted(p.relative_to(result.run_dir) for p in result.run_dir.rglob("*"))
    logs = EventAccumulator(str(events[0].parent)).Reload()
    assert [e.step for e in logs.Scalars("train/loss")] == [1, 2]
    assert "report_to: tensorboard" in (result.run_dir / "config.yaml").read_text()


def test_report_to_is_off_by_default_and_checked():
    assert TrainConfig().report_to == "none" and TrainConfig().reporting_args() == {"report_to": "none"}
    with pytest.raises(WorkbenchError, match="report_to = 'wandb' should be one of"):
        TrainConfig(report_to="wandb")


def test_a_missing_tracker_package_is_named(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "trackio" else real(name, *a))
    with pytest.raises(WorkbenchError, match="report_to: trackio needs the trackio package: pip install trackio"):
        TrainConfig(report_to="trackio", name="x").reporting_args()
