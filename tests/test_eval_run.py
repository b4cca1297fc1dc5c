"""Evaluation of a run on held-out data: metrics per side, base vs tuned, saved as JSON, markdown and PNG."""

from __future__ import annotations

import json

import pytest
import torch

from workbench import GenerationSettings, WorkbenchError, load_model
from workbench.evaluation.evaluate import CHANGES, evaluate_run


def test_eval_loss_is_the_trainers_eval_loss(tmp_path, tiny_model_dir):
    """The held-out loss the evaluation reports equals the trainer's eval_loss on the same records and step."""
    from datasets import Dataset

    from workbench.data import SAMPLES, load_data, loss_settings
    from workbench.evaluation.evaluate import evaluate_sides
    from workbench.hardware import Precision
    from workbench.inference.bench import ModelBench
    from workbench.training import TrainConfig, read_metrics, train

    sample = SAMPLES["sentiment_json"]
    train_rows = list(load_data(sample.train_path).dataset)[:8]
    eval_rows = list(load_data(sample.eval_path).dataset)[:4]
    # One evaluation batch holding every record: the trainer's eval loss is then the mean over all answer tokens.
    # max_length 48 truncates some records, which the evaluation must truncate the same way.
    config = TrainConfig(
        model=str(tiny_model_dir),
        name="exact",
        output_dir=str(tmp_path),
        max_steps=2,
        batch_size=4,
        eval_steps=2,
        save_steps=2,
        logging_steps=1,
        learning_rate=5e-3,
        precision="fp32",
        max_length=48,
    )
    result = train(config, dataset=Dataset.from_list(train_rows), eval_dataset=Dataset.from_list(eval_rows))
    trainer_loss = [r["eval_loss"] for r in read_metrics(result.run_dir) if r.get("step") == 2 and "eval_loss" in r][-1]

    bench = ModelBench(load_model(str(tiny_model_dir), precision=Precision("cpu", torch.float32, "exact comparison")))
    bench.add_adapter(result.run_dir)
    loss = loss_settings("conversational", "answer", bench.tokenizer)
    results = evaluate_sides(
        bench.sides,
        bench.use,
        bench.tokenizer,
        eval_rows,
        loss=loss,
        max_length=48,
        probe=False,
        settings=GenerationSettings(max_new_tokens=2, temperature=0),
        bench=bench,
    )
    assert results["sides"]["exact"]["loss"] == pytest.approx(trainer_loss, rel=1e-4)
    assert results["sides"]["base"]["loss"] != pytest.approx(trainer_loss, rel=1e-4)


def test_evaluate_sft_run_writes_json_markdown_and_chart(tmp_path, tiny_model_dir, make_adapter_run, capsys):
    run = make_adapter_run(tmp_path / "sft-run", tiny_model_dir, seed=1)
    data = tmp_path / "eval.jsonl"
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Rate review {i}"},
                {"role": "assistant", "content": '{"sentiment": "positive", "stars": 4}'},
            ]
        }
        for i in range(3)
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    results = evaluate_run(run, data=data, settings=GenerationSettings(max_new_tokens=6, temperature=0), probe=False)
    sides = results["sides"]
    assert list(sides) == ["base", "sft-run"]
    for metrics in sides.values():
        assert metrics["perplexity"] > 1 and 0 <= metrics["rougeL"] <= 1 and 0 <= metrics["bleu"] <= 100
    assert sides["base"]["loss"] != sides["sft-run"]["loss"]
    saved = json.loads((run / "eval" / "eval.json").read_text())
    assert saved["sides"] == sides
    report = (run / "eval" / "eval.md").read_text()
    assert "| perplexity (lower is better) |" in report
    # Every example is kept with both answers and its per-example verdict, in the JSON and the markdown.
    assert len(saved["examples"]) == 3
    for example in saved["examples"]:
        assert set(example["answers"]) == {"base", "sft-run"} and example["change"]["sft-run"] in CHANGES
    assert "## Per example" in report and report.count("| Rate review") == 3
    assert (run / "eval" / "before_after.png").read_bytes()[:4] == b"\x89PNG"
    # Generation is the slow part: a bar counts the answers, both sides' (3 examples x 2 sides).
    assert "held-out answers:   0%|          | 0/6" in capsys.readouterr().err


