"""GRPO with the sample's task metric as reward: the reward means what the evaluation counts, and a run yields a usable adapter."""

from __future__ import annotations

import json

import pytest

from workbench.data import SAMPLES
from workbench.errors import WorkbenchError
from workbench.inference.bench import ModelBench
from workbench.training.grpo import prompt_dataset, task_reward, train_grpo

SCORE = SAMPLES["sentiment_json"].score
EXPECTED = '{"sentiment": "negative", "stars": 2}'


def test_reward_is_the_mean_task_score_and_records_each_answer():
    answers: list[dict] = []
    reward = task_reward(SCORE, answers)
    completions = [
        [{"role": "assistant", "content": EXPECTED}],  # right: valid, sentiment, stars
        [{"role": "assistant", "content": '{"sentiment": "negative", "stars": 1}'}],  # stars wrong
        [{"role": "assistant", "content": "This review is negative, 2 stars."}],  # not JSON: nothing counts
    ]
    prompts = [[{"role": "user", "content": "Rate this product review.\n\nIt broke."}]] * 3
    assert reward(completions, reference=[EXPECTED] * 3, prompts=prompts) == pytest.approx([1.0, 2 / 3, 0.0])
    assert [a["reward"] for a in answers] == pytest.approx([1.0, 2 / 3, 0.0])
    assert answers[1]["parts"] == {"valid_format": 1.0, "sentiment_accuracy": 1.0, "stars_accuracy": 0.0}
    assert answers[0]["prompt"].endswith("It broke.")


def test_prompts_end_before_the_answer_and_keep_it_as_reference():
    data = prompt_dataset(SAMPLES["sentiment_json"].eval_path)
    row = data[0]
    assert row["prompt"][-1]["role"] == "user" and row["prompt"][-1]["content"].startswith("Rate this product review.")
    assert json.loads(row["reference"]).keys() == {"sentiment", "stars"}


def test_a_grpo_step_saves_an_adapter_the_bench_loads(tiny_model_dir, tmp_path):
    data = tmp_path / "reviews.jsonl"
    data.write_text(
        "".join(
            json.dumps({"instruction": "Rate this product review.", "input": f"Review {i}.", "output": EXPECTED}) + "\n"
            for i in range(4)
        ),
        encoding="utf-8",
    )
    run = train_grpo(
        str(tiny_model_dir),
        data,
        SCORE,
        tmp_path / "grpo",
        steps=1,
        prompts_per_step=1,
        num_generations=2,
        max_completion_length=4,
    )
    assert len(run.step_seconds) == 1 and len(run.answers) == 2
    assert "reward" in run.log[0] and 0.0 <= run.log[0]["reward"] <= 1.0
    config = json.loads((run.adapter_dir / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_model_dir)
    assert ModelBench.from_adapters([run.run_dir]).sides[1] == "grpo"
    with pytest.raises(WorkbenchError, match="not empty"):
        train_grpo(str(tiny_model_dir), data, SCORE, tmp_path / "grpo", steps=1)
