"""Teacher tab (behind ``WORKBENCH_TEACHER_PASSWORD``): every learner's runs live, a leaderboard of the held-out
loss, stop/delete/share any run, push a preset to every learner's Train tab, reset the room.

The password unlocks one browser session (a ``gr.State``); every handler checks that state, so the
endpoints are refused to a page or script that has not given the password.
"""

from __future__ import annotations

import hmac
import math
import os
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import gradio as gr
import yaml

from workbench.errors import WorkbenchError
from workbench.inference.bench import BASE
from workbench.inference.leaderboard import leaderboard_from_counts
from workbench.inference.votes import vote_log
from workbench.server.run_manager import MANAGER
from workbench.training import TrainConfig, list_runs, read_metrics
from workbench.ui.runs_tab import run_status
from workbench.workspace.learners import (
    SHARED_PREFIX,
    Identity,
    learner_run,
    learners,
    reset_room,
    runs_dir,
    shared_dir,
    votes_dir,
)
from workbench.workspace.runs import delete_run, is_run, run_info

ROOM_COLUMNS = ["learner", "run", "status", "step", "train loss", "held-out loss", "method", "adaptation"]
BOARD_COLUMNS = ["rank", "learner", "run", "held-out loss"]
PRESET_FIELDS = (
    "method",
    "adaptation",
    "lora_r",
    "lora_alpha",
    "learning_rate",
    "max_steps",
    "batch_size",
    "max_length",
)
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
REFRESH_SECONDS = 3.0
# After a wrong password a session's next try is refused at once for this long, doubled after each further wrong
# one (1 s, 2 s, 4 s... up to the maximum). Nothing sleeps: a waiting handler would hold one of the queue's slots,
# and a flood of wrong passwords would then lock out the teacher and every learner.
BACKOFF_FIRST_S, BACKOFF_MAX_S = 1.0, 60.0
BACKOFF_TRACKED = 10_000  # sessions remembered at most; ones whose back-off has ended are forgotten first

_backoff_lock = threading.Lock()
_backoff: dict[str, tuple[int, float]] = {}  # session -> (wrong passwords in a row, monotonic time it may try again)

_room_board: tuple[frozenset | None, str] = (None, "")  # the room's blind votes counted, and the table drawn from them
_preset_lock = threading.Lock()
_preset: tuple[int, dict | None] = (0, None)


def teacher_password() -> str | None:
    return os.environ.get("WORKBENCH_TEACHER_PASSWORD") or None


def room_preset() -> tuple[int, dict | None]:
    """(push number, preset): every Train tab applies a push it has not applied yet."""
    with _preset_lock:
        return _preset


def presets() -> dict[str, dict]:
    """The repository's configs/*.yaml as Train-tab settings, by file name (the same presets the CLI trains)."""
    found = {}
    for path in sorted(CONFIGS.glob("*.yaml")):
        try:
            config = TrainConfig.from_dict(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, source=str(path))
        except (WorkbenchError, yaml.YAMLError):
            continue
        found[path.stem] = {f: getattr(config, f) for f in PRESET_FIELDS} | {"label": path.stem}
    return found


def push_preset(name: str) -> str:
    global _preset
    chosen = presets().get(name)
    if chosen is None:
        raise WorkbenchError(f"no preset named {name!r}")
    with _preset_lock:
        _preset = (_preset[0] + 1, chosen)
    return f"pushed {name} to every learner's Train tab"


