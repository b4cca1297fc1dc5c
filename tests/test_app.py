"""The app serves a page and answers chat through Gradio's API, on a tiny model."""

from __future__ import annotations

import pytest

from workbench.ui.chat_tab import message_text


@pytest.fixture(scope="module")
def running_app(tiny_model_dir):
    from app import build_app

    app = build_app(str(tiny_model_dir))
    app.queue().launch(prevent_thread_lock=True, quiet=True)
    yield app
    app.close()


def test_chat_streams_an_answer_through_the_api(running_app):
    from gradio_client import Client

    client = Client(running_app.local_url, verbose=False)
    history, cleared = client.predict("hello", [], 0.0, 0.9, 1.1, 16, api_name="/respond")
    assert cleared == ""
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert message_text(history[0]["content"]) == "hello"
    assert message_text(history[1]["content"]).strip()

    # A second turn sends the first back as history, in Gradio's own message format.
    history, _ = client.predict("again", history, 0.0, 0.9, 1.1, 16, api_name="/respond")
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