def test_dpo_metrics_are_rewards_against_the_base(tmp_path, tiny_model_dir, make_adapter_run):
    run = make_adapter_run(tmp_path / "dpo-run", tiny_model_dir, seed=2, method="dpo")
    data = tmp_path / "pairs.jsonl"
    pairs = [
        {
            "prompt": [{"role": "user", "content": f"Q{i}"}],
            "chosen": [{"role": "assistant", "content": "Yes."}],
            "rejected": [{"role": "assistant", "content": "No way."}],
        }
        for i in range(2)
    ]
    data.write_text("\n".join(json.dumps(p) for p in pairs))
    results = evaluate_run(run, data=data, settings=GenerationSettings(max_new_tokens=4, temperature=0), probe=False)
    base, tuned = results["sides"]["base"], results["sides"]["dpo-run"]
    assert base["reward_margin"] == 0 and base["preference_accuracy"] == 0.5
    assert tuned["reward_margin"] != 0 and tuned["preference_accuracy"] in (0.0, 0.5, 1.0)
    assert results["beta"] == 0.1


def test_run_without_held_out_data_says_what_to_pass(tmp_path, tiny_model_dir, make_adapter_run):
    run = make_adapter_run(tmp_path / "run", tiny_model_dir, seed=1)
    with pytest.raises(WorkbenchError, match="--data"):
        evaluate_run(run)


def test_run_trained_on_a_sample_uses_its_eval_split_and_task_metric(tmp_path, tiny_model_dir, make_adapter_run):
    from workbench.data import SAMPLES

    run = make_adapter_run(tmp_path / "sample-run", tiny_model_dir, seed=1)
    sample = SAMPLES["sentiment_json"]
    (run / "config.yaml").write_text(f"model: {tiny_model_dir}\nmethod: sft\ndata: {sample.train_path}\n")
    results = evaluate_run(run, max_samples=2, settings=GenerationSettings(max_new_tokens=4, temperature=0))
    assert results["data"] == str(sample.eval_path)
    assert "valid_format" in results["sides"]["sample-run"]
    # The sample's out-of-distribution probe and the forgetting probe are reported apart from the held-out set.
    assert results["ood"]["data"] == str(sample.ood_path) and "valid_format" in results["ood"]["sides"]["base"]
    probe = results["forgetting"]["sides"]
    assert set(probe) == {"base", "sample-run"} and 0 <= probe["sample-run"]["score"] <= 1
    report = (run / "eval" / "eval.md").read_text()
    assert "## Out-of-distribution probe" in report and "## Forgetting probe" in report


def test_a_qlora_run_is_evaluated_on_its_4bit_base(tmp_path, tokenizer, monkeypatch):
    """A QLoRA adapter learned to correct the 4-bit base: evaluate_run loads that base, and says so in eval.md."""
    pytest.importorskip("bitsandbytes")
    from conftest import build_tiny_model
    from datasets import Dataset

    from workbench.data import SAMPLES, load_data
    from workbench.inference import answers
    from workbench.training import TrainConfig, train

    rows = list(load_data(SAMPLES["sentiment_json"].train_path).dataset)[:4]
    # Layers at least one 4-bit block wide (64): bitsandbytes' CPU inference kernel needs that.
    model_dir = build_tiny_model(tmp_path / "model", tokenizer, hidden_size=128, intermediate_size=256)
    config = TrainConfig(
        model=str(model_dir),
        name="q",
        output_dir=str(tmp_path),
        adaptation="qlora",
        max_steps=1,
        batch_size=2,
        save_steps=1,
        max_length=128,
        precision="fp32",
    )
    run_dir = train(config, dataset=Dataset.from_list(rows)).run_dir
    data = tmp_path / "held_out.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    loaded = []
    bench = answers.bench
    monkeypatch.setattr(
        answers, "bench", lambda model, quantization=None: loaded.append(quantization) or bench(model, quantization)
    )

    results = evaluate_run(
        run_dir, data=data, probe=False, settings=GenerationSettings(max_new_tokens=2, temperature=0)
    )
    assert loaded == ["4bit"]
    assert results["base_quantization"] == "4bit"
    assert "Base loaded in 4bit" in (run_dir / "eval" / "eval.md").read_text()


def test_the_forgetting_probe_alone_reports_what_the_full_evaluation_does(tmp_path, tiny_model_dir, make_adapter_run):
    from workbench.evaluation.evaluate import evaluate_forgetting

    run = make_adapter_run(tmp_path / "sft-run", tiny_model_dir, seed=1)
    data = tmp_path / "eval.jsonl"
    data.write_text(
        json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})
    )
    full = evaluate_run(run, data=data, settings=GenerationSettings(max_new_tokens=2, temperature=0))["forgetting"]
    alone = evaluate_forgetting(run, limit=3)
    assert list(alone["sides"]) == ["base", "sft-run"] and len(alone["items"]) == 3
    assert alone["items"] == full["items"][:3]  # the same questions, answered the same, by both sides


