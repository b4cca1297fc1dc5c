"""The app through Gradio's API on a tiny model: chat, data, training through the run manager, compare, vote,
evaluate."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from app_server import serve
from conftest import arena_form, train_form

from workbench.ui.chat_text import message_text


@pytest.fixture(scope="module")
def running_app(tiny_model_dir, tmp_path_factory):
    with serve(tiny_model_dir, tmp_path_factory.mktemp("runs")) as app:
        yield app


@pytest.fixture
def client(running_app):
    from gradio_client import Client

    return Client(running_app.local_url, verbose=False)


def test_chat_streams_an_answer_through_the_api(client):
    history, cleared = client.predict("hello", [], 0.0, 0.9, 1.1, 16, api_name="/respond")
    assert cleared == ""
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert message_text(history[0]["content"]) == "hello"
    assert message_text(history[1]["content"]).strip()

    # A second turn sends the first back as history, in Gradio's own message format.
    history, _ = client.predict("again", history, 0.0, 0.9, 1.1, 16, api_name="/respond")
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]


def test_data_tab_reports_formats_problems_and_trained_tokens(client):
    summary, report, _, tokens, plot, caption = client.predict("sentiment_json", 256, api_name="/load_data")
    assert "usable" in report and "kind **conversational**" in summary
    assert {"token": '{"sentiment": "negative", "stars": 1}<|im_end|>', "class_or_confidence": "trained"} in tokens
    assert plot is not None and "tokens trained" in caption

    # A broken sample: the report names the bad lines, the good records stay browsable.
    _, report, *_ = client.predict("broken/not_json.jsonl", 256, api_name="/load_data")
    assert "not_json.jsonl:" in report and "error" in report


def test_malformed_upload_shows_the_report_not_a_traceback(client, tmp_path):
    from gradio_client import handle_file

    bad = tmp_path / "mine.jsonl"
    bad.write_text('{"prompt": "hi", "completion": "there"}\nthis is not json\n{"foo": 1}\n')
    client.predict(handle_file(str(bad)), api_name="/upload")
    summary, report, *_ = client.predict("upload", 256, api_name="/load_data")
    assert "mine.jsonl:2" in report and "mine.jsonl:3" in report
    assert "1 usable" in summary.replace("**", "")
    assert "Traceback" not in report

    # A file that is no dataset at all still gets a readable message.
    unreadable = tmp_path / "table.parquet"
    unreadable.write_text("not parquet")
    client.predict(handle_file(str(unreadable)), api_name="/upload")
    summary, report, *_ = client.predict("upload", 256, api_name="/load_data")
    assert "table.parquet" in report and "Traceback" not in report


def test_train_compare_vote_evaluate_end_to_end(client):
    from workbench.server.run_manager import MANAGER

    assert "Before you start" in client.predict(*train_form("sentiment_json", "e2e"), api_name="/estimate")
    # Two starts at once: one trains, the other waits its turn in the queue (one training at a time on a CPU).
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(
            lambda name: client.predict(*train_form("sentiment_json", name), api_name="/start"), ["e2e", "other"]
        )
    messages = sorted([first, second])
    assert any(m.startswith("started ") for m in messages), messages
    assert any(m.startswith("queued ") and "position 1 in the queue" in m for m in messages), messages
    started = next(m for m in messages if m.startswith("started ")).removeprefix("started ")

    state = MANAGER.wait(timeout=120)
    assert state.status == "completed", state.log
    latest = next(m for m in messages if m.startswith("queued ")).split(":")[0].removeprefix("queued ")
    progress, plot, log, files, *_ = client.predict(api_name="/poll")  # the page shows its latest run: the queued one
    assert f"{latest}</b>" in progress and "completed: step 2/2" in progress and "step 2/2" in log and plot is not None
    assert any(f.endswith(f"{latest}.zip") for f in files) and any(f.endswith("config.yaml") for f in files)

    table, *_ = client.predict([], api_name="/runs")
    assert started in [row[0] for row in table["data"]]

    client.predict(api_name="/arena_runs")
    side_a, side_b, *_ = client.predict(
        *arena_form("Rate this product review: great kettle.", started, "base"), api_name="/arena"
    )
    assert message_text(side_a["value"][-1]["content"]).strip() and message_text(side_b["value"][-1]["content"]).strip()
    *_, status = client.predict(api_name="/vote_a")
    assert "preference rows this session: 1" in status.replace("**", "")
    assert client.predict(api_name="/arena_download").endswith("preferences.jsonl")

    client.predict(api_name="/evaluate_runs")
    summary, chart, eval_files, examples, _, _ = client.predict(started, 4, False, "all", api_name="/evaluate")
    assert "| metric |" in summary and chart.endswith(".png") and len(examples["data"]) == 4
    assert sorted(os.path.basename(f) for f in eval_files) == ["eval.json", "eval.md"]
    # Picking the run again shows the saved evaluation, filtered, without computing it again.
    summary_again, _, _, improved, _, _ = client.predict(started, "improved", api_name="/evaluation")
    assert summary_again == summary and all(row[1] == "improved" for row in improved["data"])


def test_a_run_outlives_its_tab_and_a_double_stop_ends_it_once(running_app):
    from gradio_client import Client

    from workbench.server.run_manager import MANAGER
    from workbench.workspace.learners import runs_root

    MANAGER.wait(timeout=120)  # a run an earlier test started
    first_tab = Client(running_app.local_url, verbose=False)
    stored, _ = first_tab.predict({}, api_name="/identity")  # what a browser keeps in its localStorage
    assert (
        first_tab.predict(*train_form("sentiment_json", "outlives-tab", max_steps=2000), api_name="/start")
        == "started outlives-tab"
    )
    first_tab.close()  # the tab is gone: its heartbeat stops, as when a browser tab closes

    # Another visitor neither sees the run nor stops it.
    stranger = Client(running_app.local_url, verbose=False)
    stranger.predict({}, api_name="/identity")
    assert "outlives-tab" not in stranger.predict(api_name="/poll")[0]
    assert stranger.predict(api_name="/stop") == "nothing is training"

    # A page the same browser opens later sees the same run, still advancing.
    second_tab = Client(running_app.local_url, verbose=False)
    second_tab.predict(stored, api_name="/identity")

    drawn = [""]

    def step() -> int:
        progress = second_tab.predict(api_name="/poll")[0]
        if isinstance(progress, str):  # otherwise nothing changed since this page last drew
            drawn[0] = progress
        assert "outlives-tab" in drawn[0] and "running: step" in drawn[0], drawn[0]
        return int(drawn[0].split("running: step ")[1].split("/")[0])

    deadline = time.monotonic() + 120
    seen = step()
    while step() <= seen + 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert step() > seen + 2, "training stopped advancing once the tab that started it closed"

    # Stop pressed twice at once (a double click, or two visitors): no error, one stop.
    with ThreadPoolExecutor(2) as pool:
        answers = sorted(pool.map(lambda _: second_tab.predict(api_name="/stop"), range(2)))
    assert answers == [
        "already stopping outlives-tab: it ends after the current step",
        "stopping outlives-tab after the current step",
    ], answers
    state = MANAGER.wait(timeout=120)
    assert state.status == "stopped" and not state.error, state.log
    assert sum("stop requested" in line for line in state.log) == 1
    assert (runs_root() / "outlives-tab" / "adapter" / "adapter_model.safetensors").is_file()
    assert second_tab.predict(api_name="/stop") == "nothing is training"
