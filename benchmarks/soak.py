"""Soak test: many visitors chatting at once for a fixed time; every request must be served, none may fail.

It launches the app on 127.0.0.1 (or takes the URL of one already running on this machine), then N clients,
each its own Gradio session through gradio_client, send chat requests back to back until the time is up.
It reports requests served, errors (must be 0; the exit code is 1 otherwise) and latency percentiles.
With ``--abusers N``, N more sessions attack beside the learners, in turn: a Parquet bomb upload read by the Data
tab, a vote forged without a round (the Arena records what the server generated), and polling Stop; their requests are
counted apart (refusals are expected)
and the learners must still see 0 errors.

    uv run python benchmarks/soak.py --seconds 150 --clients 12 --public   # as a public Space would see it
    uv run python benchmarks/soak.py --url http://127.0.0.1:7860/ --seconds 60
    uv run python benchmarks/soak.py --seconds 120 --clients 6 --abusers 3 --public --model PATH_TO_A_SMALL_MODEL

Loopback only: a URL on another host is refused, so this never load-tests someone else's server.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import socket
import statistics
import sys
import threading
import time
import urllib.parse
from pathlib import Path

PROMPTS = [
    "What is the capital of France?",
    "Give me three tips for a good night's sleep.",
    "Rate this review: The kettle boils fast and looks great.",
    "Explain fine-tuning in one sentence.",
    "Write a haiku about autumn.",
]


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False


def launch(model: str):
    """Serve the app in this process exactly as app.py does, on loopback; return the Blocks."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from app import build_app, launch_options, queue_options
    from workbench.inference.answers import base_model

    print(base_model(model).summary(), flush=True)  # load before the clock starts, as main() does
    app = build_app(model)
    app.queue(**queue_options()).launch(
        prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", **launch_options()
    )
    return app


def visitor(
    url: str,
    deadline: float,
    max_new_tokens: int,
    index: int,
    latencies: list[float],
    errors: list[str],
    lock: threading.Lock,
) -> None:
    """One session sending chat requests back to back (a fresh conversation each time) until the deadline."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    n = 0
    while time.monotonic() < deadline:
        prompt = PROMPTS[(index + n) % len(PROMPTS)]
        n += 1
        start = time.monotonic()
        try:
            history, _ = client.predict(prompt, [], 0.7, 0.9, 1.1, max_new_tokens, api_name="/respond")
            if len(history) != 2 or not history[-1]["content"]:
                raise RuntimeError(f"no answer: {history!r}"[:200])
        except Exception as exc:  # every failure is counted and reported, whatever its kind
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
            continue
        with lock:
            latencies.append(time.monotonic() - start)
    client.close()


def bomb_file() -> Path:
    """A Parquet file of a few hundred bytes that expands to ~60 MB of text."""
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(tempfile.mkdtemp(prefix="soak-")) / "bomb.parquet"
    pq.write_table(
        pa.table({"prompt": [f"{i} " + "a" * 1_000_000 for i in range(60)], "completion": ["b"] * 60}),
        path,
        compression="zstd",
    )
    return path


def abuser(url: str, deadline: float, index: int, counts: dict[str, int], lock: threading.Lock) -> None:
    """One hostile session: a bomb upload read by the Data tab, a forged vote, Stop polled, in turn."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    bomb = bomb_file()
    attacks = [
        lambda: (
            client.predict(handle_file(str(bomb)), api_name="/upload"),
            client.predict("upload", 256, api_name="/load_data"),
        ),
        lambda: client.predict(api_name="/vote_a"),  # a vote with no round behind it: the server must refuse it
        lambda: client.predict(api_name="/stop"),
    ]
    n = index
    while time.monotonic() < deadline:
        name = ("bomb", "forged_vote", "stop_poll")[n % 3]
        try:
            attacks[n % 3]()
            outcome = "answered"
        except Exception:  # refusals are what a defended server should give
            outcome = "refused"
        with lock:
            counts[f"{name} {outcome}"] = counts.get(f"{name} {outcome}", 0) + 1
        n += 1
    client.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an app already running on this machine; default: launch one here")
    parser.add_argument(
        "--model", default=os.environ.get("WORKBENCH_MODEL", "default"), help="model to serve when launching"
    )
    parser.add_argument("--public", action="store_true", help="launch in public mode (WORKBENCH_PUBLIC=1: its caps)")
    parser.add_argument("--seconds", type=float, default=150, help="how long to keep sending (default 150)")
    parser.add_argument("--clients", type=int, default=12, help="concurrent sessions (default 12)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="answer length per request (default 32)")
    parser.add_argument("--abusers", type=int, default=0, help="hostile sessions beside the learners (default 0)")
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)

    app = None
    if args.url:
        if not is_loopback(args.url):
            parser.error(f"{args.url} is not on this machine: the soak test only runs against loopback")
        url = args.url
    else:
        if args.public:
            os.environ["WORKBENCH_PUBLIC"] = "1"
        app = launch(args.model)
        url = app.local_url

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + args.seconds
    attacks: dict[str, int] = {}
    threads = [
        threading.Thread(target=visitor, args=(url, deadline, args.max_new_tokens, i, latencies, errors, lock))
        for i in range(args.clients)
    ]
    threads += [threading.Thread(target=abuser, args=(url, deadline, i, attacks, lock)) for i in range(args.abusers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if app is not None:
        app.close()

    result = {
        "url": url,
        "model": args.model if app is not None else "(external app)",
        "public_mode": bool(args.public or os.environ.get("WORKBENCH_PUBLIC")),
        "clients": args.clients,
        "max_new_tokens": args.max_new_tokens,
        "seconds": round(elapsed, 1),
        "served": len(latencies),
        "errors": len(errors),
        "requests_per_second": round(len(latencies) / elapsed, 3),
        "latency_s": {
            "p50": round(statistics.median(latencies), 2) if latencies else None,
            "p95": round(percentile(latencies, 95), 2) if latencies else None,
            "max": round(max(latencies), 2) if latencies else None,
        },
        "first_errors": errors[:5],
        "abusers": args.abusers,
        "attacks": attacks,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 1 if errors or not latencies else 0


if __name__ == "__main__":
    sys.exit(main())
