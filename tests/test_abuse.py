"""What a hostile visitor sends that the app must shrug off (issue #33): numbers that are not numbers, refusals
that would grow the server's log, dot-files through the file route, a Space in workshop mode, a flood of wrong
teacher passwords, floods of votes and downloads. Each test drives the app as a script would, on loopback."""

from __future__ import annotations

import json
import logging

import gradio as gr
import pytest
from app_server import serve
from test_security import get, kind, ordinary, post


@pytest.fixture(scope="module")
def site(tiny_model_dir, tmp_path_factory):
    runs = tmp_path_factory.mktemp("abuse-runs")
    with serve(tiny_model_dir, runs) as app:
        yield app, runs


def call(app, endpoint: str, data: list) -> tuple[str, object]:
    """POST ``data`` as raw JSON (NaN and Infinity written as Python's json writes them), then read the event
    stream: ("complete", its data) or ("error", the message the visitor reads: None for a traceback)."""
    status, body = post(app, f"/gradio_api/call{endpoint}", {"data": data})
    assert status == 200, body
    _, events = get(app, f"/gradio_api/call{endpoint}/{json.loads(body)['event_id']}")
    last = [line for line in events.splitlines() if line.startswith(("event:", "data:"))][-2:]
    event, data = last[0].removeprefix("event:").strip(), json.loads(last[1].removeprefix("data:"))
    return (event, data.get("error") if isinstance(data, dict) else data) if event == "error" else (event, data)


# ---- numbers that are not numbers -------------------------------------------------------------------------


def numeric_inputs(app) -> dict[str, list[int]]:
    """Endpoint -> positions of its number inputs, from Gradio's own API info (tabs added later are swept too)."""
    from gradio_client import Client

    info = Client(app.local_url, verbose=False).view_api(return_format="dict", print_info=False)
    found = {}
    for name, endpoint in info["named_endpoints"].items():
        picks = [i for i, p in enumerate(endpoint["parameters"]) if kind(p) in ("number", "integer")]
        if picks:
            found[name] = (endpoint["parameters"], picks)
    return found


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), "12", None, True])
def test_every_number_input_refuses_what_is_not_a_finite_number_with_a_sentence(site, bad):
    app, runs = site
    endpoints = numeric_inputs(app)
    assert {"/estimate", "/start", "/respond", "/arena", "/load_data", "/evaluate"} <= set(endpoints), endpoints
    for name, (parameters, picks) in endpoints.items():
        for position in picks:
            data = [bad if i == position else ordinary(p) for i, p in enumerate(parameters)]
            event, message = call(app, name, data)
            label = parameters[position]["label"]
            label = label["key"] if isinstance(label, dict) else label  # a translated label: its English key
            assert event == "error", (name, label, event, message)
            assert isinstance(message, str) and f"{label} must be a finite number" in message, (name, message)
    assert not [p for p in runs.iterdir() if not p.name.startswith(".")], "nothing may have started"


def test_a_refusal_writes_one_log_line_and_a_bug_keeps_its_traceback(site, caplog, capfd, monkeypatch):
    app, _ = site
    capfd.readouterr()
    with caplog.at_level(logging.WARNING, logger="workbench.refused"):
        event, message = call(app, "/load_data", ["sentiment_json", float("nan")])
        assert event == "error" and "max_length must be a finite number from 32 to 2048" in message
        event, _ = call(app, "/load_data", ["sentiment_json", 4096])  # Gradio's own bound check, a gr.Error
        assert event == "error"
    refusals = [r.getMessage() for r in caplog.records if r.name == "workbench.refused"]
    assert refusals == [
        "refused load_data: max_length must be a finite number from 32 to 2048 (got nan)",
        "refused load_data: Value 4096 is greater than maximum value 2048.",
    ]
    assert "Traceback" not in capfd.readouterr().err

    def bug(*args, **kwargs):
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr("workbench.ui.data_tab.load_data", bug)
    event, message = call(app, "/load_data", ["sentiment_json", 256])
    assert (event, message) == ("error", None), "a bug's text is not shown to the visitor"
    err = capfd.readouterr().err
    assert "Traceback" in err and "RuntimeError: a bug in a handler" in err


# ---- the file route never serves a dot-file ------------------------------------------------------------------


