"""Identities that cannot collide: one folder per person, names of the server's own folders and of runs refused,
a teacher's Reset ends old sessions, and a claim that fails to write leaves the name free."""

from __future__ import annotations

import errno
import json
import os

import pytest

from workbench.errors import WorkbenchError
from workbench.workspace import learners
from workbench.workspace.learners import check_current, claim, new_token, reset_room, single_user
from workbench.workspace.runs import check_run_name, write_status


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_WORKSHOP", "1")
    return tmp_path


def test_two_logins_that_fold_to_one_folder_are_refused_not_merged():
    ana = claim("Ana", "login")
    assert claim("Ana", "login") == ana, "the same login comes back to its folder"
    for other in ("ana", "ANA", "Ana!"):
        with pytest.raises(WorkbenchError, match="taken"):
            claim(other, "login")
    long = "a" * 32
    claim(long + "-first", "login")
    with pytest.raises(WorkbenchError, match="taken"):
        claim(long + "-second", "login")


def test_names_of_the_servers_folders_and_of_runs_cannot_be_learners_or_runs(runs):
    (runs / "sft-lora").mkdir()
    (runs / "sft-lora" / "config.yaml").write_text("name: sft-lora\n")
    for name in ("sft-lora", "arena", "votes", "shared"):
        with pytest.raises(WorkbenchError, match="used by the server or a run"):
            claim(name, "name", new_token())
    for name in ("arena", "Votes", "../x", ".hidden", "_shared"):
        with pytest.raises(WorkbenchError):
            check_run_name(name)
    assert check_run_name("sft-lora.v2") == "sft-lora.v2"


def test_a_reset_ends_the_sessions_of_the_learners_it_removed():
    token = new_token()
    old = claim("ana", "name", token)
    assert check_current(old) == old
    reset_room()
    with pytest.raises(WorkbenchError, match="reset"):
        check_current(old)
    new = claim("ana", "name", new_token())  # someone else takes the name after the reset
    with pytest.raises(WorkbenchError, match="reset"):
        check_current(old)
    assert check_current(new) == new
    assert check_current(single_user()) == single_user()


def test_a_claim_the_disk_cannot_hold_leaves_the_name_free(monkeypatch, runs):
    real_dump = json.dump

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(learners.json, "dump", full_disk)
    with pytest.raises(WorkbenchError, match="could not record your name"):
        claim("ana", "name", new_token())
    monkeypatch.setattr(learners.json, "dump", real_dump)
    assert not (runs / "ana" / learners.CLAIM_FILE).exists() and not list((runs / "ana").glob(".claim-*"))
    assert claim("ana", "name", new_token()).learner == "ana", "the name is still free"


def test_a_run_that_is_training_in_another_process_cannot_be_deleted(runs):
    ana = claim("ana", "login")
    run = ana.folder / "mine"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: mine\n")
    write_status(run, "running")  # this process stands in for the CLI training it: alive on this host
    assert json.loads((run / "status.json").read_text())["pid"] == os.getpid()
    with pytest.raises(WorkbenchError, match="training right now"):
        learners.delete_own_run(ana, "mine")
    assert run.is_dir()
    write_status(run, "completed")
    learners.delete_own_run(ana, "mine")
    assert not run.exists()
