"""A/B votes: every vote is logged, and the pairs file loads into DPOTrainer as it is."""

from __future__ import annotations

import pytest

from workbench import WorkbenchError
from workbench.generation import GenerationSettings
from workbench.votes import pairs_dataset, read_pairs, read_votes, record_vote


def test_votes_log_everything_and_only_preferences_become_pairs(tmp_path):
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "a color?"}]
    settings = GenerationSettings(temperature=0.5, seed=4)
    assert record_vote(tmp_path, history, "Blue.", "I like turtles.", "a", "run-a", "base", settings)["chosen_model"] == "run-a"
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


def test_pairs_file_trains_with_dpo_trainer_as_it_is(tmp_path, tiny_model_dir):
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    for i in range(4):
        record_vote(tmp_path / "votes", f"Question {i}?", f"Good answer {i}.", "bad", "a" if i % 2 else "b", "run-a", "base")
    record_vote(tmp_path / "votes", "x", "a", "b", "tie", "run-a", "base")
    dataset = pairs_dataset(tmp_path / "votes")
    assert len(dataset) == 4
    args = DPOConfig(
        output_dir=str(tmp_path / "out"), max_steps=1, per_device_train_batch_size=2, use_cpu=True,
        bf16=False, gradient_checkpointing=False, report_to="none", save_strategy="no", logging_steps=1,
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
