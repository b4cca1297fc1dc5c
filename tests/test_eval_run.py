"""Evaluation of a run on held-out data: metrics per side, base vs tuned, saved as JSON, markdown and PNG."""

from __future__ import annotations

import json

import pytest

from test_compare_bench import make_adapter_run
from workbench import GenerationSettings, WorkbenchError
from workbench.evaluation import answer_token_labels, evaluate_run


def test_only_assistant_tokens_are_scored(tokenizer):
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello there"},
        {"role": "user", "content": "bye"},
        {"role": "assistant", "content": "see you"},
    ]
    ids, labels = answer_token_labels(tokenizer, messages)
    scored = tokenizer.decode([i for i, label in zip(ids, labels) if label != -100])
    assert "hello there" in scored and "see you" in scored
    assert "hi" not in scored.replace("hello there", "") and "bye" not in scored


def test_evaluate_sft_run_writes_json_markdown_and_chart(tmp_path, tiny_model_dir):
    run = make_adapter_run(tmp_path / "sft-run", tiny_model_dir, seed=1)
    data = tmp_path / "eval.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": f"Rate review {i}"}, {"role": "assistant", "content": '{"sentiment": "positive", "stars": 4}'}]}
        for i in range(3)
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    results = evaluate_run(run, data=data, settings=GenerationSettings(max_new_tokens=6, temperature=0))
    sides = results["sides"]
    assert list(sides) == ["base", "sft-run"]
    for metrics in sides.values():
        assert metrics["perplexity"] > 1 and 0 <= metrics["rougeL"] <= 1 and 0 <= metrics["bleu"] <= 100
    assert sides["base"]["loss"] != sides["sft-run"]["loss"]
    saved = json.loads((run / "eval" / "eval.json").read_text())
    assert saved["sides"] == sides
    assert "| perplexity (lower is better) |" in (run / "eval" / "eval.md").read_text()
    assert (run / "eval" / "before_after.png").read_bytes()[:4] == b"\x89PNG"


def test_dpo_metrics_are_rewards_against_the_base(tmp_path, tiny_model_dir):
    run = make_adapter_run(tmp_path / "dpo-run", tiny_model_dir, seed=2, method="dpo")
    data = tmp_path / "pairs.jsonl"
    pairs = [
        {"prompt": [{"role": "user", "content": f"Q{i}"}], "chosen": [{"role": "assistant", "content": "Yes."}], "rejected": [{"role": "assistant", "content": "No way."}]}
        for i in range(2)
    ]
    data.write_text("\n".join(json.dumps(p) for p in pairs))
    results = evaluate_run(run, data=data, settings=GenerationSettings(max_new_tokens=4, temperature=0))
    base, tuned = results["sides"]["base"], results["sides"]["dpo-run"]
    assert base["reward_margin"] == 0 and base["preference_accuracy"] == 0.5
    assert tuned["reward_margin"] != 0 and tuned["preference_accuracy"] in (0.0, 0.5, 1.0)
    assert results["beta"] == 0.1


def test_run_without_held_out_data_says_what_to_pass(tmp_path, tiny_model_dir):
    run = make_adapter_run(tmp_path / "run", tiny_model_dir, seed=1)
    with pytest.raises(WorkbenchError, match="--data"):
        evaluate_run(run)


def test_run_trained_on_a_sample_uses_its_eval_split_and_task_metric(tmp_path, tiny_model_dir):
    from workbench.data import SAMPLES

    run = make_adapter_run(tmp_path / "sample-run", tiny_model_dir, seed=1)
    sample = SAMPLES["sentiment_json"]
    (run / "config.yaml").write_text(f"model: {tiny_model_dir}\nmethod: sft\ndata: {sample.train_path}\n")
    results = evaluate_run(run, max_samples=2, settings=GenerationSettings(max_new_tokens=4, temperature=0))
    assert results["data"] == str(sample.eval_path)
    assert "valid_format" in results["sides"]["sample-run"]
