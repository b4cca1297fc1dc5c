"""The Korean lessons: built from the English notebooks (same code cells, Korean markdown), and one runs.

Only one Korean notebook is executed (in fast mode, the cheapest): its code is the English notebook's, which
tests/test_lessons.py already runs, so running every Korean copy would double CI's lesson time for no new code.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest
from test_lessons import execute_fast, warnings_on_stderr

ROOT = Path(__file__).parent.parent
KO_LESSONS = sorted((ROOT / "lessons" / "ko").glob("*.ipynb"))
_spec = importlib.util.spec_from_file_location("build_ko_lessons", ROOT / "scripts" / "build_ko_lessons.py")
build_ko = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_ko)


def test_every_korean_source_has_its_notebook():
    sources = {p.stem for p in (ROOT / "lessons" / "ko" / "src").glob("*.md")}
    assert sources and sources == {p.stem for p in KO_LESSONS}


@pytest.mark.parametrize("path", KO_LESSONS, ids=[p.stem for p in KO_LESSONS])
def test_korean_code_cells_are_the_english_ones(path):
    korean = nbformat.read(path, as_version=4)
    english = nbformat.read(ROOT / "lessons" / path.name, as_version=4)
    shared = [c for c in korean.cells if c.cell_type == "code" and build_ko.KO_ONLY not in c.metadata.get("tags", [])]
    assert [(c.id, c.source) for c in shared] == [(c.id, c.source) for c in english.cells if c.cell_type == "code"]
    assert [c.id for c in korean.cells if c.cell_type == "markdown"] == [
        c.id for c in english.cells if c.cell_type == "markdown"
    ]


@pytest.mark.parametrize("path", KO_LESSONS, ids=[p.stem for p in KO_LESSONS])
def test_korean_notebook_is_up_to_date_with_its_sources(path):
    """Rebuilt from the English notebook and the Korean text, it is what is committed (no outputs either)."""
    assert path.read_text(encoding="utf-8") == nbformat.writes(build_ko.build(ROOT / "lessons" / path.name)) + "\n"


def test_korean_text_must_cover_every_markdown_cell(tmp_path, monkeypatch):
    """An English markdown cell without its Korean block fails the build instead of shipping English text."""
    src = tmp_path / "src"
    src.mkdir()
    english = KO_LESSONS[0].name
    blocks = build_ko.korean_blocks(ROOT / "lessons" / "ko" / "src" / f"{Path(english).stem}.md")
    dropped = next(iter(blocks))
    (src / f"{Path(english).stem}.md").write_text(
        "".join(f"<!-- cell: {cid} -->\n{text}\n" for cid, text in blocks.items() if cid != dropped), encoding="utf-8"
    )
    monkeypatch.setattr(build_ko, "KO", tmp_path)
    with pytest.raises(ValueError, match=dropped):
        build_ko.build(ROOT / "lessons" / english)


def test_a_word_the_glossary_rules_out_fails_the_build(tmp_path, monkeypatch):
    """One Korean term per concept: 'frozen' is 동결된, so 얼어 있는 in a lesson's text stops the build."""
    assert "얼어" in build_ko.ruled_out_words()["동결된"]
    src = tmp_path / "src"
    src.mkdir()
    english = KO_LESSONS[1].name
    blocks = build_ko.korean_blocks(ROOT / "lessons" / "ko" / "src" / f"{Path(english).stem}.md")
    first = next(iter(blocks))
    blocks[first] += "\n\nLoRA는 베이스를 얼어 있는 채로 둡니다. 나머지는 그대로입니다."
    (src / f"{Path(english).stem}.md").write_text(
        "".join(f"<!-- cell: {cid} -->\n{text}\n" for cid, text in blocks.items()), encoding="utf-8"
    )
    monkeypatch.setattr(build_ko, "KO", tmp_path)
    with pytest.raises(ValueError, match="'얼어' \\(use '동결된'\\)") as error:
        build_ko.build(ROOT / "lessons" / english)
    assert "머지" not in str(error.value)  # 나머지 ("the rest") is not the loanword for "merge"


@pytest.mark.embedded
def test_one_korean_lesson_runs_in_fast_mode_without_a_warning(tmp_path, monkeypatch):
    """Runs in lessons/ko/, as Jupyter would; its first code cell moves to lessons/ for the English paths."""
    notebook = execute_fast(ROOT / "lessons" / "ko" / "00_setup.ipynb", monkeypatch, tmp_path / "runs")
    assert warnings_on_stderr(notebook) == []
    printed = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert "위의 답을 채우고" in printed  # the exercise's feedback, in Korean (lessons/checks.py)
