"""Every lesson notebook runs top to bottom in fast mode (WORKBENCH_FAST=1), as a learner would run it, without a
warning; and the lessons' text keeps to its rules: no dates or machine loads, measured figures cited from one table,
one repository address."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).parent.parent
LESSONS = sorted((ROOT / "lessons").glob("*.ipynb"))
ALL_LESSONS = LESSONS + sorted((ROOT / "lessons" / "ko").glob("*.ipynb"))
# A Python warning ("...Warning:"), a logged one ("WARNING"), or tqdm's "IProgress not found" without ipywidgets.
WARNING = re.compile(r"\w*Warning\b|\bWARNING\b|IProgress not found")


def execute_fast(path: Path, monkeypatch, runs: Path) -> nbformat.NotebookNode:
    """Run a notebook in fast mode in its own folder, as Jupyter would, so its relative paths hold."""
    monkeypatch.setenv("WORKBENCH_FAST", "1")
    monkeypatch.setenv("WORKBENCH_RUNS", str(runs))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return notebook


def warnings_on_stderr(notebook: nbformat.NotebookNode) -> list[str]:
    """Every warning line a code cell printed on stderr, with the cell's id."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                found += [f"{cell.get('id')}: {line}" for line in output["text"].splitlines() if WARNING.search(line)]
    return found


@pytest.mark.embedded
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs_in_fast_mode_without_a_warning(path, tmp_path, monkeypatch):
    notebook = execute_fast(path, monkeypatch, tmp_path / "runs")
    assert warnings_on_stderr(notebook) == []


def test_a_warning_on_a_cells_stderr_is_found():
    cell = nbformat.v4.new_code_cell("import tqdm.auto")
    cell["id"] = "bar"
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="100%|##########| 2/2 [00:01<00:00]\n"),
        nbformat.v4.new_output("stream", name="stderr", text="TqdmWarning: IProgress not found. Please update\n"),
    ]
    assert warnings_on_stderr(nbformat.v4.new_notebook(cells=[cell])) == [
        "bar: TqdmWarning: IProgress not found. Please update"
    ]


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


def markdown(path: Path) -> str:
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


# What belongs in the measured table, not in teaching text (the same pattern as the project's before-stop hook).
NOT_IN_TEXT = re.compile(r"20[0-9]{2}-[01][0-9]-[0-3][0-9]|load average|load [0-9]+-[0-9]+|benchmarks/results/")


@pytest.mark.parametrize("path", ALL_LESSONS, ids=[str(p.relative_to(ROOT / "lessons")) for p in ALL_LESSONS])
def test_lesson_text_has_no_dates_loads_or_result_paths(path):
    assert NOT_IN_TEXT.findall(markdown(path)) == []


@pytest.mark.parametrize("path", ALL_LESSONS, ids=[str(p.relative_to(ROOT / "lessons")) for p in ALL_LESSONS])
def test_a_lesson_states_at_most_three_goals(path):
    first = nbformat.read(path, as_version=4).cells[0].source
    heading = "**목표**" if path.parent.name == "ko" else "**Goals**"
    goals = first.split(heading, 1)[1].strip().split("\n\n", 1)[0].splitlines()
    assert 1 <= len([g for g in goals if g.startswith("- ")]) <= 3


# A lesson quotes a measured figure as a link to the table, titled with its row's key:
# [289 s](README.md#measured "l1-time") in English, (../README.md#measured "l1-time") in Korean.
QUOTE = re.compile(r"\[([^\]]+)\]\((?:\.\./)?README\.md#measured \"([^\"]+)\"\)")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def measured_table() -> dict[str, str]:
    """Key -> the figures cell of each row of lessons/README.md's "Measured" table."""
    text = (ROOT / "lessons" / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Measured\n") :]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 3:
            rows[cells[0].strip("`")] = cells[2]
    return rows


@pytest.mark.parametrize("path", ALL_LESSONS, ids=[str(p.relative_to(ROOT / "lessons")) for p in ALL_LESSONS])
def test_every_figure_a_lesson_quotes_is_in_the_measured_table(path):
    table = measured_table()
    quotes = QUOTE.findall(markdown(path))
    assert quotes, "a lesson quotes its time at least"
    for text, key in quotes:
        assert key in table, f"{text!r} cites row {key!r}, which the measured table lacks"
        for number in NUMBER.findall(text):
            assert number in table[key], f"{text!r} is not in row {key!r}: {table[key]!r}"


def test_korean_lessons_quote_the_same_figures_as_the_english_ones():
    for english in LESSONS:
        korean = ROOT / "lessons" / "ko" / english.name
        figures = {
            path: sorted(NUMBER.findall(t) for t, _ in QUOTE.findall(markdown(path))) for path in (english, korean)
        }
        assert figures[korean] == figures[english], english.name


def repository() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


@pytest.mark.parametrize("path", ALL_LESSONS, ids=[str(p.relative_to(ROOT / "lessons")) for p in ALL_LESSONS])
def test_every_lesson_installs_from_the_one_repository_address(path):
    first = next(c for c in nbformat.read(path, as_version=4).cells if "setup_kernel" in c.source)
    assert f'REPOSITORY = "{repository()}"' in first.source


def test_every_lesson_has_a_colab_link_to_the_repository_address():
    text = (ROOT / "lessons" / "README.md").read_text(encoding="utf-8")
    owner_repo = repository().removeprefix("https://github.com/")
    for path in ALL_LESSONS:
        link = f"https://colab.research.google.com/github/{owner_repo}/blob/main/{path.relative_to(ROOT).as_posix()}"
        assert link in text, path.name


def test_setting_the_repository_address_changes_every_place_that_uses_it(tmp_path):
    import importlib.util
    import shutil

    spec = importlib.util.spec_from_file_location("set_repository", ROOT / "scripts" / "set_repository.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    (tmp_path / "lessons").mkdir()
    for path in [ROOT / "pyproject.toml", ROOT / "lessons" / "README.md", *LESSONS]:
        shutil.copy(path, tmp_path / path.relative_to(ROOT))
    with pytest.raises(ValueError, match="not a GitHub repository address"):
        script.set_repository("git@example.com:me/repo.git", tmp_path)
    script.set_repository("https://github.com/someone/finetuning-workbench", tmp_path)
    assert script.current(tmp_path) == "https://github.com/someone/finetuning-workbench"
    readme = (tmp_path / "lessons" / "README.md").read_text(encoding="utf-8")
    assert "YOUR-GITHUB-USER" not in readme and "github/someone/finetuning-workbench/blob/main/lessons/ko/" in readme
    for path in LESSONS:
        text = (tmp_path / "lessons" / path.name).read_text(encoding="utf-8")
        assert 'REPOSITORY = \\"https://github.com/someone/finetuning-workbench\\"' in text