def test_the_file_route_serves_no_dot_file_however_it_is_spelled(site):
    app, runs = site
    (runs / "demo").mkdir(exist_ok=True)
    (runs / "demo" / "config.yaml").write_text("name: demo\n")
    (runs / "demo" / ".learner.json").write_text('{"token_hash": "x"}')
    (runs / "demo" / ".uploads").mkdir(exist_ok=True)
    (runs / "demo" / ".uploads" / "mine.jsonl").write_text("{}\n")
    (runs / "demo" / "visible.json").symlink_to(runs / ".browser-secret")
    secret = (runs / ".browser-secret").read_text()
    assert get(app, f"/gradio_api/file={runs}/demo/config.yaml") == (200, "name: demo\n"), "runs stay downloadable"
    for path in (
        f"{runs}/.browser-secret",
        f"{runs}/%2ebrowser-secret",
        f"{runs}/demo/../.browser-secret",
        f"{runs}/demo/.learner.json",
        f"{runs}/demo/.uploads/mine.jsonl",
        f"{runs}/demo/visible.json",
        f"{runs}//.browser-secret",
    ):
        for prefix in ("/gradio_api/file=", "/file="):
            status, body = get(app, prefix + path)
            assert status in (403, 404), (prefix + path, status)
            assert secret not in body and "token_hash" not in body, path


# ---- a Space in workshop mode ----------------------------------------------------------------------------------


@pytest.mark.parametrize("client_id", [None, "client-id"], ids=["no-hf-oauth", "hf-oauth-without-the-extra"])
def test_a_space_in_workshop_mode_starts_and_learners_join_by_name(tiny_model_dir, tmp_path, monkeypatch, client_id):
    """A Space (SPACE_ID) whose owner set WORKBENCH_WORKSHOP=1: without `hf_oauth: true` in its front matter the
    Hub sets no OAUTH_CLIENT_ID, and without gradio[oauth] Gradio cannot build a page with a login button; either
    way the page starts without one and learners type their names (it failed to start)."""
    from gradio_client import Client

    from workbench.server import public

    monkeypatch.setattr(public, "find_spec", lambda module: None)  # gradio[oauth] not installed
    env = {"SPACE_ID": "someone/workbench", "WORKBENCH_WORKSHOP": "1"} | (
        {"OAUTH_CLIENT_ID": client_id} if client_id else {}
    )
    with serve(tiny_model_dir, tmp_path, **env) as app:
        assert not [b for b in app.blocks.values() if isinstance(b, gr.LoginButton)]
        _, greeting = Client(app.local_url, verbose=False).predict("ana", {}, api_name="/sign_in")
        assert greeting.startswith("Signed in as ana"), greeting


def test_the_login_button_needs_hf_oauth_and_the_extra(monkeypatch):
    """Gradio attaches its OAuth routes when the page is built, so a button without both fails the start."""
    from workbench.server import public

    monkeypatch.setenv("SPACE_ID", "someone/workbench")
    monkeypatch.delenv("OAUTH_CLIENT_ID", raising=False)
    monkeypatch.setattr(public, "find_spec", lambda module: object())  # as if gradio[oauth] were installed
    assert not public.hf_login_available(), "no `hf_oauth: true`: the Hub set no OAUTH_CLIENT_ID"
    monkeypatch.setenv("OAUTH_CLIENT_ID", "client-id")
    assert public.hf_login_available()
    monkeypatch.setattr(public, "find_spec", lambda module: None if module == "authlib" else object())
    assert not public.hf_login_available(), "hf_oauth without gradio[oauth] in the requirements"


# ---- a flood of wrong teacher passwords ------------------------------------------------------------------------

PASSWORD = "teach-7f3a"


def test_wrong_passwords_back_off_per_session_and_nothing_waits(monkeypatch):
    """A wrong password puts its session in back-off: its next tries are refused at once, unread (the right
    password too), for 1 s, then 2 s, 4 s... Nothing sleeps, so no queue slot is held: 1,000 wrong passwords
    from 50 sessions leave another session's right password opening the view at once. (The old handler slept
    1 s per wrong password in one of the queue's four slots: the flood locked out the teacher and the room.)"""
    import time
    from types import SimpleNamespace

    from workbench.ui import teacher_tab

    def no_sleep(seconds):
        raise AssertionError("a handler that sleeps holds a queue slot")

    clock = [1000.0]
    monkeypatch.setenv("WORKBENCH_TEACHER_PASSWORD", PASSWORD)
    monkeypatch.setattr(time, "sleep", no_sleep)
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(teacher_tab, "_backoff", {})
    session = [SimpleNamespace(session_hash=f"guesser-{n}") for n in range(50)]
    answers = [teacher_tab.unlock(f"guess-{i}", session[i % 50])[1] for i in range(1000)]
    assert answers.count("Wrong password.") == 50, "one read per session; the rest refused while in back-off"
    assert set(answers) == {"Wrong password.", "Too many wrong passwords: try again in 1 s."}
    opened, message, *_ = teacher_tab.unlock(PASSWORD, SimpleNamespace(session_hash="teacher"))
    assert opened is True and message.startswith("Teacher's view unlocked"), message

    guesser = session[0]
    assert teacher_tab.unlock(PASSWORD, guesser)[0] is False, "in back-off even the right password waits"
    clock[0] += 1.0
    assert teacher_tab.unlock("guess", guesser)[1] == "Wrong password.", "the back-off has ended: read again"
    assert teacher_tab.unlock(PASSWORD, guesser)[1] == "Too many wrong passwords: try again in 2 s.", "doubled"
    clock[0] += 2.0
    assert teacher_tab.unlock(PASSWORD, guesser)[0] is True


