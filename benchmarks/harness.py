"""Run each measurement in a fresh process, alternate the variants, and summarise with medians and ratios.

A fresh process per trial gives each variant its own peak memory and no warm caches from the one before;
alternating A, B, A, B... in one run exposes every variant to the same background load, which on a
shared machine is what makes the ratios fair even when the absolute figures are noisy.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "BENCH_RESULT "


def run_trial(module: str, spec: dict, timeout: float = 3600) -> dict:
    """Run ``python -m benchmarks.<module> '<spec json>'`` and return the dict it printed after MARKER.

    ``spec["checkout"]``, where given, runs the trial in another checkout of the project (an older commit,
    for a before/after comparison in one alternating run).
    """
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", json.dumps(spec)],
        cwd=spec.get("checkout", ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            result = json.loads(line[len(MARKER) :])
            result["wall_seconds"] = round(time.time() - started, 1)
            return result
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
    return {"error": f"exit {proc.returncode}", "log_tail": tail, "spec": spec}


def emit(result: dict) -> None:
    """Called in the trial process: hand the result to the parent."""
    print(MARKER + json.dumps(result), flush=True)


def alternate(module: str, specs: dict[str, dict], repeats: int, log=print) -> dict[str, list[dict]]:
    """Run every variant ``repeats`` times, interleaved (A B C A B C ...), each trial with the load average."""
    trials: dict[str, list[dict]] = {name: [] for name in specs}
    for round_ in range(repeats):
        for name, spec in specs.items():
            result = run_trial(module, spec)
            result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
            trials[name].append(result)
            brief = result.get("error") or ", ".join(
                f"{k}={v}"
                for k, v in result.items()
                if k in ("tokens_per_second", "tokens_per_cpu_second", "peak_rss_mb", "seconds")
            )
            log(f"  [{round_ + 1}/{repeats}] {module}:{name}: {brief}")
            if "error" in result:
                log(result["log_tail"])
    return trials


def median(trials: list[dict], key: str) -> float | None:
    values = [t[key] for t in trials if isinstance(t.get(key), (int, float))]
    return round(statistics.median(values), 3) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


class PeakRSS:
    """Highest resident memory of this process while the block runs (sampled every 20 ms from /proc).

    ru_maxrss covers the whole process life, model loading included; this covers only the measured part.
    """

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            with open("/proc/self/statm") as f:
                self.peak = max(self.peak, int(f.read().split()[1]) * page)
            self._stop.wait(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def mb(self) -> float:
        return round(self.peak / 2**20, 1)


def process_peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
