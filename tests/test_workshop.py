"""Workshop mode through the app's own routes: learners keep to their own runs, the teacher sees the room.

The app runs on loopback in workshop mode with a teacher password, on the tiny model; each learner is a
gradio_client session that joined under a name (as a browser does through the name box).
"""

from __future__ import annotations

import http.client
import time
import urllib.parse

import gradio as gr
import pytest
from app_server import serve
from conftest import arena_form, train_form

from workbench.errors import WorkbenchError
from workbench.workspace.learners import claim, new_token, runs_dir, safe_name

PASSWORD = "teach-7f3a"


@pytest.fixture(scope="module")
def room(tiny_model_dir, tmp_path_factory):
    runs = tmp_path_factory.mktemp("room")
    with serve(tiny_model_dir, runs, WORKBENCH_WORKSHOP="1", WORKBENCH_TEACHER_PASSWORD=PASSWORD) as app:
        yield app, runs


def join(app, name: str):
    """A learner's session: a client that claimed ``name`` with a token of its own, as a browser's name box does."""
    from gradio_client import Client

    client = Client(app.local_url, verbose=False)
    stored, greeting = client.predict(name, {}, api_name="/sign_in")
    assert greeting.startswith(f"Signed in as {name}"), greeting
    client.stored = stored
    return client


