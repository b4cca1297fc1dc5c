"""Click through every tab in a real browser (Chromium) and save screenshots to test-artifacts/.

The browser is the one .ci/run installs: Debian's `chromium` package where apt has it, else Playwright's own
build (`playwright install chromium`). WORKBENCH_CHROMIUM names another. Skipped where none runs.
"""

from __future__ import annotations

import json

import pytest
from app_server import serve
from conftest import choose, send, shot


@pytest.fixture(scope="module")
def app_url(chromium, tiny_model_dir, tmp_path_factory):
    with serve(tiny_model_dir, tmp_path_factory.mktemp("browser-runs")) as app:
        yield app.local_url


@pytest.fixture
def page(browser, app_url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(app_url)
    return page


def test_click_through_every_tab(page, tmp_path):
    # Data: the sample loads on page open; an upload with markup shows it as text, never as HTML.
    page.get_by_text("tokens trained").first.wait_for(timeout=60_000)
    shot(page, "1_data")
    upload = tmp_path / "markup.jsonl"
    upload.write_text('{"prompt": "Say <b>bold</b> <img src=x onerror=alert(1)>", "completion": "ok"}\n')
    page.locator("input[type=file]").first.set_input_files(str(upload))
    page.get_by_text("<b>bold</b>").first.wait_for(timeout=30_000)
    assert page.locator("img[src=x]").count() == 0
    shot(page, "1_data_upload")
    # Train on a sample: its eval split is what the Evaluate tab scores on (the Train tab follows this choice).
    page.get_by_text("sentiment_json (conversational)").click()
    page.get_by_text("300 usable").first.wait_for(timeout=60_000)

    page.get_by_role("tab", name="Train").click()
    page.get_by_label("Max steps").fill("2")
    page.get_by_label("Run name (optional)").fill("browser-run")
    page.get_by_role("button", name="Start training").click()
    # The run manager is per process: wait for this run, not one an earlier test left "completed".
    page.locator(".wb-progress", has_text="browser-run").filter(has_text="completed: step 2/2").wait_for(
        timeout=180_000
    )
    page.wait_for_timeout(2500)  # one more poll draws the final plot and the files
    shot(page, "2_train")

    page.get_by_role("tab", name="Runs").click()
    page.get_by_role("button", name="Refresh").click()
    page.wait_for_timeout(1500)
    shot(page, "3_runs")

    page.get_by_role("tab", name="Arena").click()
    page.get_by_role("button", name="Refresh runs").first.click()
    page.wait_for_timeout(1000)
    choose(page, "Side B", "browser-run")
    send(page, "Rate this review: the kettle boils fast.", 1)
    page.get_by_role("button", name="A is better").click()
    page.get_by_text("Your preference rows this session").wait_for(timeout=30_000)
    shot(page, "4_arena")

    page.get_by_role("tab", name="Evaluate").click()
    page.get_by_role("button", name="Refresh runs").last.click()
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Evaluate", exact=True).click()
    page.get_by_text("Per example (").wait_for(timeout=180_000)
    shot(page, "5_evaluate")

    page.get_by_role("tab", name="Which method?").click()
    page.get_by_text("GPU with 8 GB or less").click()
    page.get_by_text("Recommended: SFT + QLORA").wait_for(timeout=10_000)
    shot(page, "6_method")
    page.get_by_role("button", name="Apply to the Train tab").click()
    # The estimate drawn at Start was for the old settings: the Train tab must not keep showing it as current.
    page.wait_for_function(
        "(document.querySelector('#wb-estimate textarea') || {}).value?.startsWith('Settings changed: press Estimate')",
        timeout=10_000,
    )
    shot(page, "6_method_applied")

    page.get_by_role("tab", name="Chat").click()
    shot(page, "7_chat")


def test_closing_the_tab_does_not_stop_training_and_a_new_tab_sees_the_run(browser, app_url):
    from workbench.server.run_manager import MANAGER

    MANAGER.wait(timeout=180)  # the click-through's run
    first = browser.new_context().new_page()
    first.goto(app_url)
    first.get_by_role("tab", name="Train").click()
    first.get_by_label("Max steps").fill("2000")
    first.get_by_label("Run name (optional)").fill("tab-closed")
    first.get_by_role("button", name="Start training").click()
    first.locator(".wb-progress", has_text="tab-closed").filter(has_text="running: step").wait_for(timeout=120_000)
    stored = first.context.storage_state()  # the browser's localStorage: who this visitor is
    first.context.close()  # the tab and its session are gone

    second = browser.new_context(storage_state=stored).new_page()  # the same browser reopening the page
    second.goto(app_url)
    second.get_by_role("tab", name="Train").click()
    second.locator(".wb-progress", has_text="tab-closed").filter(has_text="running: step").wait_for(timeout=60_000)

    def step() -> int:
        text = second.locator(".wb-progress").inner_text()
        assert "tab-closed" in text and "running: step" in text, text
        return int(text.split("running: step ")[1].split("/")[0])

    seen = step()
    for _ in range(120):  # the page polls every 2 s; the run must still be advancing
        if step() > seen:
            break
        second.wait_for_timeout(500)
    assert step() > seen, "training stopped when the tab that started it closed"
    shot(second, "8_reopened_tab")
    second.get_by_role("button", name="Stop").click()
    assert MANAGER.wait(timeout=120).status == "stopped"


def test_model_output_with_markup_shows_as_text(page, monkeypatch):
    markup = '<img src=x onerror="window.__xss = 1"> <b>bold</b> <script>window.__xss = 2</script>'
    monkeypatch.setattr("workbench.inference.answers.stream_answers", lambda *args: iter([[markup]]))
    page.get_by_role("tab", name="Chat").click()
    page.get_by_label("Message").fill("Say <i>something</i>")
    page.get_by_role("button", name="Send").click()
    answer = page.locator("[data-testid=bot]").last
    answer.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    assert answer.inner_text().strip() == markup
    assert page.locator("[data-testid=user]").last.inner_text().strip() == "Say <i>something</i>"
    assert page.locator("[data-testid=bot] img, [data-testid=bot] b, [data-testid=user] i").count() == 0
    assert page.evaluate("window.__xss") is None
    shot(page, "7_chat_markup")


def test_per_example_view_of_an_evaluation(page, tiny_model_dir, make_adapter_run):
    """Evaluate a run in the browser, then read its examples one by one, filtered, and the forgetting probe."""
    from workbench.data import SAMPLES
    from workbench.workspace.learners import runs_root

    run = make_adapter_run(runs_root() / "eval-view", tiny_model_dir, seed=3)
    (run / "config.yaml").write_text(
        f"model: {tiny_model_dir}\nname: eval-view\ndata: {SAMPLES['sentiment_json'].train_path}\n"
    )
    page.get_by_role("tab", name="Evaluate").click()
    page.get_by_role("button", name="Refresh runs").last.click()
    page.get_by_label("Run").last.click()
    page.get_by_role("option", name="eval-view").click()
    page.get_by_text("No evaluation of this run yet").wait_for(timeout=30_000)
    page.get_by_label("Held-out examples").last.fill("8")
    page.get_by_role("button", name="Evaluate", exact=True).click()
    page.get_by_text("Per example (").wait_for(timeout=300_000)
    rows = page.locator("#eval-examples [role=row]")  # the header row, then one per example
    assert rows.count() == 1 + 8
    assert (
        page.locator("#eval-examples").get_by_text("I neither love nor hate this bike helmet.", exact=False).count()
        >= 1
    )
    saved = json.loads((run / "eval" / "eval.json").read_text())
    changes = [e["change"]["eval-view"] for e in saved["examples"]]
    page.get_by_label("unchanged").check()
    page.wait_for_timeout(2000)
    assert rows.count() == 1 + changes.count("unchanged")
    page.get_by_label("all").check()
    page.get_by_text("Forgetting probe: what the tuned model still answers").click()
    page.get_by_text("What is the capital of France?").first.wait_for(timeout=30_000)
    shot(page, "5_evaluate_examples")
