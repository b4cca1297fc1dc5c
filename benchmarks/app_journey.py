"""A newcomer's path through the app on the embedded model, timed: sample data -> train -> side by side -> evaluate.

Issue #6 promises that path in under 10 minutes on 2 CPU cores. This drives a fresh ``python app.py`` through
Gradio's API with the values the page shows by default (the Train tab's form, the Arena tab's sampling,
the Evaluate tab's 16 held-out examples), so the time is what a person clicking through would wait for.

    python -m benchmarks.app_journey
    python -m benchmarks.app_journey --before 216948b   # the same path on an older commit too, compared

With ``--before REV`` the journey runs twice in one run, here and on REV (a temporary git worktree of it), both
on this checkout's ``data_samples/`` so the only difference is the code: it reports whether the training losses
(step for step) and the side-by-side answers are the same, beside each version's evaluation table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.app_start import free_port
from benchmarks.harness import ROOT

# The Train tab's defaults, in its /start order (workbench/ui/train_tab.py): data, run name, method, adaptation,
# LoRA r, alpha, learning rate, epochs, max steps, batch size, max_length, DPO beta.
TRAIN_FORM = ["sentiment_json", "journey", "sft", "lora", 16, 32, 2e-4, 2, 30, 8, 256, 0.1]
PROMPT = "Rate this product review.\nThe kettle boils fast but the lid broke after a week."


def journey(checkout: Path = ROOT, log=print) -> dict:
    """Drive a fresh ``app.py`` of ``checkout`` through the newcomer's path; stage times, losses, answers, table."""
    from gradio_client import Client

    port = free_port()
    runs = tempfile.mkdtemp(prefix="journey-runs-")
    env = dict(
        os.environ,
        GRADIO_SERVER_PORT=str(port),
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1",
        WORKBENCH_RUNS=runs,
    )
    stages: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        stages[stage] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()
        log(f"  {stage}: {stages[stage]} s (load {os.getloadavg()[0]:.1f})")

    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"app.py exited with {proc.returncode}") from None
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
        endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        answers = _side_by_side(client, endpoints)
        lap("side by side: tuned and base")
        client.predict(api_name="/evaluate_runs")
        # The Evaluate tab's defaults: 16 examples, then (since the per-example view) the probe on, every example.
        extra = [True, "all"] if len(endpoints["/evaluate"]["parameters"]) > 2 else []
        table, *_ = client.predict("journey", 16, *extra, api_name="/evaluate")
        lap("evaluate tab: 16 held-out examples")
    finally:
        proc.terminate()
        proc.wait(30)
    losses = [row["loss"] for row in _metrics(Path(runs) / "journey") if "loss" in row]
    shutil.rmtree(runs, ignore_errors=True)
    return {
        "stages_seconds": stages,
        "total_seconds": round(sum(stages.values()), 1),
        "train_losses": losses,
        "answers": answers,
        "table": table,
    }


def _side_by_side(client, endpoints: dict) -> list[str]:
    """Tuned and base answers to PROMPT with the page's sampling: the Arena tab, or the Compare tab it replaced."""
    if "/arena" in endpoints:
        client.predict(api_name="/arena_runs")
        sides = client.predict(
            PROMPT,
            "Named sides",
            ["base"],
            "journey",
            1.0,
            "base",
            1.0,
            "(none)",
            1.0,
            "(none)",
            1.0,
            "",
            0.3,
            96,
            0,
            api_name="/arena",
        )[:2]
        # Gradio 6 gives a chat message's content as a list of parts ({"text": ..., "type": "text"}).
        contents = [side["value"][-1]["content"] for side in sides]
        return [c if isinstance(c, str) else "".join(part.get("text", "") for part in c) for c in contents]
    client.predict(api_name="/compare_runs")
    return list(client.predict(PROMPT, "journey", "base", 0.3, 96, api_name="/compare"))


def _metrics(run_dir: Path) -> list[dict]:
    """The run's metrics.jsonl, read directly: the two versions' readers need not agree."""
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def before_and_now(revision: str, log=print) -> dict:
    """The journey on ``revision`` (a temporary worktree with this checkout's data_samples), then here; compared."""
    folder = Path(tempfile.mkdtemp(prefix="journey-before-")) / "checkout"
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(folder), revision], cwd=ROOT, check=True)
    try:
        shutil.rmtree(folder / "data_samples")
        shutil.copytree(ROOT / "data_samples", folder / "data_samples")
        log(f"before ({revision}):")
        before = journey(folder, log)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, check=False)
    log("now:")
    now = journey(ROOT, log)
    pairs = list(zip(before["train_losses"], now["train_losses"]))
    return {
        "revision": revision,
        "same_steps": len(before["train_losses"]) == len(now["train_losses"]),
        "max_train_loss_difference": max((abs(a - b) for a, b in pairs), default=None),
        "same_answers": before["answers"] == now["answers"],
        "before": before,
        "now": now,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", metavar="REV", help="also run the journey on this git revision and compare")
    args = parser.parse_args()
    result = before_and_now(args.before) if args.before else journey()
    print(json.dumps(result, indent=1))
