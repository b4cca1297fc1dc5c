"""GRPO with the sample's task metric as reward: the reward means what the evaluation counts, and a GRPO run is a
run like any other (listed in the Runs tab, answering in the Arena)."""

from __future__ import annotations

import json

import pytest

from workbench.data import SAMPLES, load_data
from workbench.errors import WorkbenchError
from workbench.inference.answers import Side, answers, seat
from workbench.inference.generation import GenerationSettings
from workbench.training import TrainConfig, load_run_config, resume, train
from workbench.training.grpo import prompt_dataset, task_reward, train_grpo
from workbench.workspace.learners import runs_root, single_user, visible_runs
from workbench.workspace.runs import CARD_FILE, run_info, run_status

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
    data = prompt_dataset(load_data(SAMPLES["sentiment_json"].eval_path).dataset)
    row = data[0]
    assert row["prompt"][-1]["role"] == "user" and row["prompt"][-1]["content"].startswith("Rate this product review.")
    assert json.loads(row["reference"]).keys() == {"sentiment", "stars"}


def test_a_grpo_run_is_listed_in_the_runs_tab_and_answers_in_the_arena(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    data = tmp_path / "reviews.jsonl"
    data.write_text(
        "".join(
            json.dumps({"instruction": "Rate this product review.", "input": f"Review {i}.", "output": EXPECTED}) + "\n"
            for i in range(4)
        ),
        encoding="utf-8",
    )
    model = str(tiny_model_dir)
    settings = {"prompts_per_step": 1, "num_generations": 2, "max_completion_length": 4}
    run = train_grpo(model, data, SCORE, runs_root() / "grpo", steps=1, **settings)
    assert len(run.step_seconds) == 1 and len(run.answers) == 2
    assert "reward" in run.log[0] and 0.0 <= run.log[0]["reward"] <= 1.0

    # The run folder is a run's: its config says GRPO, its status is final, its card is written.
    config = load_run_config(run.run_dir)
    assert (config.method, config.adaptation, config.num_generations, config.learning_rate) == ("grpo", "lora", 2, 5e-5)
    assert run_status(run.run_dir).status == "completed"
    assert (run.run_dir / CARD_FILE).read_text().startswith("# grpo\n\nGRPO fine-tune")
    info = run_info(run.run_dir)
    assert (info.method, info.kind, info.base) == ("grpo", "adapter", model)

    # The Runs tab lists it; the Arena's answer path seats it as an adapter on its base and it answers.
    runs = visible_runs(single_user())
    assert list(runs) == ["grpo"]
    assert seat(Side("grpo"), model, runs).name == "grpo"
    (answer,) = answers(
        model, [Side("grpo")], [[{"role": "user", "content": "Review 0."}]], GenerationSettings(8, 0.0), runs
    )
    assert isinstance(answer, str)

    # The name is claimed like any run's; train() and resume() send GRPO to train_grpo.
    with pytest.raises(WorkbenchError, match="already exists"):
        train_grpo(model, data, SCORE, run.run_dir, steps=1)
    with pytest.raises(WorkbenchError, match="train_grpo"):
        resume(run.run_dir)
    with pytest.raises(WorkbenchError, match="train_grpo"):
        train(TrainConfig(method="grpo", data=str(data), output_dir=str(tmp_path / "sft")))
    assert not (tmp_path / "sft").exists()