def room_rows() -> list[list]:
    """One row per run of every learner, live status from the queue first."""
    live = {s.run_dir: s for s in MANAGER.jobs() if s.status in ("running", "queued")}
    rows = []
    for learner in learners():
        folders = {str(p): p for p in list_runs(runs_dir(learner))}
        folders.update({d: Path(d) for d in live if Path(d).parent == runs_dir(learner)})  # queued: no folder yet
        for key, path in folders.items():
            state = live.get(key)
            records = read_metrics(path)
            train = [r["loss"] for r in records if "loss" in r]
            evals = [r["eval_loss"] for r in records if "eval_loss" in r]
            step = max((r.get("step", 0) for r in records), default=0)
            if state is not None:
                status = f"queued #{state.position}" if state.status == "queued" else "training"
                step = f"{state.step}/{state.max_steps or '?'}"
            else:
                status = run_status(path, set())
            method = adaptation = ""
            if is_run(path):
                info = run_info(path)
                method, adaptation = info.method, info.adaptation
            rows.append(
                [
                    learner,
                    path.name,
                    status,
                    step,
                    round(train[-1], 4) if train else None,
                    round(evals[-1], 4) if evals else None,
                    method,
                    adaptation,
                ]
            )
    return rows


def leaderboard_rows(rows: list[list] | None = None) -> list[list]:
    """Each learner's best held-out loss (lower is better), best first; runs without an evaluation are left out."""
    best: dict[str, tuple[float, str]] = {}
    for learner, run, _, _, _, held_out, *_ in rows if rows is not None else room_rows():
        if held_out is not None and (learner not in best or held_out < best[learner][0]):
            best[learner] = (held_out, run)
    ranked = sorted(best.items(), key=lambda item: item[1][0])
    return [[i, learner, run, loss] for i, (learner, (loss, run)) in enumerate(ranked, start=1)]


def stop_any(label: str | None) -> str:
    return MANAGER.stop_run(learner_run(label))


def delete_any(label: str | None) -> str:
    path = learner_run(label)
    if str(path) in MANAGER.live_run_dirs():
        return f"{label} is training or queued: stop it first"
    delete_run(path)
    return f"deleted {label}"


def share(label: str | None) -> str:
    """Copy a learner's run into the shared folder: every learner then sees it (read-only) in their Runs tab."""
    path = learner_run(label)
    target = shared_dir() / f"{path.parent.name}-{path.name}"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(path, target, ignore=shutil.ignore_patterns("checkpoints"))
    return f"shared {label} as shared/{target.name}"


def reset() -> str:
    """Stop every training, empty the queue, delete every learner's folder and the shared runs, clear the preset."""
    global _preset
    MANAGER.stop_all()
    MANAGER.wait(timeout=120)  # a training ends after its current step; its folder is deleted after that
    gone = reset_room()
    with _preset_lock:
        _preset = (_preset[0], None)
    return f"room reset: {gone} folders deleted"


# -- Gradio handlers: each refuses a session that has not given the password ---------------------------------


def unlock(password: str, request: gr.Request):
    """Open the teacher's view for this session; a session in back-off is refused before its password is read."""
    session, now = getattr(request, "session_hash", None) or "", time.monotonic()
    with _backoff_lock:
        wrong, until = _backoff.get(session, (0, 0.0))
    if now < until:
        return _locked(f"Too many wrong passwords: try again in {math.ceil(until - now)} s.")
    expected = teacher_password()
    if expected and hmac.compare_digest((password or "").encode(), expected.encode()):
        with _backoff_lock:
            _backoff.pop(session, None)
        return True, "Teacher's view unlocked for this browser session.", gr.update(visible=True), gr.Timer(active=True)
    with _backoff_lock:
        if len(_backoff) >= BACKOFF_TRACKED:  # forget the sessions whose back-off has ended, else the oldest
            ended = [key for key, (_, end) in _backoff.items() if end < now]
            for key in ended or [next(iter(_backoff))]:
                del _backoff[key]
        _backoff[session] = (wrong + 1, now + min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** min(wrong, 16)))
    return _locked("Wrong password.")


def _locked(message: str) -> tuple:
    """What unlock answers a session it does not open: the panel stays hidden, its timer off."""
    return False, message, gr.update(visible=False), gr.Timer(active=False)


def _guard(teacher: bool) -> None:
    if teacher is not True or not teacher_password():
        raise gr.Error("Give the teacher's password first.")


