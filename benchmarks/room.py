"""Room load test: N simulated learners on one workshop server, each joining, uploading data, queueing a short
training, chatting while it waits and trains, then chatting side by side (base against its own run, in the
Arena tab) and voting (--no-side-by-side skips that).

It launches the app on 127.0.0.1 in workshop mode (or takes the URL of one already running on this machine).
Each learner is its own gradio_client session. A sampler loads the page (GET /) every half second while any
training runs. It reports each learner's queue wait, the errors (must be 0; the exit code is 1 otherwise) and
the p50/p95 latency of page loads and of the Train tab's poll during training, and of the side-by-side turns.

    uv run python benchmarks/room.py --learners 20 --model default
    uv run python benchmarks/room.py --learners 3 --model /path/to/tiny-model --max-new-tokens 16

Bounded: at most 50 learners, and every learner stops at --seconds (default 900) whatever it was doing.
Loopback only: a URL on another host is refused, so this never load-tests someone else's server.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.soak import is_loopback, percentile  # noqa: E402

MAX_LEARNERS = 50
HTTP_TIMEOUT_S = 300
TRAIN_FORM = dict(
    method="sft",
    adaptation="lora",
    lora_r=8,
    lora_alpha=16,
    learning_rate=2e-4,
    epochs=1,
    max_steps=2,
    batch_size=4,
    max_length=128,
    beta=0.1,
)
PROMPT = "Rate this product review: the kettle boils fast and looks great."


@dataclass
class Room:
    """What the learners and the sampler record, under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    errors: list[str] = field(default_factory=list)
    queue_waits: list[float] = field(default_factory=list)
    run_seconds: list[float] = field(default_factory=list)
    poll_latencies: list[float] = field(default_factory=list)
    page_latencies: list[float] = field(default_factory=list)
    side_by_side_latencies: list[float] = field(default_factory=list)
    chats: int = 0
    votes: int = 0
    side_by_side_skipped: int = 0
    training: int = 0  # learners whose run is queued or training right now

    def error(self, where: str, exc: BaseException | str) -> None:
        with self.lock:
            self.errors.append(
                f"{where}: {exc if isinstance(exc, str) else type(exc).__name__ + ': ' + str(exc)}"[:300]
            )


def learner(
    url: str, index: int, data_file: str, room: Room, deadline: float, max_new_tokens: int, compare: bool
) -> None:
    """One learner's journey; every failure is counted, and the learner stops at the deadline."""
    from gradio_client import Client, handle_file

    name = f"learner-{index:02d}"
    try:
        # A browser waits as long as the page takes; httpx's default 5 s read timeout is not a learner's patience.
        client = Client(url, verbose=False, httpx_kwargs={"timeout": HTTP_TIMEOUT_S})
        _, greeting = client.predict(name, {}, api_name="/sign_in")
        if not greeting.startswith("Signed in"):
            raise RuntimeError(greeting)
        client.predict(handle_file(data_file), api_name="/upload")
        submitted = time.monotonic()
        with room.lock:
            room.training += 1
        message = client.predict("upload", f"room-{index:02d}", *TRAIN_FORM.values(), api_name="/start")
        if not message.startswith(("started", "queued")):
            raise RuntimeError(f"start refused: {message}")
    except Exception as exc:
        room.error(f"{name} join/upload/start", exc)
        return
    started = finished = None
    shown = ""
    try:
        while time.monotonic() < deadline and finished is None:
            t0 = time.monotonic()
            progress = client.predict(api_name="/poll")[0]
            with room.lock:
                room.poll_latencies.append(time.monotonic() - t0)
            shown = progress if isinstance(progress, str) else shown  # otherwise unchanged since the last poll
            if started is None and ("running: step" in shown or "completed:" in shown):
                started = time.monotonic()
            if "completed:" in shown or "failed" in shown or "stopped" in shown:
                finished = time.monotonic()
                break
            # Chat while waiting: the learner's page stays in use, as in a room.
            history, _ = client.predict(PROMPT, [], 0.7, 0.9, 1.1, max_new_tokens, api_name="/respond")
            if not history or not history[-1]["content"]:
                raise RuntimeError("empty chat answer")
            with room.lock:
                room.chats += 1
    except Exception as exc:
        room.error(f"{name} poll/chat", exc)
    finally:
        with room.lock:
            room.training -= 1
    if finished is None or "completed:" not in shown:
        room.error(name, f"run did not complete before the deadline: {shown[-160:]}")
        return
    with room.lock:
        room.queue_waits.append((started or finished) - submitted)
        room.run_seconds.append(finished - (started or finished))
    if not compare:
        with room.lock:
            room.side_by_side_skipped += 1
    else:
        try:
            side_by_side(client, name, room, max_new_tokens)
        except Exception as exc:
            room.error(f"{name} compare/vote", exc)
    client.close()


