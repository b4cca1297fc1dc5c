"""Resolve an install with plain pip, as a learner or the Space builder would, without installing anything.

`pip install --dry-run --report` resolves against the package index and writes what it would install
(name, version, the file it would download). The tests read that report: a source distribution means a
build on the user's machine, and `llm`/`llama-cpp-python` mean the long llama.cpp compile the embedded
model's package declares. Needs the index: where it cannot be reached, the caller's test skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Never acceptable: the embedded model package's declared dependencies (llama.cpp, compiled from source).
FORBIDDEN = {"llm", "llama-cpp-python"}
# Source distributions that contain only Python (checked by reading their setup.py: no ext_modules, no C):
# installing them builds a wheel from .py files in seconds, no compiler involved.
PURE_PYTHON_SDISTS = {"rouge-score"}


def normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def python_with_pip(version: str) -> str | None:
    """The first `pythonX.Y` that has pip, or None: on PATH (uv's venv, first on PATH under `uv run`, has none),
    then in pyenv's versions (whose shim answers only for the versions `pyenv global` names)."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    folders += sorted(str(p) for p in Path("~/.pyenv/versions").expanduser().glob(f"{version}.*/bin"))
    for folder in folders:
        exe = shutil.which(f"python{version}", path=folder)
        if exe and subprocess.run([exe, "-m", "pip", "--version"], capture_output=True).returncode == 0:
            return exe
    return None


def require_index() -> None:
    """Skip the calling test, with the reason, when PyPI cannot be reached from here."""
    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=15).close()
    except OSError as exc:
        pytest.skip(f"PyPI is unreachable ({exc}); the pip resolution check needs the package index")


_started: dict[tuple[str, ...], tuple[subprocess.Popen, Path]] = {}


def start(python: str, args: list[str], cwd: Path = ROOT) -> None:
    """Begin resolving `pip install <args>` in the background: several resolutions (mostly waiting on the
    index) then overlap instead of adding up. :func:`dry_run` collects the result.

    --ignore-installed: resolve everything, as on a fresh machine, whatever this interpreter already has.
    """
    key = (python, *args)
    if key in _started:
        return
    report = Path(tempfile.mkdtemp(prefix="pip-report-")) / "report.json"
    proc = subprocess.Popen(
        [
            python,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--disable-pip-version-check",
            "--report",
            str(report),
            *args,
        ],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _started[key] = (proc, report)


def dry_run(python: str, args: list[str], cwd: Path = ROOT) -> list[dict]:
    """The report's `install` list for `pip install <args>` resolved with ``python``'s pip (started if need be)."""
    start(python, args, cwd)
    proc, report = _started[(python, *args)]
    _, stderr = proc.communicate(timeout=1800)
    assert proc.returncode == 0, f"pip could not resolve `pip install {' '.join(args)}`:\n{stderr[-3000:]}"
    items = json.loads(report.read_text())["install"]
    shutil.rmtree(report.parent, ignore_errors=True)
    return items


def build_problems(items: list[dict]) -> list[str]:
    """What in a report would compile on the user's machine or pull llama.cpp; empty when the install is clean."""
    problems = []
    for item in items:
        name = normalize(item["metadata"]["name"])
        info = item["download_info"]
        if name in FORBIDDEN:
            problems.append(f"{name} {item['metadata']['version']} is in the install (a llama.cpp source build)")
        if "dir_info" in info:  # the project itself (`-e .`): pure Python, built by setuptools
            continue
        if not info["url"].endswith(".whl") and name not in PURE_PYTHON_SDISTS:
            problems.append(f"{name} {item['metadata']['version']} has no wheel: pip would build {info['url']}")
    return problems