def room_arena() -> str:
    """The room's blind Arena ranking: every learner's blind votes between the base and the runs shared with the
    room, fitted together (refitted only when those votes changed)."""
    global _room_board
    counts: Counter = Counter()
    for learner in learners():
        log = vote_log(votes_dir(Identity(owner=learner, learner=learner, display=learner)))
        counts.update({o: n for o, n in log.outcomes.items() if all(_in_room(side) for side in o[:2])})
    key = frozenset(counts.items())
    if _room_board[0] != key:
        try:
            board = leaderboard_from_counts(counts)
        except ValueError:
            _room_board = (key, "No blind votes on the shared runs yet: share runs, and learners play blind rounds.")
        else:
            _room_board = (key, board.table() + f"\n\n{sum(counts.values())} blind votes from the room.")
    return _room_board[1]


def _in_room(side: str) -> bool:
    return side == BASE or side.startswith(SHARED_PREFIX)


def view(teacher: bool):
    _guard(teacher)
    rows = room_rows()
    return rows, leaderboard_rows(rows), gr.update(choices=[f"{r[0]}/{r[1]}" for r in rows]), room_arena()


def act(teacher: bool, action: str, target: str | None, preset: str | None, confirm: str) -> str:
    """One entry point for the teacher's buttons (a dict of actions, not a handler each)."""
    _guard(teacher)
    actions = {
        "stop": lambda: stop_any(target),
        "delete": lambda: delete_any(target),
        "share": lambda: share(target),
        "preset": lambda: push_preset(preset or ""),
        "reset": lambda: reset() if confirm.strip() == "reset" else "type reset in the box to confirm",
    }
    try:
        return actions[action]()
    except (WorkbenchError, KeyError) as exc:
        return f"⚠️ {exc}"


def build_teacher_tab() -> None:
    with gr.Tab("Teacher", id="teacher"):
        teacher = gr.State(False)
        with gr.Row():
            password = gr.Textbox(label="Teacher's password", type="password", scale=3)
            unlock_button = gr.Button("Open", scale=0)
        message = gr.Textbox(show_label=False, interactive=False, container=False)
        with gr.Column(visible=False) as panel:
            gr.Markdown(
                "Every learner's runs, live. The leaderboard ranks each learner's best held-out loss "
                "(the eval loss on data the run did not train on: lower is better)."
            )
            room = gr.Dataframe(headers=ROOM_COLUMNS, interactive=False, wrap=True, label="Room")
            board = gr.Dataframe(headers=BOARD_COLUMNS, interactive=False, label="Leaderboard")
            gr.Markdown("The room's blind Arena ranking of the base and the shared runs (every learner's blind votes):")
            arena = gr.Markdown(elem_id="wb-room-arena")
            with gr.Row():
                target = gr.Dropdown([], label="Run (learner/run)")
                buttons = {
                    action: gr.Button(label, scale=0, variant=variant)
                    for action, label, variant in [
                        ("stop", "Stop", "secondary"),
                        ("share", "Share with the room", "secondary"),
                        ("delete", "Delete", "stop"),
                    ]
                }
            with gr.Row():
                preset = gr.Dropdown(list(presets()), label="Preset for every Train tab")
                buttons["preset"] = gr.Button("Push preset", scale=0)
            with gr.Row():
                confirm = gr.Textbox(label="Type reset to confirm", scale=1)
                buttons["reset"] = gr.Button("Reset the room", variant="stop", scale=0)
        timer = gr.Timer(REFRESH_SECONDS, active=False)
        # No concurrency limit: an answer takes no time (nothing sleeps), so a flood of guesses never makes the
        # teacher's own login wait for a slot behind it.
        unlock_button.click(
            unlock,
            inputs=password,
            outputs=[teacher, message, panel, timer],
            api_name="teacher_unlock",
            concurrency_limit=None,
        )
        timer.tick(
            view, inputs=teacher, outputs=[room, board, target, arena], show_progress="hidden", api_name="teacher_view"
        )
        for action, button in buttons.items():
            button.click(
                act,
                inputs=[teacher, gr.State(action), target, preset, confirm],
                outputs=message,
                api_name=f"teacher_{action}",
            ).then(view, inputs=teacher, outputs=[room, board, target, arena])
