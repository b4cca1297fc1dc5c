"""A/B votes: every vote is logged, and the pairs file loads into DPOTrainer as it is."""

from __future__ import annotations

import pytest

from workbench import WorkbenchError
from workbench.inference.generation import GenerationSettings
from workbench.inference.votes import pairs_dataset, read_pairs, read_votes, record_vote


def test_votes_log_everything_and_only_preferences_become_pairs(tmp_path):
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "a color?"},
    ]
    settings = GenerationSettings(temperature=0.5, seed=4)
    assert (
        record_vote(tmp_path, history, "Blue.", "I like turtles.", "a", "run-a", "base", settings)["chosen_model"]
        == "run-a"
    )
    pair = record_vote(tmp_path, "Name a fruit.", "Car.", "Apple.", "b", "base", "run-a", system="Be brief.")
    assert record_vote(tmp_path, "x", "same", "same", "tie", "base", "run-a") is None
    assert record_vote(tmp_path, "x", "bad", "worse", "both_bad", "base", "run-a") is None

    assert [v["choice"] for v in read_votes(tmp_path)] == ["a", "b", "tie", "both_bad"]
    pairs = read_pairs(tmp_path)
    assert len(pairs) == 2
    assert pairs[0]["prompt"] == history and pairs[0]["settings"]["seed"] == 4
    assert pair["chosen"] == [{"role": "assistant", "content": "Apple."}]
    assert pair["rejected"] == [{"role": "assistant", "content": "Car."}]
    assert pair["prompt"][0] == {"role": "system", "content": "Be brief."}
    with pytest.raises(WorkbenchError, match="unknown vote"):
        record_vote(tmp_path, "x", "a", "b", "A", "base", "run-a")


def test_no_pairs_yet_is_a_clear_error(tmp_path):
    record_vote(tmp_path, "x", "a", "b", "tie", "base", "run-a")
    with pytest.raises(WorkbenchError, match="no preference pairs"):
        pairs_dataset(tmp_path)


def test_multi_turn_votes_keep_each_sides_conversation_and_the_chosen_one_is_the_prompt(tmp_path):
    a = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello from A"},
        {"role": "user", "content": "more"},
    ]
    b = [*a[:1], {"role": "assistant", "content": "hello from B"}, a[2]]
    pair = record_vote(
        tmp_path, a, "A's answer", "B's answer", "b", "base", "run-a", prompt_b=b, session="s1", details={"turn": 2}
    )
    assert pair["prompt"] == b and pair["chosen"][0]["content"] == "B's answer"
    (vote,) = read_votes(tmp_path)
    assert vote["session"] == "s1" and vote["turn"] == 2 and vote["sides"] == {"a": "base", "b": "run-a"}
    assert vote["conversations"]["a"] == [*a, {"role": "assistant", "content": "A's answer"}]
    assert vote["conversations"]["b"][1]["content"] == "hello from B"


def test_pairs_file_trains_with_dpo_trainer_as_it_is(tmp_path, tiny_model_dir, make_adapter_run):
    """The rows the arena writes, multi-turn prompts (system, user, assistant, user) included."""
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from workbench.inference.arena import Arena, ArenaChat, Side

    make_adapter_run(tmp_path / "runs" / "run-a", tiny_model_dir, seed=1)
    arena = Arena(str(tiny_model_dir), tmp_path / "runs")
    for i in range(3):
        chat = ArenaChat([Side("base"), Side("run-a", 0.5)], system="Be brief.")
        for message in (f"Question {i}?", "Say it again."):
            for _ in chat.ask(arena, message, GenerationSettings(max_new_tokens=6, temperature=1.0, seed=i)):
                pass
        chat.vote("a" if i % 2 else "b", tmp_path / "votes")
    record_vote(tmp_path / "votes", "Question 9?", "Good answer.", "bad", "a", "run-a", "base")
    record_vote(tmp_path / "votes", "x", "a", "b", "tie", "run-a", "base")
    dataset = pairs_dataset(tmp_path / "votes")
    assert len(dataset) == 4
    assert [m["role"] for m in dataset[0]["prompt"]] == ["system", "user", "assistant", "user"]
    args = DPOConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=1,
        per_device_train_batch_size=2,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
    )
    trainer = DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        args=args,
        train_dataset=dataset,
        processing_class=AutoTokenizer.from_pretrained(tiny_model_dir),
        peft_config=LoraConfig(r=2, target_modules=["q_proj", "v_proj"]),
    )
    trainer.train()
    assert "rewards/accuracies" in str(trainer.state.log_history)
