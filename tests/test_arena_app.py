"""The Arena tab through Gradio's API: sessions chat at once, votes land in one log, nobody sees another's chat."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from app_server import serve
from conftest import arena_form

from workbench.ui.chat_text import message_text


@pytest.fixture(scope="module")
def site(tiny_model_dir, tmp_path_factory, make_adapter_run):
    runs = tmp_path_factory.mktemp("arena-app-runs")
    make_adapter_run(runs / "tuned", tiny_model_dir, seed=1)
    with serve(tiny_model_dir, runs) as app:
        yield app, runs


def post(app, path: str, payload: dict) -> tuple[int, str]:
    import httpx

    response = httpx.post(f"{app.local_url.rstrip('/')}{path}", json=payload, timeout=60)
    return response.status_code, response.text


def get(app, path: str) -> tuple[int, str]:
    import httpx

    response = httpx.get(f"{app.local_url.rstrip('/')}{path}", timeout=60)
    return response.status_code, response.text


def client_for(app):
    from gradio_client import Client

    return Client(app.local_url, verbose=False)


def test_two_sessions_chat_at_once_vote_into_one_log_and_never_see_each_other(site):
    app, runs = site
    alice, bob = client_for(app), client_for(app)
    for client in (alice, bob):
        client.predict(api_name="/arena_runs")

    def converse(client, name: str):
        outputs = None
        for turn in range(2):
            outputs = client.predict(*arena_form(f"{name} secret {turn}", "base", "tuned"), api_name="/arena")
        status = client.predict(api_name="/vote_a")
        return outputs, status

    with ThreadPoolExecutor(2) as pool:
        (alice_out, alice_vote), (bob_out, bob_vote) = pool.map(converse, [alice, bob], ["alice", "bob"])
    for outputs, me, other in ((alice_out, "alice", "bob"), (bob_out, "bob", "alice")):
        side_a, side_b, *_ = outputs
        for chatbot in (side_a["value"], side_b["value"]):
            users = [message_text(m["content"]) for m in chatbot if m["role"] == "user"]
            assert users == [f"{me} secret 0", f"{me} secret 1"], users
            assert other not in json.dumps(chatbot)
    assert "Recorded" in str(alice_vote) and "Recorded" in str(bob_vote)

    votes = [json.loads(line) for line in (runs / ".votes" / "votes.jsonl").read_text().splitlines()]
    assert len(votes) == 2 and len({v["session"] for v in votes}) == 2
    for vote in votes:
        name = vote["conversations"]["a"][0]["content"].split()[0]
        users = [m["content"] for side in "ab" for m in vote["conversations"][side] if m["role"] == "user"]
        assert users == [f"{name} secret 0", f"{name} secret 1"] * 2, "a vote holds its own session's conversation only"
        assert vote["sides"] == {"a": "base", "b": "tuned"} and vote["choice"] == "a"

    # Each visitor downloads their own rows; the server-wide log is not served by the file route.
    rows_file = alice.predict(api_name="/arena_download")
    rows = [json.loads(line) for line in open(rows_file, encoding="utf-8")]
    assert len(rows) == 1 and "alice secret 1" in json.dumps(rows[0]["prompt"]) and "bob" not in json.dumps(rows)
    import httpx

    response = httpx.get(f"{app.local_url}gradio_api/file={runs / '.votes' / 'votes.jsonl'}")
    assert response.status_code == 403 and "secret" not in response.text

    board, _, counts = alice.predict(api_name="/leaderboard")
    assert "No blind votes yet" in board and "2 votes in named rounds" in board, "named votes are shown, not ranked"


def test_a_vote_takes_only_its_choice_and_records_only_what_the_server_generated(site):
    from gradio_client.exceptions import AppError

    app, runs = site
    client = client_for(app)
    info = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for choice in ("a", "b", "tie", "both_bad"):
        assert info[f"/vote_{choice}"]["parameters"] == [], "a vote takes no text, prompt or side from the page"
    with pytest.raises(AppError, match="before voting"):
        client.predict(api_name="/vote_a")
    client.predict(api_name="/arena_runs")
    client.predict(*arena_form("hi", "base", "tuned"), api_name="/arena")
    # Text sent anyway, by hand as an attacker would: the vote endpoint has no input to put it in.
    status, body = post(app, "/gradio_api/call/vote_a", {"data": ["x" * 100_000]})
    if status == 200:
        status, events = get(app, f"/gradio_api/call/vote_a/{json.loads(body)['event_id']}")
        assert "event: error" in events, events[:500]
    with pytest.raises(AppError, match="characters long"):
        client.predict(*arena_form("x" * 5000, "base", "tuned"), api_name="/arena")
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict(*arena_form("hi", "base", "../../etc"), api_name="/arena")
    before = (runs / ".votes" / "votes.jsonl").read_text() if (runs / ".votes" / "votes.jsonl").exists() else ""
    for _ in range(3):  # one vote per turn
        try:
            client.predict(api_name="/vote_tie")
        except AppError as error:
            assert "has its vote" in str(error)
    after = (runs / ".votes" / "votes.jsonl").read_text()
    assert len(after.splitlines()) == len(before.splitlines()) + 1


def test_blind_round_reveals_names_after_the_vote(site):
    app, _ = site
    client = client_for(app)
    client.predict(api_name="/arena_runs")
    outputs = client.predict(*arena_form("hello", mode="Blind pair", pool=["base", "tuned"]), api_name="/arena")
    assert [o["label"] for o in outputs[:4]] == ["Model A", "Model B", "Side C", "Side D"]
    assert [o["visible"] for o in outputs[:4]] == [True, True, False, False]
    outputs = client.predict(api_name="/vote_b")
    labels = sorted(o["label"] for o in outputs[:2])
    assert labels in (["A: base", "B: tuned"], ["A: tuned", "B: base"]), labels
    assert "A was" in outputs[-1]
    # The next message after the reveal starts a new blind round with hidden names.
    outputs = client.predict(*arena_form("again", mode="Blind pair", pool=["base", "tuned"]), api_name="/arena")
    assert [o["label"] for o in outputs[:2]] == ["Model A", "Model B"] and "New blind round" in outputs[-1]
