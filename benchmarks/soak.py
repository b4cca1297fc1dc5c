"""Soak test: many visitors chatting at once for a fixed time; every request must be served, none may fail.

It launches the app on 127.0.0.1 (or takes the URL of one already running on this machine), then N clients,
each its own Gradio session through gradio_client, send chat requests back to back until the time is up.
It reports requests served, errors (must be 0; the exit code is 1 otherwise) and latency percentiles.
With ``--abusers N``, N more sessions attack beside the learners, in turn: a Parquet bomb upload read by the Data
tab, a vote forged without a round (the Arena records what the server generated), and polling Stop; their requests
are counted apart (refusals are expected) and the learners must still see 0 errors.

With ``--floods``, floods follow (the app is then launched in workshop mode, with a teacher password):

- ``passwords``: another process (as an attacker would be) sends 1,000 wrong teacher passwords from 50 sessions,
  while the teacher's correct login and a learner's poll are timed every half second: each must be answered
  within 2 s.
- ``downloads``: one learner downloads a 31 MB run 100 times through the Runs tab; the temporary and Gradio cache
  folders' growth is reported, and the same for ``workbench.server.downloads.run_download`` called directly.
- ``votes``: 5,000 votes as the Arena logs them (a long conversation each), then 200 more, each timed with the
  leaderboard refresh after it (``record_vote`` and ``vote_log(...).leaderboard()``, what the Arena tab calls);
  a vote must stay under 50 ms.

    uv run python benchmarks/soak.py --seconds 150 --clients 12 --public   # as a public Space would see it
    uv run python benchmarks/soak.py --url http://127.0.0.1:7860/ --seconds 60
    uv run python benchmarks/soak.py --seconds 120 --clients 6 --abusers 3 --public --model PATH_TO_A_SMALL_MODEL
    uv run python benchmarks/soak.py --seconds 0 --clients 0 --floods passwords,downloads,votes

Loopback only: a URL on another host is refused, so this never load-tests someone else's server.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
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


# ---- floods (--floods) ----------------------------------------------------------------------------------------

FLOOD_LIMIT_S = 2.0  # the teacher's login and a learner's poll, during the password flood
VOTE_LIMIT_MS = 50.0  # one vote with its leaderboard refresh, 5,000 votes into the log


def guess_passwords(url: str, clients: int, each: int, ready, answers) -> None:
    """The attacker's process: ``clients`` sessions, each sending ``each`` wrong passwords back to back.

    Raw HTTP as a script would send it (Gradio's /call route with a session of its own), not gradio_client: this
    process shares the machine's cores with the server, and a lighter attacker measures the server, not itself.
    """
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    route = f"{url.rstrip('/')}/gradio_api/call/teacher_unlock"

    def guess(http: httpx.Client) -> Counter:
        told: Counter = Counter()
        session = secrets.token_hex(8)
        for i in range(each):
            event = http.post(route, json={"data": [f"guess-{i}"], "session_hash": session}).json()["event_id"]
            data = [line for line in http.get(f"{route}/{event}").text.splitlines() if line.startswith("data:")]
            message = json.loads(data[-1].removeprefix("data:"))[1]  # [0] is the session's State
            told["wrong password" if message == "Wrong password." else "refused in back-off"] += 1
        http.close()
        return told

    sessions = [httpx.Client(timeout=120) for _ in range(clients)]  # made first: each costs a TLS context
    with ThreadPoolExecutor(clients) as pool:
        ready.set()
        answers.put(dict(sum(pool.map(guess, sessions), Counter())))


def timed(call) -> float:
    start = time.monotonic()
    call()
    return time.monotonic() - start


def password_flood(url: str, password: str, clients: int = 50, each: int = 20) -> dict:
    """1,000 wrong passwords from 50 sessions of another process; the teacher's login and a poll timed meanwhile."""
    import multiprocessing
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    teacher, learner = Client(url, verbose=False), Client(url, verbose=False)
    learner.predict("soak-learner", {}, api_name="/sign_in")
    # Both pages open and used once before the flood, as a teacher's and a learner's are; and the same two calls
    # timed without a flood, to tell what the flood adds from what the machine's load costs anyway.
    idle = [timed(lambda: teacher.predict(password, api_name="/teacher_unlock")) for _ in range(4)][1:]
    idle += [timed(lambda: learner.predict(api_name="/poll")) for _ in range(3)]
    context = multiprocessing.get_context("spawn")  # not fork: this process serves the app from threads
    ready, answers = context.Event(), context.Queue()
    attacker = context.Process(target=guess_passwords, args=(url, clients, each, ready, answers))
    attacker.start()
    ready.wait(timeout=600)
    started, logins, polls = time.monotonic(), [], []
    with ThreadPoolExecutor(2) as pool:  # the teacher's login and the learner's poll sent at the same moment
        while attacker.is_alive() and answers.empty():
            login = pool.submit(timed, lambda: teacher.predict(password, api_name="/teacher_unlock"))
            poll = pool.submit(timed, lambda: learner.predict(api_name="/poll"))
            logins.append(login.result())
            polls.append(poll.result())
            time.sleep(0.5)
    told = answers.get(timeout=600)
    attacker.join()
    return {
        "wrong_passwords": sum(told.values()),
        "sessions": clients,
        "answers": told,
        "seconds": round(time.monotonic() - started, 1),
        "teacher_login_s": {"n": len(logins), "p50": round(statistics.median(logins), 2), "max": round(max(logins), 2)},
        "learner_poll_s": {"n": len(polls), "p50": round(statistics.median(polls), 2), "max": round(max(polls), 2)},
        "without_flood_s": {"p50": round(statistics.median(idle), 2), "max": round(max(idle), 2)},
        "within_limit": max(logins + polls) <= FLOOD_LIMIT_S,
    }


def folder_mb(*folders: Path) -> float:
    return sum(p.stat().st_size for f in folders if f.is_dir() for p in f.rglob("*") if p.is_file()) / 2**20


def download_flood(url: str, runs: Path, downloads: int = 100) -> dict:
    """One learner downloads one 31 MB run ``downloads`` times through the Runs tab; then the cache function alone."""
    import tempfile

    from gradio.utils import get_upload_folder
    from gradio_client import Client

    from workbench.server.downloads import DownloadCache

    learner = Client(url, verbose=False, download_files=False)
    learner.predict("soak-downloader", {}, api_name="/sign_in")
    run = runs / "soak-downloader" / "big-run"
    (run / "adapter").mkdir(parents=True)
    (run / "config.yaml").write_text("name: big-run\nmethod: sft\nadaptation: lora\n")
    (run / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    (run / "adapter" / "adapter_model.safetensors").write_bytes(os.urandom(31 * 2**20))
    learner.predict([], api_name="/runs")  # the Runs tab lists it: a page can download only what it lists
    temp, cache = Path(tempfile.gettempdir()), Path(get_upload_folder())

    def copies() -> float:  # the temporary folders the app writes downloads into, and Gradio's cache
        return folder_mb(cache, *temp.glob("workbench-download-*"))

    before, started = copies(), time.monotonic()
    try:
        for _ in range(downloads):
            files, message = learner.predict("big-run", api_name="/download_run")
            assert files, message
        app_seconds, app_growth = time.monotonic() - started, copies() - before
        cache_folder = Path(tempfile.mkdtemp(prefix="soak-downloads-"))
        direct = DownloadCache(cache_folder)
        started = time.monotonic()
        for _ in range(downloads):
            direct.run_download(run)
        direct_seconds, direct_mb = time.monotonic() - started, folder_mb(cache_folder)
        shutil.rmtree(cache_folder, ignore_errors=True)
    finally:  # what this flood left in the temporary folder (a copy of the run per click, before the cache)
        for folder in temp.glob("workbench-download-*"):
            if (folder / "big-run.zip").is_file():
                shutil.rmtree(folder, ignore_errors=True)
    return {
        "run_mb": round(folder_mb(run), 1),
        "downloads": downloads,
        "through_the_app": {"seconds": round(app_seconds, 1), "disk_growth_mb": round(app_growth, 1)},
        "run_download": {"seconds": round(direct_seconds, 1), "disk_mb": round(direct_mb, 1)},
    }


def vote_flood(logged: int = 5000, timed_votes: int = 200) -> dict:
    """``logged`` votes as the arena writes them, then ``timed_votes`` more, each with the leaderboard after it."""
    import resource
    import tempfile

    from workbench.inference.votes import VOTES_FILE, record_vote, vote_log

    folder = Path(tempfile.mkdtemp(prefix="soak-votes-"))
    sides = ["base", "sft-lora", "sft-qlora", "dpo-lora"]
    turn = [{"role": "user", "content": "Rate this review: " + "the kettle boils fast. " * 40}]
    turn.append({"role": "assistant", "content": "It is positive. " * 60})
    conversation = turn * 4  # 8 messages each side, as a long arena chat logs them (~15 KB a vote)
    with (folder / VOTES_FILE).open("w") as f:
        for i in range(logged):
            a, b = sides[i % 4], sides[(i + 1 + i // 4) % 4]
            if a == b:
                b = sides[(i + 2) % 4]
            row = {"sides": {"a": a, "b": b}, "choice": "ab"[i % 2], "voter": f"visitor-{i % 50}"}
            f.write(json.dumps(row | {"conversations": {"a": conversation, "b": conversation}}) + "\n")
    size_mb = (folder / VOTES_FILE).stat().st_size / 2**20
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    first = timed(lambda: vote_log(folder).leaderboard())  # a server's first read of the log: once per process
    times = []
    for i in range(timed_votes):
        start = time.monotonic()
        record_vote(folder, conversation[:-1], "Yes.", "No.", "a", sides[i % 4], sides[(i + 1) % 4], voter=f"s{i % 50}")
        vote_log(folder).leaderboard()
        times.append(time.monotonic() - start)
    shutil.rmtree(folder, ignore_errors=True)
    times_ms = [1000 * t for t in times]
    return {
        "logged_votes": logged,
        "log_mb": round(size_mb, 1),
        "first_read_s": round(first, 2),
        "timed_votes": timed_votes,
        "vote_ms": {
            "p50": round(statistics.median(times_ms), 1),
            "p95": round(percentile(times_ms, 95), 1),
            "max": round(max(times_ms), 1),
        },
        "peak_rss_growth_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024, 1),
        "within_limit": percentile(times_ms, 95) <= VOTE_LIMIT_MS,
    }


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
    parser.add_argument(
        "--floods", default="", help="after the chat soak, comma-separated: passwords, downloads, votes (see above)"
    )
    parser.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    floods = [f for f in args.floods.split(",") if f]
    if set(floods) - {"passwords", "downloads", "votes"}:
        parser.error(f"--floods takes passwords, downloads, votes; not {args.floods!r}")

    app = None
    password = secrets.token_urlsafe(12)
    scratch: list[str] = []
    if args.url:
        if not is_loopback(args.url):
            parser.error(f"{args.url} is not on this machine: the soak test only runs against loopback")
        if floods:
            parser.error("--floods launches its own app (in workshop mode, with a teacher password): leave out --url")
        url = args.url
    else:
        if args.public:
            os.environ["WORKBENCH_PUBLIC"] = "1"
        if floods:  # a runs folder and a Gradio cache of their own, so what the floods leave is theirs alone
            scratch = [tempfile.mkdtemp(prefix="soak-runs-"), tempfile.mkdtemp(prefix="soak-gradio-")]
            os.environ.update(WORKBENCH_WORKSHOP="1", WORKBENCH_TEACHER_PASSWORD=password)
            os.environ.update(WORKBENCH_RUNS=scratch[0], GRADIO_TEMP_DIR=scratch[1])
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
    flooded = {}
    flood_runs = {
        "passwords": lambda: password_flood(url, password),
        "downloads": lambda: download_flood(url, Path(os.environ["WORKBENCH_RUNS"])),
        "votes": vote_flood,
    }
    for flood in floods:
        print(f"flood: {flood}", flush=True)
        started_flood = time.monotonic()
        flooded[flood] = flood_runs[flood]() | {"wall_s": round(time.monotonic() - started_flood, 1)}
    if app is not None:
        app.close()
    for folder in scratch:
        shutil.rmtree(folder, ignore_errors=True)

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
        "floods": flooded,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    failed_floods = [name for name, figures in flooded.items() if figures.get("within_limit") is False]
    return 1 if errors or (args.clients and not latencies) or failed_floods else 0


if __name__ == "__main__":
    sys.exit(main())
