"""App cold start: ``python app.py`` in a fresh process until it serves its first page (HTTP 200)."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchmarks.harness import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold_start_seconds(timeout: float = 300) -> float:
    port = free_port()
    env = dict(
        os.environ,
        GRADIO_SERVER_PORT=str(port),
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1",
        WORKBENCH_RUNS=tempfile.mkdtemp(prefix="bench-runs-"),
    )
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.perf_counter() - start < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {proc.returncode} before serving a page")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    if response.status == 200:
                        return round(time.perf_counter() - start, 2)
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"app.py served no page within {timeout} s")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def run(repeats: int, log=print) -> dict:
    log(f"app cold start x {repeats}")
    times = []
    for _ in range(repeats):
        try:
            times.append(cold_start_seconds())
        except RuntimeError as exc:
            log(f"  {exc}")
            return {"error": str(exc), "seconds": times}
        log(f"  {times[-1]} s (load {os.getloadavg()[0]:.2f})")
    return {
        "median_seconds": statistics.median(times),
        "seconds": times,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
