"""benchmarks/room.py with 3 learners on the tiny model: every learner's 2-step run completes through the queue,
each chats side by side with it in the Arena and votes, nobody sees an error, and each learner's wait is measured."""

from __future__ import annotations

from app_server import serve


def test_three_learners_share_the_queue_without_errors(tiny_model_dir, tmp_path):
    from benchmarks.room import run_room

    with serve(tiny_model_dir, tmp_path / "runs", WORKBENCH_WORKSHOP="1") as app:
        result = run_room(app.local_url, learners=3, seconds=240, max_new_tokens=16)
    assert result["errors"] == 0, result["first_errors"]
    assert result["completed_runs"] == 3 and result["queue_wait_s"]["n"] == 3
    assert result["chats"] >= 1 and result["page_load_during_training_s"]["n"] >= 1
    assert result["votes"] == 3 and result["side_by_side_turn_s"]["n"] == 3 and result["side_by_side_skipped"] == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")) == [
        "learner-00",
        "learner-01",
        "learner-02",
    ]
    for i in range(3):
        run = tmp_path / "runs" / f"learner-{i:02d}" / f"room-{i:02d}"
        assert (run / "adapter" / "adapter_config.json").is_file(), "each learner's run lands in their own folder"
        assert (tmp_path / "runs" / f"learner-{i:02d}" / ".uploads" / "mine.jsonl").is_file()
        votes = (tmp_path / "runs" / f"learner-{i:02d}" / ".votes" / "votes.jsonl").read_text().splitlines()
        assert len(votes) == 1 and f"room-{i:02d}" in votes[0], (
            "each learner's vote, on their own run, in their own folder"
        )