def _ticket(i: int) -> dict:
    return {"intent": ["refund", "delivery", "other"][i % 3], "urgent": i % 2 == 0, "summary": f"ticket {i} summary"}


def test_any_json_answers_are_scored_per_field_with_a_confusion_table(
    tmp_path, tiny_model_dir, make_adapter_run, monkeypatch, capsys
):
    """`workbench eval RUN --data mine.jsonl` on answers that are JSON objects of the data's own fields (not the
    sample's): valid JSON, exact match per field, and a confusion table per classification field in eval.md."""
    from workbench.cli import main
    from workbench.evaluation import evaluate

    run = make_adapter_run(tmp_path / "tickets", tiny_model_dir, seed=1)
    data = tmp_path / "tickets.jsonl"
    rows = [{"prompt": f"Triage ticket {i}", "completion": json.dumps(_ticket(i))} for i in range(8)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def scripted(sides, use, bench, tokenizer, prompts, settings, desc, batch_size=8):
        # The base writes prose; the tuned side answers every ticket in form, marking each one urgent.
        tuned = [json.dumps(_ticket(i) | {"urgent": True}) for i in range(len(prompts))]
        return {sides[0]: ["Sure! Here is the triage."] * len(prompts), sides[1]: tuned}

    monkeypatch.setattr(evaluate, "_generate_answers", scripted)
    assert main(["eval", str(run), "--data", str(data), "--no-probe"]) == 0
    out = capsys.readouterr().out
    results = json.loads((run / "eval" / "eval.json").read_text())
    base, tuned = results["sides"]["base"], results["sides"]["tickets"]
    assert {k: base[k] for k in ("valid_format", "intent_accuracy", "urgent_accuracy", "summary_accuracy")} == {
        "valid_format": 0.0,
        "intent_accuracy": 0.0,
        "urgent_accuracy": 0.0,
        "summary_accuracy": 0.0,
    }
    assert tuned["valid_format"] == tuned["intent_accuracy"] == tuned["summary_accuracy"] == 1.0
    assert tuned["urgent_accuracy"] == 0.5 and "urgent_accuracy (higher is better)" in out
    # intent and urgent are a few categories each; the free-text summary is not a classification field.
    assert results["task"]["categories"] == {
        "intent": ['"delivery"', '"other"', '"refund"'],
        "urgent": ["false", "true"],
    }
    assert results["confusion"]["urgent"]["tickets"] == {"true": {"true": 4}, "false": {"true": 4}}
    assert results["confusion"]["urgent"]["base"] == {"true": {"invalid": 4}, "false": {"invalid": 4}}
    report = (run / "eval" / "eval.md").read_text()
    assert "## Classification fields" in report and "### urgent: tickets" in report
    assert "| false | 0 | 4 | 0 |" in report  # 4 non-urgent tickets answered urgent, none invalid
    assert '| "refund" | 0 | 0 | 3 | 0 |' in report


def test_a_json_task_needs_every_answer_to_be_an_object():
    from workbench.data.samples import json_task

    rows = [{"prompt": "a", "completion": json.dumps(_ticket(i))} for i in range(4)]
    assert json_task(rows).fields == ("intent", "urgent", "summary")
    assert json_task([*rows, {"prompt": "b", "completion": "a sentence"}]) is None
    assert json_task([{"prompt": "a", "completion": "[1, 2]"}]) is None
    assert json_task([{"text": "plain text has no answer"}]) is None


def test_kto_data_is_evaluated_against_the_answers_marked_good(tmp_path, tiny_model_dir, make_adapter_run):
    """A thumbs file as held-out data: the answers marked bad are no reference, so only the good ones are scored."""
    run = make_adapter_run(tmp_path / "kto-run", tiny_model_dir, seed=1, method="kto")
    data = tmp_path / "kto.jsonl"
    rows = [{"prompt": f"Q{i}", "completion": "good" if i % 3 else "bad", "label": bool(i % 3)} for i in range(6)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = evaluate_run(run, data=data, settings=GenerationSettings(max_new_tokens=2, temperature=0), probe=False)
    assert results["samples"] == 4 and {e["reference"] for e in results["examples"]} == {"good"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows if not r["label"]))
    with pytest.raises(WorkbenchError, match="no answers marked good"):
        evaluate_run(run, data=bad, probe=False)