def get(app, path: str) -> int:
    url = urllib.parse.urlsplit(app.local_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.request("GET", path)
    return connection.getresponse().status


def act(teacher, action: str, target: str | None = None, preset: str | None = None, confirm: str = "") -> str:
    return teacher.predict(target, preset, confirm, api_name=f"/teacher_{action}")


def wait_for(predicate, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_folder_names_are_safe_and_a_name_is_claimed_once(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path))
    assert safe_name("Ana María / ../2") == "ana-maria-2" and safe_name("x" * 99) == "x" * 32
    for bad in ("", "../..", "///", "🙂"):
        with pytest.raises(WorkbenchError, match="no letters or digits"):
            safe_name(bad)
    assert runs_dir("Ana") == tmp_path / "ana" and runs_dir(None) == tmp_path
    token = new_token()
    assert claim("Ana", "name", token).learner == "ana"
    assert claim("ana", "name", token).learner == "ana", "the same browser comes back"
    with pytest.raises(WorkbenchError, match="taken"):
        claim("ANA", "name", new_token())
    claim("ben", "login")
    with pytest.raises(WorkbenchError, match="taken"):
        claim("ben", "name", new_token())
    with pytest.raises(WorkbenchError, match="hf-"):
        claim("hf-carl", "name", new_token())
    # The key browsers' stored identities are encrypted with outlives a server restart (a new app reads the same one).
    from workbench.workspace.learners import browser_secret

    assert browser_secret() == browser_secret() and len(browser_secret()) >= 32
    assert (tmp_path / ".browser-secret").stat().st_mode & 0o077 == 0


def test_learner_b_cannot_reach_learner_a_run_through_any_route(room):
    from gradio_client.exceptions import AppError

    from workbench.server.run_manager import MANAGER

    app, runs = room
    ana, ben = join(app, "ana"), join(app, "ben")
    MANAGER.wait(timeout=120)
    assert (
        ana.predict(*train_form("sentiment_json", "secret-run", max_steps=2000), api_name="/start")
        == "started secret-run"
    )
    wait_for(lambda: MANAGER.snapshot("ana").step >= 1)
    run = runs / "ana" / "secret-run"

    # List: ben's tables and choices hold nothing of ana's; his poll shows no run.
    table, chosen, _, picker, _ = ben.predict([], api_name="/runs")
    assert "secret-run" not in str(table)
    assert "secret-run" not in str(chosen) + str(picker)
    assert "secret-run" not in str(ben.predict(api_name="/poll"))
    # Stop and cancel: ben's buttons reach only his own runs.
    assert ben.predict(api_name="/stop") == "nothing is training"
    assert ben.predict(api_name="/cancel") == "nothing of yours is waiting"
    assert MANAGER.snapshot("ana").status == "running"
    # Download, delete, resume by name: Gradio refuses names outside ben's choices, the handler names outside his
    # folder.
    for endpoint in ("/download_run", "/delete_run", "/resume_run"):
        for name in ("secret-run", "../ana/secret-run", str(run)):
            try:
                answer = ben.predict(name, api_name=endpoint)
            except AppError as exc:
                assert "not in the list of choices" in str(exc)
            else:
                assert "not one of your runs" in str(answer), (endpoint, name, answer)
    assert run.is_dir()
    # Taking ana's name from another browser is refused.
    from gradio_client import Client

    thief = Client(app.local_url, verbose=False)
    assert thief.predict("Ana", {"name": "ana", "token": "x" * 32}, api_name="/sign_in")[1].startswith(
        "Not signed in: the name 'ana' is taken"
    )
    # Gradio's file routes do not serve the runs folder in workshop mode, on any spelling.
    wait_for(lambda: (run / "config.yaml").is_file())
    for path in (
        f"/gradio_api/file={run}/config.yaml",
        f"/gradio_api/file={runs}/ana/secret-run/config.yaml",
        f"/gradio_api/file={runs}/ben/../ana/secret-run/config.yaml",
        f"/gradio_api/file={runs}/ana/.learner.json",
    ):
        assert get(app, path) in (403, 404), path

    # Ana herself: stops it, sees it, downloads it (as copies Gradio serves from its cache), deletes it.
    assert ana.predict(api_name="/stop") == "stopping secret-run after the current step"
    assert MANAGER.wait("ana", timeout=120).status == "stopped"
    table, *_ = ana.predict([], api_name="/runs")
    assert [row[:2] for row in table["data"]] == [["secret-run", "stopped"]]
    files, note = ana.predict("secret-run", api_name="/download_run")
    assert_arena_is_per_learner(app, runs, ana, ben)
    assert any(f.endswith("config.yaml") for f in files) and any(f.endswith("secret-run.zip") for f in files)
    assert ana.predict("secret-run", api_name="/delete_run") == "deleted secret-run" and not run.exists()


def refused(client, *args, api_name: str) -> str:
    """The error text of a call that must fail: Gradio's own choice check, or the handler's refusal."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as error:
        client.predict(*args, api_name=api_name)
    return str(error.value)


def assert_arena_is_per_learner(app, runs, ana, ben) -> None:
    """Ana's stopped run answers in her Arena and Chat, and her votes stay hers; Ben can name it nowhere."""
    # Ana: her run is a side, she chats and votes; the vote lands in her own folder.
    assert "secret-run" in str(ana.predict(api_name="/arena_runs")) and "secret-run" in str(
        ana.predict(api_name="/chat_models")
    )
    side_a, side_b, *_ = ana.predict(*arena_form("Label 1", "base", "secret-run"), api_name="/arena")
    assert side_b["label"] == "B: secret-run" and side_b["value"]
    ana.predict(api_name="/vote_b")
    assert (runs / "ana" / ".votes" / "votes.jsonl").is_file() and not (runs / "arena").exists()
    assert "1 vote in named rounds" in ana.predict(api_name="/leaderboard")[0], "named votes are shown, not ranked"
    history, _ = ana.predict("Label 1", [], 0.0, 0.9, 1.1, 16, "secret-run", api_name="/respond")
    assert history[-1]["role"] == "assistant"

    # Ben: not listed, not a side by any spelling (named, three sides, blind pool, chat), not his votes.
    assert "secret-run" not in str(ben.predict(api_name="/arena_runs")) + str(ben.predict(api_name="/chat_models"))
    for name in ("secret-run", "../ana/secret-run", str(runs / "ana" / "secret-run"), "shared/../ana/secret-run"):
        for sides in (("base", name), ("base", "base", name)):
            message = refused(ben, *arena_form("hi", *sides), api_name="/arena")
            assert (
                "not in the list of choices" in message or "among your runs" in message or "appear only once" in message
            ), message
        message = refused(ben, *arena_form("hi", mode="Blind pair", pool=["base", name]), api_name="/arena")
        assert "not in the list of choices" in message or "among your runs" in message, message
        message = refused(ben, "hi", [], 0.0, 0.9, 1.1, 16, name, api_name="/respond")
        assert "not in the list of choices" in message or "among your runs" in message, message
    assert "No blind votes yet" in ben.predict(api_name="/leaderboard")[0]
    assert "Send a message" in refused(ben, api_name="/vote_a")
    assert "No preference rows" in refused(ben, api_name="/arena_download")
    # Nor through the file routes: votes hold conversations.
    for path in (
        f"/gradio_api/file={runs}/ana/.votes/votes.jsonl",
        f"/gradio_api/file={runs}/ana/.votes/preferences.jsonl",
    ):
        assert get(app, path) in (403, 404), path


def test_queue_through_the_app_and_the_teacher_actions(room):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from workbench.server.run_manager import MANAGER
    from workbench.ui.train_tab import apply_preset

    app, runs = room
    ana, ben = join(app, "ana2"), join(app, "ben2")
    MANAGER.wait(timeout=120)
    assert ana.predict(*train_form("sentiment_json", "long", max_steps=2000), api_name="/start") == "started long"
    queued = ben.predict(*train_form("sentiment_json", "short"), api_name="/start")
    assert queued.startswith("queued short: position 1 in the queue"), queued
    assert "waiting: position 1 in the queue" in ben.predict(api_name="/poll")[0]
    again = ben.predict(*train_form("sentiment_json", "short2"), api_name="/start")
    assert "already have a run waiting" in again

    # The teacher's endpoints refuse a session without the password.
    stranger = Client(app.local_url, verbose=False)
    with pytest.raises(AppError, match="teacher's password"):
        stranger.predict(api_name="/teacher_view")
    assert stranger.predict("guess", api_name="/teacher_unlock")[0] == "Wrong password."
    teacher = Client(app.local_url, verbose=False)
    assert teacher.predict(PASSWORD, api_name="/teacher_unlock")[0].startswith("Teacher's view unlocked")
    room_table, board, targets, _ = teacher.predict(api_name="/teacher_view")
    rows = {(r[0], r[1]): r for r in room_table["data"]}
    assert rows[("ana2", "long")][2] == "training" and rows[("ben2", "short")][2] == "queued #1"

    assert act(teacher, "stop", "ana2/long") == "stopping long after the current step"
    wait_for(lambda: MANAGER.snapshot("ben2").status == "completed")  # the queue moved on by itself
    room_table, board, _, _ = teacher.predict(api_name="/teacher_view")
    assert [r[1:3] for r in board["data"]][0][0] in ("ana2", "ben2")
    assert all(isinstance(r[3], float) for r in board["data"]), "held-out loss of each ranked run"
    assert act(teacher, "share", "ben2/short").startswith("shared ben2/short")
    names = ana.predict([], api_name="/runs")[3]
    assert "shared/ben2-short" in str(names), names
    assert "not one of your runs" in ana.predict("shared/ben2-short", api_name="/delete_run")

    version = apply_preset(0)[0]
    assert act(teacher, "preset", preset="sft_qlora") == "pushed sft_qlora to every learner's Train tab"
    pushed = apply_preset(version if isinstance(version, int) else 0)
    assert pushed[2] == "qlora" and "teacher set these settings" in pushed[-1]
    assert apply_preset(pushed[0]) == (gr.skip(),) * 10, "a page applies each push once"

    assert act(teacher, "delete", "ana2/long") == "deleted ana2/long"
    assert "type reset" in act(teacher, "reset")
    assert act(teacher, "reset", confirm="reset").startswith("room reset")
    assert [p.name for p in runs.iterdir()] == [".browser-secret"], "only the server's key for stored identities stays"


def test_a_run_cut_off_by_a_restart_shows_as_interrupted_and_resumes_through_the_queue(tmp_path, monkeypatch):
    from workbench.server.run_manager import RunManager
    from workbench.ui import runs_tab

    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_WORKSHOP", "1")
    ana = claim("ana", "login")
    for name, files in {
        "done": ["adapter/adapter_config.json"],
        "cut": ["checkpoints/checkpoint-2/trainer_state.json"],
        "early": [],
    }.items():
        run = tmp_path / "ana" / name
        run.mkdir(parents=True)
        (run / "config.yaml").write_text(f"name: {name}\ndata: sentiment_json\n")
        for file in files:
            (run / file).parent.mkdir(parents=True, exist_ok=True)
            (run / file).write_text("{}")
    resumed = []
    manager = RunManager(
        resume_fn=lambda run_dir, on_event, stop: resumed.append(run_dir.name) or type("R", (), {"status": "completed"})
    )
    monkeypatch.setattr(runs_tab, "MANAGER", manager)
    assert {row[0]: row[1] for row in runs_tab.runs_table(ana)} == {
        "done": "finished",
        "cut": "interrupted",
        "early": "interrupted",
    }
    assert runs_tab.resume_run(None, ana, "done") == "⚠️ done is not interrupted: nothing to resume"
    assert "before its first checkpoint" in runs_tab.resume_run(None, ana, "early")
    assert runs_tab.resume_run(None, ana, "cut") == "started cut"
    manager.wait(timeout=5)
    assert resumed == ["cut"]
    ben = claim("ben", "login")
    assert runs_tab.runs_table(ben) == [] and "not one of your runs" in runs_tab.resume_run(None, ben, "cut")


def test_arena_handlers_take_runs_and_votes_from_the_page_identity(
    tmp_path, monkeypatch, tiny_model_dir, make_adapter_run
):
    """The Arena's handlers themselves (not only Gradio's choice check) keep a learner to their own and shared runs."""
    from workbench.ui import arena_tab, chat_tab
    from workbench.workspace.learners import votes_dir

    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_WORKSHOP", "1")
    make_adapter_run(tmp_path / "ana" / "mine", tiny_model_dir, seed=1)
    make_adapter_run(tmp_path / "_shared" / "class-run", tiny_model_dir, seed=2)
    ana, ben = (claim(n, "login") for n in ("ana", "ben"))
    assert set(arena_tab.answering(ana)) == {"mine", "shared/class-run"}
    assert set(arena_tab.answering(ben)) == {"shared/class-run"}
    assert votes_dir(ben) == tmp_path / "ben" / ".votes"
    slots = ("base", 1.0, "mine", 1.0, "(none)", 1.0, "(none)", 1.0)
    with pytest.raises(gr.Error, match="among your runs"):
        next(arena_tab.answer(None, ben, str(tiny_model_dir), "hi", None, arena_tab.NAMED, [], *slots, "", 0.0, 4, 0))
    with pytest.raises(gr.Error, match="among your runs"):
        next(
            arena_tab.answer(
                None, ben, str(tiny_model_dir), "hi", None, arena_tab.BLIND, ["mine", "base"], *slots, "", 0.0, 4, 0
            )
        )
    with pytest.raises(gr.Error, match="among your runs"):
        next(chat_tab.respond(None, ben, str(tiny_model_dir), "hi", [], 0.0, 0.9, 1.1, 4, "mine"))
    with pytest.raises(gr.Error, match="type your name"):  # a page that has not joined has no runs and no votes
        next(arena_tab.answer(None, None, str(tiny_model_dir), "hi", None, arena_tab.NAMED, [], *slots, "", 0.0, 4, 0))


def test_gradio_logins_become_learners_and_close_the_runs_folder(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from app import launch_options
    from workbench.ui.identity import current

    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path))
    monkeypatch.delenv("WORKBENCH_WORKSHOP", raising=False)
    monkeypatch.delenv("WORKBENCH_TEACHER_PASSWORD", raising=False)
    monkeypatch.delenv("WORKBENCH_AUTH", raising=False)
    assert launch_options()["allowed_paths"] == [str(tmp_path.resolve())], "one person's machine: unchanged"
    monkeypatch.setenv("WORKBENCH_AUTH", "ana:pw1,ben:pw:2")
    options = launch_options()
    assert options["auth"] == [("ana", "pw1"), ("ben", "pw:2")] and "allowed_paths" not in options
    # The server's login wins over anything the page holds, and owns the name against a typed one.
    ana = current(None, SimpleNamespace(username="ana", session_hash="s1"))
    assert (ana.owner, ana.folder) == ("ana", tmp_path / "ana")
    assert current(ana, SimpleNamespace(username="ben", session_hash="s1")).learner == "ben"
    with pytest.raises(WorkbenchError, match="taken"):
        claim("ana", "name", new_token())


def test_the_teacher_sees_the_rooms_blind_ranking_of_shared_runs(tmp_path, monkeypatch):
    """Every learner's blind votes between the base and the shared runs rank them together; votes on a learner's
    own runs, and named votes, stay out of the room's ranking."""
    from workbench.inference.votes import record_vote
    from workbench.ui.teacher_tab import room_arena
    from workbench.workspace.learners import votes_dir

    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_WORKSHOP", "1")
    assert "No blind votes on the shared runs yet" in room_arena()
    for name in ("ana", "ben"):
        folder = votes_dir(claim(name, "login"))
        for choice in ("a", "a", "b"):
            record_vote(folder, "q", "x", "y", choice, "shared/ana-good", "base", details={"mode": "blind"})
        record_vote(folder, "q", "x", "y", "a", "my-private-run", "base", details={"mode": "blind"})
        record_vote(folder, "q", "x", "y", "a", "shared/ana-good", "shared/ben-named", details={"mode": "named"})
    table = room_arena()
    assert "| 1 | shared/ana-good |" in table and "| 2 | base |" in table and "6 blind votes" in table
    assert "my-private-run" not in table and "shared/ben-named" not in table