def test_through_the_app_a_guesser_backs_off_and_the_teacher_still_logs_in(tiny_model_dir, tmp_path):
    from gradio_client import Client

    with serve(tiny_model_dir, tmp_path, WORKBENCH_WORKSHOP="1", WORKBENCH_TEACHER_PASSWORD=PASSWORD) as app:
        guesser, teacher = Client(app.local_url, verbose=False), Client(app.local_url, verbose=False)
        answers = [guesser.predict(f"guess-{i}", api_name="/teacher_unlock")[0] for i in range(3)]
        assert answers[0] == "Wrong password." and answers[1].startswith("Too many wrong passwords"), answers
        assert teacher.predict(PASSWORD, api_name="/teacher_unlock")[0].startswith("Teacher's view unlocked")
        assert teacher.predict(api_name="/teacher_view")[0]["headers"][0] == "learner"


# ---- a flood of votes ----------------------------------------------------------------------------------------


def fat_votes(n: int, seed: int = 0) -> list[dict]:
    """``n`` votes as the arena logs them: sides, choice and a long conversation each (what makes the log heavy)."""
    from test_arena import synthetic_votes

    talk = [{"role": "user", "content": "x" * 2000}, {"role": "assistant", "content": "y" * 2000}]
    return [
        v | {"voter": f"v{i % 50}", "conversations": {"a": talk, "b": talk}}
        for i, v in enumerate(synthetic_votes(n, seed))
    ]


def test_a_vote_reads_back_only_itself_and_the_leaderboard_refits_from_counts(tmp_path, monkeypatch):
    """With 2,000 votes logged, one more vote and the leaderboard after it parse one line of the log (they parsed
    all of it, 8 MB here, on every vote), and the board equals a full refit of every vote."""
    import json as json_module

    from workbench.inference import votes
    from workbench.inference.leaderboard import leaderboard

    logged = fat_votes(2000)
    (tmp_path / votes.VOTES_FILE).write_text("".join(json.dumps(v) + "\n" for v in logged))
    log = votes.vote_log(tmp_path)
    assert sum(log.outcomes.values()) == 2000 and log.voters["v0"] == 40
    before = log.leaderboard().rows()
    parsed = []
    loads = json_module.loads
    monkeypatch.setattr(votes.json, "loads", lambda text: parsed.append(text) or loads(text))
    votes.record_vote(tmp_path, "Say hi", "Hi!", "Hello.", "a", "strong", "weak", voter="v0", details={"mode": "blind"})
    board = votes.vote_log(tmp_path).leaderboard()
    assert len(parsed) == 1, "the new vote's line only"
    assert board.rows() != before and sum(board.choices.values()) == 2001
    monkeypatch.undo()
    full = leaderboard(votes.read_votes(tmp_path))
    assert board.rows() == full.rows() and board.choices == full.choices
    assert board is votes.vote_log(tmp_path).leaderboard(), "no vote since: the same board, not a refit"


