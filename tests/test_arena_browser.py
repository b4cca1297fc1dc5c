"""The Arena tab in a real browser (Chromium): three sides over three turns, a blind round, a vote, the blind ranking.

Screenshots go to test-artifacts/arena_*.png.
"""

from __future__ import annotations

import pytest
from app_server import serve
from conftest import choose, send, shot, side


@pytest.fixture(scope="module")
def app_url(chromium, tiny_model_dir, tmp_path_factory, make_adapter_run):
    runs = tmp_path_factory.mktemp("arena-browser-runs")
    for name, seed in (("tuned-a", 1), ("tuned-b", 2)):
        make_adapter_run(runs / name, tiny_model_dir, seed=seed, lora_alpha=64)
    with serve(tiny_model_dir, runs) as app:
        yield app.local_url


def test_three_sides_three_turns_then_a_blind_vote_updates_the_leaderboard(browser, app_url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    page.get_by_role("tab", name="Arena").click()
    page.get_by_role("button", name="Refresh runs").first.click()
    page.wait_for_timeout(1000)
    page.get_by_text("Sampling settings").click()
    page.locator("#arena-max-tokens input[type=number]").fill("16")
    page.locator("#arena-max-tokens input[type=number]").press("Enter")
    choose(page, "Side B", "tuned-a")
    choose(page, "Side C", "tuned-b")
    for turn, text in enumerate(["Say <b>hi</b>", "Tell me more.", "And a third thing?"], start=1):
        send(page, text, turn)
    for letter in "ABC":
        users = side(page, letter).locator("[data-testid=user]")
        assert users.count() == 3 and users.first.inner_text().strip() == "Say <b>hi</b>", "markup shows as text"
        assert side(page, letter).locator("[data-testid=bot]").count() == 3
    assert not side(page, "D").is_visible()
    labels = [side(page, letter).get_attribute("aria-label") or "" for letter in "ABC"]
    assert (
        page.get_by_text("A: base").count()
        and page.get_by_text("B: tuned-a").count()
        and page.get_by_text("C: tuned-b").count()
    ), labels
    assert page.locator("#arena-side-A b, #arena-side-B b").count() == 0
    shot(page, "arena_1_three_sides")

    # A blind round: two sides from the pool, names hidden until the vote.
    page.get_by_label("Blind pair").check()
    page.get_by_role("button", name="New blind round").click()
    page.get_by_text("Blind round: two sides drawn").wait_for(timeout=30_000)
    send(page, "Which is better, tea or coffee?", 1)
    assert page.get_by_text("Model A").count() and page.get_by_text("Model B").count()
    assert not side(page, "C").is_visible()
    assert page.locator("#arena-leaderboard").inner_text().strip().startswith("No blind votes yet")
    shot(page, "arena_2_blind")
    page.get_by_role("button", name="A is better").click()
    page.get_by_text("Recorded:").wait_for(timeout=30_000)
    page.get_by_text("Model A").wait_for(state="detached", timeout=10_000)
    status = page.get_by_text("Recorded:").inner_text()
    revealed_a = status.split("A was ")[1].split(",")[0].strip()
    assert page.get_by_text(f"A: {revealed_a}").count(), status

    # The leaderboard now ranks the side that won first.
    board = page.locator("#arena-leaderboard")
    board.locator("table").wait_for(timeout=30_000)
    first_row = board.locator("tbody tr").first.inner_text()
    assert revealed_a in first_row, first_row
    page.get_by_text("1 vote in blind rounds (a: 1)").wait_for(timeout=10_000)
    shot(page, "arena_3_voted_leaderboard")
