"""A newcomer's path through the app on the embedded model, timed: sample data -> train -> side by side -> evaluate.

Issue #6 promises that path in under 10 minutes on 2 CPU cores. This drives a fresh ``python app.py`` through
Gradio's API with the values the page shows by default (the Train tab's form, the Arena tab's sampling,
the Evaluate tab's 16 held-out examples), so the time is what a person clicking through would wait for.

    python -m benchmarks.app_journey
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchmarks.app_start import free_port
from benchmarks.harness import ROOT

# The Train tab's defaults, in its /start order (workbench/ui/train_tab.py): data, run name, method, adaptation,
# LoRA r, alpha, learning rate, epochs, max steps, batch size, max_length, DPO beta.
TRAIN_FORM = ["sentiment_json", "journey", "sft", "lora", 16, 32, 2e-4, 2, 30, 8, 256, 0.1]
PROMPT = "Rate this product review.\nThe kettle boils fast but the lid broke after a week."


def journey(log=print) -> dict:
    from gradio_client import Client

    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1", GRADIO_ANALYTICS_ENABLED="False",
               HF_HUB_OFFLINE="1", WORKBENCH_RUNS=tempfile.mkdtemp(prefix="journey-runs-"))
    stages: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        stages[stage] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()
        log(f"  {stage}: {stages[stage]} s (load {os.getloadavg()[0]:.1f})")

    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"app.py exited with {proc.returncode}")
                time.sleep(0.2)
        client = Client(url, verbose=False)
        lap("app start")
        client.predict("sentiment_json", 256, api_name="/load_data")
        lap("data tab: sample loaded and validated")
        started = client.predict(*TRAIN_FORM, api_name="/start")
        if not started.startswith("started "):
            raise RuntimeError(started)
        while "completed" not in (progress := client.predict(api_name="/poll")[0]):
            if "failed" in progress:
                raise RuntimeError(progress)
            time.sleep(2)
        lap("train tab: 30 steps of SFT + LoRA")
        client.predict(api_name="/arena_runs")
        sides = client.predict(PROMPT, "Named sides", ["base"], "journey", 1.0, "base", 1.0, "(none)", 1.0, "(none)", 1.0,
                               "", 0.3, 96, 0, api_name="/arena")[:2]
        answers = [side["value"][-1]["content"] for side in sides]
        lap("arena tab: tuned and base side by side")
        client.predict(api_name="/evaluate_runs")
        table, *_ = client.predict("journey", 16, True, "all", api_name="/evaluate")
        lap("evaluate tab: 16 held-out examples")
    finally:
        proc.terminate()
        proc.wait(30)
    return {"stages_seconds": stages, "total_seconds": round(sum(stages.values()), 1), "answers": answers, "table": table}


if __name__ == "__main__":
    result = journey()
    print(json.dumps(result, indent=1))
