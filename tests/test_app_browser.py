"""Click through every tab in a real browser (Debian's Chromium) and save screenshots to test-artifacts/.

Skipped where /usr/bin/chromium is absent (`apt-get install -y chromium`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium: apt-get install -y chromium")


@pytest.fixture(scope="module")
def app_url(tiny_model_dir, tmp_path_factory):
    from app import build_app

    old = os.environ.get("WORKBENCH_RUNS")
    os.environ["WORKBENCH_RUNS"] = str(tmp_path_factory.mktemp("browser-runs"))
    app = build_app(str(tiny_model_dir))
    app.queue().launch(prevent_thread_lock=True, quiet=True)
    yield app.local_url
    app.close()
    if old is None:
        os.environ.pop("WORKBENCH_RUNS")
    else:
        os.environ["WORKBENCH_RUNS"] = old


@pytest.fixture
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(app_url)
        yield page
        browser.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)  # let plots and transitions settle
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


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
    page.locator(".wb-progress", has_text="browser-run").filter(has_text="completed: step 2/2").wait_for(timeout=180_000)
    page.wait_for_timeout(2500)  # one more poll draws the final plot and the files
    shot(page, "2_train")

    page.get_by_role("tab", name="Runs").click()
    page.get_by_role("button", name="Refresh").click()
    page.wait_for_timeout(1500)
    shot(page, "3_runs")

    page.get_by_role("tab", name="Compare").click()
    page.get_by_role("button", name="Refresh runs").first.click()
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Answer side by side").click()
    page.wait_for_timeout(5000)
    page.get_by_role("button", name="A is better").click()
    page.get_by_text("Preference rows").wait_for(timeout=30_000)
    shot(page, "4_compare")

    page.get_by_role("tab", name="Evaluate").click()
    page.get_by_role("button", name="Refresh runs").last.click()
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Evaluate", exact=True).click()
    page.get_by_text("| metric |").or_(page.get_by_role("table")).first.wait_for(timeout=120_000)
    shot(page, "5_evaluate")

    page.get_by_role("tab", name="Which method?").click()
    page.get_by_text("GPU with 8 GB or less").click()
    page.get_by_text("Recommended: SFT + QLORA").wait_for(timeout=10_000)
    shot(page, "6_method")
    page.get_by_role("button", name="Apply to the Train tab").click()
    page.wait_for_timeout(1000)
    shot(page, "6_method_applied")

    page.get_by_role("tab", name="Chat").click()
    shot(page, "7_chat")
