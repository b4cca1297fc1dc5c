"""Build the Korean lessons (lessons/ko/*.ipynb) from the English notebooks and the Korean text beside them.

One source for the code: every code cell of a Korean notebook is copied from the English notebook, so the
two cannot drift. Only the markdown is Korean, kept per cell id in `lessons/ko/src/<lesson>.md`:

    <!-- cell: 2ce8da4d -->
    # 0강 — ...

Every markdown cell of the English notebook needs its Korean block, and every block must name a markdown
cell that exists: a lesson edited in English fails the build (and `--check`) until its Korean text follows.
The Korean text keeps one term per concept: `lessons/ko/glossary.md` names, for each term, the words not to use
for it, and a source that uses one fails the build. The Korean notebook runs from `lessons/ko/`, so it starts
with one code cell of its own that sets the exercises' feedback to Korean (lessons/checks.py) and moves to
`lessons/`, where the English code's relative paths (`../data_samples`, `../configs`) hold.

    uv run python scripts/build_ko_lessons.py          # rewrite lessons/ko/*.ipynb
    uv run python scripts/build_ko_lessons.py --check  # exit 1 if one is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
KO = LESSONS / "ko"
BLOCK = re.compile(r"^<!-- cell: (\S+) -->\n", re.MULTILINE)
KO_ONLY = "ko-only"  # the tag of the cells the Korean notebook adds; every other code cell is the English one
GLOSSARY = KO / "glossary.md"
CHDIR_CELL = (
    "# 한국어 노트북에만 있는 셀: 연습 문제의 확인 메시지를 한국어로 하고,\n"
    "# 영어 노트북과 같은 코드가 lessons/ 기준 경로를 쓰므로 그 폴더로 옮깁니다.\n"
    "import os\n"
    "from pathlib import Path\n"
    "\n"
    'os.environ["WORKBENCH_LESSON_LANGUAGE"] = "ko"  # lessons/checks.py가 읽습니다\n'
    'if Path.cwd().name == "ko":\n'
    '    os.chdir("..")\n'
    "print(Path.cwd())"
)


def korean_blocks(path: Path) -> dict[str, str]:
    """Cell id -> Korean markdown, from a source file of `<!-- cell: ID -->` blocks."""
    parts = BLOCK.split(path.read_text(encoding="utf-8"))
    return {cid: text.strip("\n") for cid, text in zip(parts[1::2], parts[2::2])}


def ruled_out_words(path: Path = GLOSSARY) -> dict[str, list[str]]:
    """Korean term -> the words the lessons must not use for it, from the glossary's table (its last column)."""
    words = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and cells[3] and not set(cells[3]) <= set("- "):
            words[cells[1]] = [w.strip() for w in cells[3].split(",") if w.strip()]
    words.pop("한국어", None)  # the header row
    return words


def build(english: Path) -> nbformat.NotebookNode:
    """The Korean notebook for one English lesson; raises ValueError where the Korean text does not match it."""
    source = KO / "src" / f"{english.stem}.md"
    blocks = korean_blocks(source)
    notebook = nbformat.read(english, as_version=4)
    markdown_ids = {cell.get("id") for cell in notebook.cells if cell.cell_type == "markdown"}
    missing, unknown = markdown_ids - blocks.keys(), blocks.keys() - markdown_ids
    if missing or unknown:
        raise ValueError(
            f"ko/src/{source.name} does not match {english.name}: "
            f"no Korean for cells {sorted(missing)}; blocks for cells that are not markdown there {sorted(unknown)}"
        )
    # A ruled-out word counts where a word starts with it ("머지", not the end of "나머지"); particles may follow it.
    misused = [
        f"{word!r} (use {term!r})"
        for term, words in ruled_out_words().items()
        for word in words
        if any(re.search(rf"(?<![가-힣]){re.escape(word)}", text) for text in blocks.values())
    ]
    if misused:
        raise ValueError(f"ko/src/{source.name} uses words that {GLOSSARY.name} rules out: {', '.join(misused)}")
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = blocks[cell.id]
    chdir = nbformat.v4.new_code_cell(CHDIR_CELL, metadata={"tags": [KO_ONLY]})
    chdir["id"] = "ko-chdir"
    notebook.cells.insert(1, chdir)
    return notebook


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a Korean notebook is out of date")
    args = parser.parse_args()
    stale = []
    for source in sorted((KO / "src").glob("*.md")):
        english = LESSONS / f"{source.stem}.ipynb"
        target = KO / english.name
        text = nbformat.writes(build(english)) + "\n"
        if args.check:
            if not target.is_file() or target.read_text(encoding="utf-8") != text:
                stale.append(target.relative_to(ROOT))
        else:
            target.write_text(text, encoding="utf-8")
            print("wrote", target.relative_to(ROOT))
    if stale:
        print("out of date (run scripts/build_ko_lessons.py):", *stale, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
