"""Set the project's repository address, kept in pyproject.toml ([project.urls] Repository), where it is used.

The lessons' first cells install the project from it where they run outside a copy of it (Colab), and
lessons/README.md links every notebook to Colab through it. Those copies cannot read pyproject.toml (a notebook opened
on its own has nothing else yet), so this script writes the new address into each, then rebuilds the Korean notebooks;
tests/test_lessons.py checks that they all agree with pyproject.toml.

    python scripts/set_repository.py https://github.com/OWNER/finetuning-workbench
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GITHUB = re.compile(r"https://github\.com/[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+")


def current(root: Path = ROOT) -> str:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]["Repository"]


def set_repository(new: str, root: Path = ROOT) -> list[Path]:
    """Replace the current address with ``new`` in pyproject.toml, the English lessons and lessons/README.md; return
    the files changed. The Korean notebooks copy the English code cells: rebuild them afterwards."""
    if not GITHUB.fullmatch(new):
        raise ValueError(
            f"{new!r} is not a GitHub repository address (https://github.com/OWNER/NAME): Colab opens "
            "notebooks from GitHub"
        )
    old = current(root)
    old_path, new_path = old.removeprefix("https://github.com/"), new.removeprefix("https://github.com/")
    changed = []
    for path in [root / "pyproject.toml", root / "lessons" / "README.md", *sorted((root / "lessons").glob("*.ipynb"))]:
        text = path.read_text(encoding="utf-8")
        # The full address (first cells, pyproject) and the owner/name inside Colab's links.
        updated = text.replace(old, new).replace(f"/github/{old_path}/", f"/github/{new_path}/")
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            changed.append(path)
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="https://github.com/OWNER/NAME")
    args = parser.parse_args()
    try:
        changed = set_repository(args.address)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in changed:
        print("updated", path.relative_to(ROOT))
    return subprocess.call([sys.executable, str(ROOT / "scripts" / "build_ko_lessons.py")])


if __name__ == "__main__":
    sys.exit(main())
