"""The training queue without training: a fake train function that runs until the test lets it finish."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from workbench.server.run_manager import RunManager
from workbench.training import TrainConfig


class FakeTrainer:
    """Stands in for workbench.training.train: each run waits for its own release (or a stop), then reports."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def __call__(self, config, on_event=None, stop=None, dataset=None):
        gate = self.release.setdefault(config.name, threading.Event())
        with self.lock:
            self.started.append(config.name)
        on_event({"type": "step", "step": 1, "max_steps": 2, "eta_seconds": 5.0, "metrics": {"loss": 1.0}})
        while not gate.is_set() and not stop.is_set():
            time.sleep(0.01)
        return SimpleNamespace(status="stopped" if stop.is_set() else "completed")

    def finish(self, name: str) -> None:
        self.release.setdefault(name, threading.Event()).set()


def config(tmp_path, name: str) -> TrainConfig:
    return TrainConfig(name=name, data="sentiment_json", output_dir=str(tmp_path), max_steps=2)


def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def queue():
    fake = FakeTrainer()
    manager = RunManager(train_fn=fake, concurrency=1)
    yield manager, fake
    manager.stop_all()
    manager.wait(timeout=5)


def test_first_come_first_served_with_positions_and_waits(queue, tmp_path):
    manager, fake = queue
    assert manager.submit(config(tmp_path, "a1"), owner="ana", estimate_seconds=100) == (True, "started a1")
    ok, message = manager.submit(config(tmp_path, "b1"), owner="ben", estimate_seconds=40)
    assert ok and message.startswith("queued b1: position 1 in the queue"), message
    ok, message = manager.submit(config(tmp_path, "c1"), owner="cleo", estimate_seconds=40)
    assert ok and "position 2" in message
    until(lambda: manager.snapshot("ana").step == 1)
    ben, cleo = manager.snapshot("ben"), manager.snapshot("cleo")
    # ana's run reported 5 s left; ben waits for it, cleo for it and ben's 40 s estimate.
    assert (ben.status, ben.position, ben.wait_seconds) == ("queued", 1, 5.0)
    assert (cleo.position, cleo.wait_seconds) == (2, 45.0)
    fake.finish("a1")
    until(lambda: fake.started == ["a1", "b1"])
    assert manager.snapshot("ana").status == "completed"
    assert manager.snapshot("cleo").position == 1
    fake.finish("b1")
    fake.finish("c1")
    manager.wait(timeout=5)
    assert fake.started == ["a1", "b1", "c1"]


def test_one_waiting_run_per_learner_and_cancel(queue, tmp_path):
    manager, fake = queue
    manager.submit(config(tmp_path, "a1"), owner="ana")
    assert manager.submit(config(tmp_path, "a2"), owner="ana")[0], "one run training plus one waiting is allowed"
    ok, message = manager.submit(config(tmp_path, "a3"), owner="ana")
    assert not ok and "already have a run waiting" in message
    assert manager.submit(config(tmp_path, "b1"), owner="ben")[0]
    assert manager.cancel("ben") == "cancelled b1: it left the queue"
    assert manager.snapshot("ben").status == "cancelled"
    assert manager.cancel("ben") == "nothing of yours is waiting"
    assert manager.submit(config(tmp_path, "b2"), owner="ben")[0], "after a cancel the learner may queue again"
    fake.finish("a1")
    until(lambda: "a2" in fake.started)
    fake.finish("a2")
    fake.finish("b2")
    manager.wait(timeout=5)
    assert fake.started == ["a1", "a2", "b2"], "the cancelled run never trained"


def test_a_learner_stops_only_their_own_run(queue, tmp_path):
    manager, fake = queue
    manager.submit(config(tmp_path, "a1"), owner="ana")
    manager.submit(config(tmp_path, "b1"), owner="ben")
    assert manager.stop("ben") == "cancelled b1: it left the queue", "ben's Stop while waiting cancels his own run"
    assert manager.stop("cleo") == "nothing is training"
    assert manager.snapshot("ana").status == "running", "nobody else's Stop reaches ana's run"
    assert manager.stop("ana") == "stopping a1 after the current step"
    assert manager.stop("ana") == "already stopping a1: it ends after the current step"
    assert manager.wait("ana", timeout=5).status == "stopped"


def test_concurrency_is_a_setting(tmp_path, monkeypatch):
    fake = FakeTrainer()
    monkeypatch.setenv("WORKBENCH_CONCURRENT_RUNS", "2")
    manager = RunManager(train_fn=fake)
    for owner in ("ana", "ben", "cleo"):
        manager.submit(config(tmp_path, f"{owner}-run"), owner=owner)
    until(lambda: len(fake.started) == 2)
    assert manager.snapshot("cleo").status == "queued"
    manager.stop_all()
    manager.wait(timeout=5)
    assert [s.status for s in manager.jobs()][:1] == ["stopped"] and manager.snapshot("cleo").status == "cancelled"


def test_same_run_folder_cannot_be_queued_twice(queue, tmp_path):
    manager, _ = queue
    manager.submit(config(tmp_path, "same"), owner="ana")
    ok, message = manager.submit(config(tmp_path, "same"), owner="ben")
    assert not ok and "already exists" in message