def test_votes_are_capped_per_voter_with_a_sentence(tmp_path, monkeypatch):
    import pytest

    from workbench.errors import WorkbenchError
    from workbench.inference import votes

    monkeypatch.setattr(votes, "MAX_VOTES_PER_VOTER", 3)
    for _ in range(3):
        votes.record_vote(tmp_path, "q", "a", "b", "tie", "base", "run", voter="session-1", details={"mode": "blind"})
    with pytest.raises(WorkbenchError, match="you have cast 3 votes here, the most one visitor may"):
        votes.record_vote(tmp_path, "q", "a", "b", "a", "base", "run", voter="session-1", details={"mode": "blind"})
    votes.record_vote(
        tmp_path, "q", "a", "b", "a", "base", "run", voter="session-2", details={"mode": "blind"}
    )  # another visitor
    votes.record_vote(
        tmp_path, "q", "a", "b", "a", "base", "run", details={"mode": "blind"}
    )  # the CLI and notebooks name no voter
    monkeypatch.setattr(votes, "_logs", {})  # a restarted server counts from the log itself
    with pytest.raises(WorkbenchError, match="the most one visitor may"):
        votes.record_vote(tmp_path, "q", "a", "b", "a", "base", "run", voter="session-1", details={"mode": "blind"})
    assert len(votes.read_votes(tmp_path)) == 5 and len(votes.read_pairs(tmp_path)) == 2


def test_a_reset_log_is_read_again_from_its_start(tmp_path):
    from workbench.inference import votes

    votes.record_vote(tmp_path, "q", "a", "b", "a", "base", "run", voter="v", details={"mode": "blind"})
    assert votes.vote_log(tmp_path).voters["v"] == 1
    (tmp_path / votes.VOTES_FILE).unlink()  # the teacher's Reset deletes the learners' folders
    assert not votes.vote_log(tmp_path).voters
    votes.record_vote(tmp_path, "q", "a", "b", "b", "run", "base", voter="v", details={"mode": "blind"})
    assert votes.vote_log(tmp_path).voters["v"] == 1 and votes.vote_log(tmp_path).leaderboard().sides == ["base", "run"]


# ---- a flood of downloads ------------------------------------------------------------------------------------


def finished_run(folder, name: str = "r"):
    run = folder / name
    for path, text in {
        "config.yaml": "name: r\n",
        "metrics.jsonl": '{"loss": 1.0}\n',
        "adapter/adapter_model.safetensors": "w" * 100_000,
        "checkpoints/checkpoint-2/optimizer.pt": "o" * 100_000,
        ".learner.json": "{}",
    }.items():
        (run / path).parent.mkdir(parents=True, exist_ok=True)
        (run / path).write_text(text)
    return run


def test_a_hundred_downloads_of_a_run_leave_one_copy_and_a_new_version_replaces_it(tmp_path):
    import os
    import zipfile

    from workbench.server.downloads import DownloadCache

    cache = DownloadCache(tmp_path / "cache", max_bytes=10**9)
    run = finished_run(tmp_path / "runs")
    first = cache.run_download(run)
    assert [p.name for p in first] == ["r.zip", "config.yaml", "metrics.jsonl"]
    with zipfile.ZipFile(first[0]) as zf:
        assert sorted(zf.namelist()) == ["r/adapter/adapter_model.safetensors", "r/config.yaml", "r/metrics.jsonl"]
    assert all(cache.run_download(run) == first for _ in range(99))
    assert len(list((tmp_path / "cache").iterdir())) == 1

    (run / "metrics.jsonl").write_text('{"loss": 1.0}\n{"loss": 0.5}\n')  # the run went on: a new version
    os.utime(run / "metrics.jsonl", ns=(0, 10**18))
    second = cache.run_download(run)
    assert second != first and not first[0].exists() and len(list((tmp_path / "cache").iterdir())) == 1
    assert (second[2]).read_text().count("loss") == 2

    other = finished_run(tmp_path / "runs", "other")
    cache.max_bytes = cache.size() + 1  # room for one run's download only: the least recently used goes
    cache.run_download(other)
    assert not second[0].exists() and len(list((tmp_path / "cache").iterdir())) == 1


def test_downloads_through_gradio_are_served_from_the_cache_not_copied(tmp_path, monkeypatch):
    """Gradio copies a returned file into its cache folder unless it is there already: the cache lives there, so
    100 downloads of one run through a File output leave one zip of it on disk, in all."""
    import gradio as gr
    from gradio_client import Client

    from workbench.server.downloads import DownloadCache

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    cache = DownloadCache()
    run = finished_run(tmp_path / "runs")
    with gr.Blocks() as demo:
        button, files = gr.Button(), gr.File(file_count="multiple")
        button.click(lambda: [str(p) for p in cache.run_download(run)], outputs=files, api_name="download")
    demo.queue().launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1")
    try:
        client = Client(demo.local_url, verbose=False, download_files=False)
        served = {client.predict(api_name="/download")[0]["path"] for _ in range(100)}
    finally:
        demo.close()
    assert len(served) == 1 and str(tmp_path / "gradio") in served.pop()
    assert len(list((tmp_path / "gradio").rglob("r.zip"))) == 1
