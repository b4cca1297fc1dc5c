"""Workshop mode in a real browser (Chromium): a learner joins under a name, a reload keeps it, the queue shows.

Screenshots go to test-artifacts/workshop_*.png.
"""

from __future__ import annotations

import pytest
from app_server import serve
from conftest import shot


def box_text(page, elem_id: str) -> str:
    """The value of a text box by its elem_id (Gradio renders a one-line box as a textarea or an input)."""
    return page.evaluate(f"(document.querySelector('{elem_id} textarea, {elem_id} input') || {{}}).value || ''")


def wait_text(page, elem_id: str, text: str, timeout: int) -> None:
    page.wait_for_function(
        f"((document.querySelector('{elem_id} textarea, {elem_id} input') || {{}}).value || '').includes({text!r})",
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def workshop_url(chromium, tiny_model_dir, tmp_path_factory):
    with serve(
        tiny_model_dir,
        tmp_path_factory.mktemp("workshop-browser"),
        WORKBENCH_WORKSHOP="1",
        WORKBENCH_TEACHER_PASSWORD="teach",
    ) as app:
        yield app.local_url


def test_a_reload_keeps_the_learner_and_another_browser_cannot_take_the_name(browser, workshop_url):
    from workbench.server.run_manager import MANAGER

    MANAGER.wait(timeout=180)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(workshop_url)
    wait_text(page, "#wb-greeting", "Type your name", 60_000)
    page.get_by_label("Your name").fill("Ana <b>Lopez</b>")
    page.get_by_role("button", name="Join").click()
    wait_text(page, "#wb-greeting", "Signed in as", 30_000)
    assert box_text(page, "#wb-greeting") == "Signed in as Ana <b>Lopez</b> (runs folder ana-b-lopez-b/)"

    page.get_by_role("tab", name="Train").click()
    page.get_by_label("Max steps").fill("2000")
    page.get_by_label("Run name (optional)").fill("ana-<b>run</b>")
    page.get_by_role("button", name="Start training").click()
    # A run name with markup is refused, and the message shows it as text.
    wait_text(page, "#wb-train-message", "<b>run</b>", 60_000)
    assert page.locator("#wb-train-message b, #wb-estimate b").count() == 0
    page.get_by_label("Run name (optional)").fill("ana-run")
    page.get_by_role("button", name="Start training").click()
    page.locator(".wb-progress", has_text="ana-run").filter(has_text="running: step").wait_for(timeout=120_000)
    shot(page, "workshop_1_joined_training")

    page.reload()  # the identity comes back from localStorage, and with it the live run
    wait_text(page, "#wb-greeting", "Signed in as Ana", 30_000)
    page.get_by_role("tab", name="Train").click()
    page.locator(".wb-progress", has_text="ana-run").filter(has_text="running: step").wait_for(timeout=60_000)
    shot(page, "workshop_2_after_reload")

    other = browser.new_context().new_page()  # another laptop typing the same name
    other.goto(workshop_url)
    other.get_by_label("Your name").fill("ana <b>lopez</b>")
    other.get_by_role("button", name="Join").click()
    wait_text(other, "#wb-greeting", "is taken", 30_000)
    other.get_by_role("tab", name="Train").click()
    other.wait_for_timeout(2500)
    assert "ana-run" not in other.locator(".wb-progress").inner_text()
    shot(other, "workshop_3_name_taken")

    page.get_by_role("button", name="Stop").click()
    assert MANAGER.wait(timeout=120).status == "stopped"