def side_by_side(client, name: str, room: Room, max_new_tokens: int) -> None:
    """Base against the learner's own run in the Arena tab (its list names the run), then a vote for the run."""
    run = f"room-{name.rsplit('-', 1)[1]}"
    listed = client.predict(api_name="/arena_runs")
    if run not in str(listed):
        raise RuntimeError(f"{run} is not among the Arena's sides: {str(listed)[:160]}")
    slots = ["base", 1.0, run, 1.0] + ["(none)", 1.0] * 2
    t0 = time.monotonic()
    side_a, side_b, *_ = client.predict(
        PROMPT, "Named sides", ["base"], *slots, "", 0.0, max(16, max_new_tokens), 0, api_name="/arena"
    )
    with room.lock:
        room.side_by_side_latencies.append(time.monotonic() - t0)
    if not (side_a["value"] and side_b["value"] and side_b["label"] == f"B: {run}"):
        raise RuntimeError(f"no side-by-side answer: {str(side_b)[:160]}")
    status = client.predict(api_name="/vote_b")[-1]
    if "Recorded" not in status:
        raise RuntimeError(f"vote not recorded: {status[:160]}")
    with room.lock:
        room.votes += 1


def sample_pages(url: str, room: Room, done: threading.Event) -> None:
    """GET the page every half second while any learner's run is queued or training."""
    while not done.is_set():
        with room.lock:
            busy = room.training > 0
        if busy:
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    response.read()
                with room.lock:
                    room.page_latencies.append(time.monotonic() - t0)
            except Exception as exc:
                room.error("page load", exc)
        done.wait(0.5)


def launch(model: str):
    """Serve the app in this process as app.py does, on loopback, in workshop mode; return the Blocks."""
    from app import build_app, launch_options, queue_options
    from workbench.inference.answers import base_model

    print(base_model(model).summary(), flush=True)
    app = build_app(model)
    app.queue(**queue_options()).launch(
        prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", **launch_options()
    )
    return app


def stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 3),
        "p95": round(percentile(values, 95), 3),
        "max": round(max(values), 3),
    }


def run_room(url: str, learners: int, seconds: float, max_new_tokens: int, compare: bool = True) -> dict:
    room = Room()
    folder = tempfile.TemporaryDirectory(prefix="room-data-")
    data = Path(folder.name) / "mine.jsonl"
    data.write_text(
        "".join(json.dumps({"prompt": f"Say {i} in words.", "completion": f"number {i}"}) + "\n" for i in range(40))
    )
    started = time.monotonic()
    deadline = started + seconds
    done = threading.Event()
    sampler = threading.Thread(target=sample_pages, args=(url, room, done), daemon=True)
    sampler.start()
    threads = [
        threading.Thread(target=learner, args=(url, i, str(data), room, deadline, max_new_tokens, compare))
        for i in range(learners)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.2)  # learners arrive within seconds of each other, not in the same millisecond
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 60)
    done.set()
    sampler.join(5)
    folder.cleanup()
    return {
        "learners": learners,
        "seconds": round(time.monotonic() - started, 1),
        "completed_runs": len(room.queue_waits),
        "errors": len(room.errors),
        "first_errors": room.errors[:5],
        "queue_wait_s": stats(room.queue_waits),
        "run_s": stats(room.run_seconds),
        "page_load_during_training_s": stats(room.page_latencies),
        "poll_during_training_s": stats(room.poll_latencies),
        "side_by_side_turn_s": stats(room.side_by_side_latencies),
        "chats": room.chats,
        "votes": room.votes,
        "side_by_side_skipped": room.side_by_side_skipped,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a workshop app already running on this machine; default: launch one here")
    parser.add_argument(
        "--model", default=os.environ.get("WORKBENCH_MODEL", "default"), help="model to serve when launching"
    )
    parser.add_argument(
        "--learners", type=int, default=20, help=f"simulated learners (default 20, at most {MAX_LEARNERS})"
    )
    parser.add_argument("--seconds", type=float, default=900, help="every learner stops by then (default 900)")
    parser.add_argument(
        "--max-new-tokens", type=int, default=16, help="chat and side-by-side answer length (default 16)"
    )
    parser.add_argument(
        "--side-by-side",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after training, chat side by side (base vs the learner's run) and vote (default: on)",
    )
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    if not 1 <= args.learners <= MAX_LEARNERS:
        parser.error(f"--learners must be 1..{MAX_LEARNERS}")

    app = None
    scratch = None  # the runs folder of an app launched here: removed at the end (20 runs with checkpoints: ~1 GB)
    if args.url:
        if not is_loopback(args.url):
            parser.error(f"{args.url} is not on this machine: the room test only runs against loopback")
        url = args.url
    else:
        os.environ.setdefault("WORKBENCH_WORKSHOP", "1")
        if not os.environ.get("WORKBENCH_RUNS"):
            scratch = tempfile.TemporaryDirectory(prefix="room-runs-")
            os.environ["WORKBENCH_RUNS"] = scratch.name
        app = launch(args.model)
        url = app.local_url
    try:
        result = run_room(url, args.learners, args.seconds, args.max_new_tokens, args.side_by_side)
    finally:
        if app is not None:
            app.close()
        if scratch is not None:
            scratch.cleanup()
    result |= {
        "url": url,
        "model": args.model if app is not None else "(external app)",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 1 if result["errors"] or result["completed_runs"] < args.learners else 0


if __name__ == "__main__":
    sys.exit(main())
