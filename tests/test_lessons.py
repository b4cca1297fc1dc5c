"""Every lesson notebook runs top to bottom in fast mode (WORKBENCH_FAST=1), as a learner would run it."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

LESSONS = sorted((Path(__file__).parent.parent / "lessons").glob("*.ipynb"))


@pytest.mark.embedded
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs_in_fast_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_FAST", "1")
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    notebook = nbformat.read(path, as_version=4)
    # Runs in the lessons folder, as Jupyter would, so relative paths in the notebook hold.
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
