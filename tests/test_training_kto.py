"""KTO: answers marked good or bad train through TRL's KTOTrainer, from Chat-tab thumbs or a LLaMA-Factory file."""

from __future__ import annotations

import json

import gradio as gr
import pytest
from conftest import tiny_config

from workbench.data import SAMPLES
from workbench.errors import WorkbenchError
from workbench.training import TrainConfig, read_metrics, train


def _conversation(i: int, good: bool) -> list[dict]:
    """A LLaMA-Factory KTO conversation (content before role, as its files write it); every third one two turns."""
    answer = '{"label": "yes"}' if good else "Sure! Let me think about that for a while."
    turns = [{"content": f"Label {i}", "role": "user"}, {"content": answer, "role": "assistant"}]
    if i % 3 == 0:
        turns = [{"content": "Hello", "role": "user"}, {"content": "Hi.", "role": "assistant"}, *turns]
    return turns


def _trained(run_dir) -> tuple[list[dict], str]:
    steps = [m for m in read_metrics(run_dir) if "loss" in m]
    return steps, (run_dir / "README.md").read_text()


def test_a_llama_factory_kto_file_trains_as_it_is(tmp_path, tiny_model_dir):
    """kto_en_demo.json's shape (messages plus a boolean label): every row trains, none left out, and the loss and
    KTO's rewards are logged for the good and the bad answers."""
    rows = [{"messages": _conversation(i, good=i % 2 == 0), "label": i % 2 == 0} for i in range(12)]
    data = tmp_path / "kto_en_demo.json"
    data.write_text(json.dumps(rows, indent=2))
    result = train(tiny_config(tiny_model_dir, tmp_path, data=str(data), method="kto"))
    assert result.status == "completed" and result.steps == 4
    steps, card = _trained(result.run_dir)
    assert len(steps) == 4 and all(
        {"loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "kl"} <= set(m) for m in steps
    )
    assert steps[-1]["rewards/margins"] > 0  # the good answers gained likelihood on the bad ones
    assert "KTO fine-tune (lora)" in card and "(kto, 12 training / 0 eval examples" in card
    assert (result.run_dir / "adapter" / "adapter_config.json").is_file()
    assert (result.run_dir / "estimate.json").is_file() and result.estimate["peak_memory_mb"] > 0


def test_thumbs_from_the_chat_tab_train_a_kto_run(tmp_path, tiny_model_dir, monkeypatch):
    """Thumbs on the Chat tab's answers become KTO rows in the page's own folder, and those rows train."""
    from workbench.ui import chat_tab
    from workbench.workspace.learners import feedback_file, single_user

    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    you, model = single_user(), str(tiny_model_dir)
    for i in range(6):  # sampled: the random tiny model's greedy answer is empty
        *_, (history, _) = chat_tab.respond(None, you, model, f"Label {i}", [], 1.0, 1.0, 1.0, 6, "base")
        *_, (history, _) = chat_tab.respond(None, you, model, "And again?", history, 1.0, 1.0, 1.0, 6, "base")
        # A thumb on the first answer of the conversation and one on the second: each row's prompt is what came before.
        for index in (1, 3):
            like = gr.LikeData(None, {"index": index, "value": [history[index]["content"]], "liked": i % 2 == 0})
            status = chat_tab.thumb(None, you, "base", history, like)
    assert "Your thumbs file holds **12** KTO rows" in status

    path = feedback_file(you)
    assert path.parent.name == ".feedback" and path.parent.parent == tmp_path / "runs"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["label"] for r in rows] == [i % 2 == 0 for i in range(6) for _ in (1, 3)]
    assert rows[1]["prompt"][-1] == {"role": "user", "content": "And again?"} and len(rows[1]["prompt"]) == 3
    assert rows[1]["completion"] == [{"role": "assistant", "content": chat_tab.message_text(history[3]["content"])}]

    # A changed mind replaces the row; a thumb taken back removes it; a user message takes no thumb.
    chat_tab.thumb(None, you, "base", history, gr.LikeData(None, {"index": 3, "value": [], "liked": True}))
    assert [json.loads(line)["label"] for line in path.read_text().splitlines()][-1] is True
    chat_tab.thumb(None, you, "base", history, gr.LikeData(None, {"index": 3, "value": [], "liked": ""}))
    assert len(path.read_text().splitlines()) == 11
    with pytest.raises(gr.Error, match="Only the model's answers"):
        chat_tab.thumb(None, you, "base", history, gr.LikeData(None, {"index": 2, "value": [], "liked": True}))
    empty = [*history[:3], {"role": "assistant", "content": " "}]
    with pytest.raises(gr.Error, match="empty answer"):
        chat_tab.thumb(None, you, "base", empty, gr.LikeData(None, {"index": 3, "value": [], "liked": False}))
    downloaded = chat_tab.thumbs_download(None, you)
    assert downloaded != str(path) and open(downloaded).read() == path.read_text()

    result = train(tiny_config(tiny_model_dir, tmp_path, data=str(path), method="kto", max_steps=3, batch_size=2))
    steps, card = _trained(result.run_dir)
    assert result.status == "completed" and len(steps) == 3 and all("loss" in m and "kl" in m for m in steps)
    # The thumbs arrive two by two with one label; the run mixes them, so the batches see both kinds.
    assert any("rewards/chosen" in m and "rewards/rejected" in m for m in steps)
    assert "(kto, 11 training" in card


def test_kto_data_and_batches_are_checked_before_training(tmp_path, tiny_model_dir):
    rows = [{"prompt": f"Q{i}", "completion": "A", "label": i % 2 == 0} for i in range(8)]
    data = tmp_path / "kto.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(WorkbenchError, match="this is KTO data .* set method: kto"):
        train(tiny_config(tiny_model_dir, tmp_path, data=str(data)))
    with pytest.raises(WorkbenchError, match="KTO needs answers marked good or bad .* set method: dpo"):
        pairs = str(SAMPLES["sentiment_preference"].train_path)
        train(tiny_config(tiny_model_dir, tmp_path, data=pairs, method="kto"))
    with pytest.raises(WorkbenchError, match="KTO needs batch_size >= 2"):
        TrainConfig(data=str(data), method="kto", batch_size=1)
    assert TrainConfig(method="kto", adaptation="qlora").resolved().learning_rate == 1e-4


def test_the_method_helper_recommends_kto_for_thumbs():
    from workbench.ui.method_tab import DATA_KIND, recommend

    for purpose in ("Domain specialization", "Production deployment"):
        advice = recommend("Laptop CPU (no GPU)", purpose, "Small (under 1K examples)", DATA_KIND[2])
        assert (advice.method, advice.learning_rate) == ("kto", 1e-4)


def test_kto_lengths_for_the_estimate_count_the_prompt_and_the_answer():
    """KTOTrainer tokenizes a row into prompt_ids + completion_ids: the estimate reads those, not a guess."""
    from datasets import Dataset

    from workbench.training.estimate import token_lengths

    rows = Dataset.from_dict(
        {"prompt_ids": [[1, 2, 3, 4], [1, 2]], "completion_ids": [[5, 6], [7] * 9], "label": [True, False]}
    )
    assert token_lengths(rows, max_length=64) == (8.5, 11)
    assert token_lengths(rows, max_length=8) == (8, 8)


def test_the_thumbs_folder_is_never_served(tmp_path, monkeypatch):
    """Like the votes, the thumbs hold whole conversations: the app's file server refuses their folder."""
    from app import launch_options

    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path))
    blocked = launch_options()["blocked_paths"]
    assert str((tmp_path / ".feedback").resolve()) in blocked and str((tmp_path / ".votes").resolve()) in blocked
