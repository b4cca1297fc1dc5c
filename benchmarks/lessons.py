"""Lesson notebooks in full mode (without WORKBENCH_FAST): wall time against each lesson's 10-minute budget.

Optional (``run.py --lessons``): a full lesson trains for minutes. The notebooks share one temporary
``WORKBENCH_RUNS`` folder, as a learner's do, so lessons 2 and 3 reuse lesson 1's run and their run folders
do not land in the checkout.
"""

from __future__ import annotations

import os
import tempfile
import time

from benchmarks.harness import ROOT

BUDGET_SECONDS = 600


def run(log=print) -> dict:
    import nbformat
    from nbclient import NotebookClient

    results = {}
    runs = tempfile.mkdtemp(prefix="bench-lesson-runs-")
    for path in sorted((ROOT / "lessons").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        env_before = dict(os.environ)
        os.environ.pop("WORKBENCH_FAST", None)
        os.environ["WORKBENCH_RUNS"] = runs
        start = time.perf_counter()
        try:
            NotebookClient(
                notebook, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
            ).execute()
            error = None
        except Exception as exc:  # a failing cell is a result to report, not a reason to stop the suite
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        finally:
            os.environ.clear()
            os.environ.update(env_before)
        seconds = round(time.perf_counter() - start, 1)
        results[path.stem] = {
            "seconds": seconds,
            "within_budget": seconds <= BUDGET_SECONDS,
            "error": error,
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        }
        log(f"  lesson {path.stem}: {seconds} s{' ERROR ' + error if error else ''}")
    return results
