"""Export targets: overwrite never deletes a run, the runs folder or anything an export did not write.

Each refusal happens before the model is loaded, so these tests run on a tiny model in about a second each.
"""

from __future__ import annotations

import shutil

import pytest

from workbench import WorkbenchError
from workbench.cli import main
from workbench.export.merge import EXPORT_MARKER, export_merged, export_run


@pytest.fixture
def runs(tmp_path, tiny_model_dir, make_adapter_run):
    root = tmp_path / "runs"
    return [make_adapter_run(root / name, tiny_model_dir, seed) for name, seed in (("run-a", 1), ("run-b", 2))]


def _files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


@pytest.mark.parametrize(
    "target, message",
    [
        (lambda run, other: run, "is the run being exported"),
        (lambda run, other: run.parent, "holds the run being exported"),
        (lambda run, other: run / "adapter", "inside the run being exported"),
        (lambda run, other: other, "is a run folder"),
    ],
    ids=["the-run", "its-parent", "inside-it", "another-run"],
)
def test_overwrite_refuses_runs_and_their_parents(runs, target, message, capsys):
    run, other = runs
    before = {r: _files(r) for r in runs}
    out = target(run, other)
    with pytest.raises(WorkbenchError, match=message):
        export_run(run, out, format="gguf", overwrite=True)
    # The CLI answers the same with a message and exit code 2, not a traceback.
    assert main(["export", str(run), str(out), "--overwrite"]) == 2
    assert message in capsys.readouterr().err
    assert {r: _files(r) for r in runs} == before


def test_overwrite_refuses_a_folder_holding_other_runs(runs, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(runs[1], elsewhere / "run-b")
    with pytest.raises(WorkbenchError, match=r"holds run folders \(run-b\)"):
        export_merged(runs[0], elsewhere, overwrite=True)
    assert (elsewhere / "run-b" / "config.yaml").is_file()


def test_overwrite_replaces_only_an_earlier_export(runs, tmp_path):
    out = tmp_path / "exports" / "a"
    export_merged(runs[0], out)
    assert (out / EXPORT_MARKER).is_file() and (out / "config.json").is_file()
    with pytest.raises(WorkbenchError, match="not empty"):
        export_merged(runs[0], out)
    export_merged(runs[1], out, overwrite=True)  # an earlier export: replaced

    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(WorkbenchError, match="not written by `workbench export`"):
        export_merged(runs[0], precious, overwrite=True)
    assert (precious / "thesis.txt").read_text() == "years of work"


def test_unwritable_and_file_targets_get_a_clear_error(runs, tmp_path):
    with pytest.raises(WorkbenchError, match="cannot write an export to /proc/workbench-export"):
        export_merged(runs[0], "/proc/workbench-export")
    a_file = tmp_path / "model.gguf"
    a_file.write_text("x")
    with pytest.raises(WorkbenchError, match="is a file"):
        export_run(runs[0], a_file, format="gguf", overwrite=True)
    assert a_file.read_text() == "x"
    assert not list(tmp_path.glob(".*tmp*")) and not list(runs[0].parent.glob(".*tmp*"))
