"""Every source type and format loads into TRL's columns; stats, split, preview views, samples and the CLI."""

from __future__ import annotations

import html
import importlib.util
import json
import re

import pytest

from workbench.data import (
    SAMPLES,
    length_histogram,
    length_stats,
    load_data,
    preview_record,
    sentiment_json_metric,
    train_eval_split,
)
from workbench.data.overlap import measure_overlap
from workbench.data.samples import BROKEN_DIR, SAMPLES_DIR

ALPACA = [{"instruction": "Rate.", "input": f"Review {i}", "output": '{"stars": 3}'} for i in range(4)]


@pytest.mark.parametrize("suffix", ["jsonl", "json", "csv", "parquet"])
def test_every_file_type_gives_the_same_dataset(suffix, tmp_path):
    import pandas as pd

    path = tmp_path / f"data.{suffix}"
    frame = pd.DataFrame(ALPACA)
    {
        "jsonl": lambda: frame.to_json(path, orient="records", lines=True),
        "json": lambda: path.write_text(json.dumps(ALPACA, indent=2)),
        "csv": lambda: frame.to_csv(path, index=False),
        "parquet": lambda: frame.to_parquet(path),
    }[suffix]()
    bundle = load_data(path)
    assert bundle.report.issues == [] and bundle.source_format == "alpaca" and bundle.kind == "conversational"
    assert bundle.dataset.to_list() == load_data(ALPACA).dataset.to_list()
    assert bundle.dataset[1]["messages"] == [
        {"role": "user", "content": "Rate.\n\nReview 1"},
        {"role": "assistant", "content": '{"stars": 3}'},
    ]
    assert bundle.where(1) == ("record 1" if suffix == "parquet" else f"line {bundle.origins[1].line}")


@pytest.mark.parametrize(
    ("records", "source_format", "kind", "columns"),
    [
        (
            [
                {
                    "messages": [
                        {"role": "system", "content": "s"},
                        {"role": "user", "content": "a"},
                        {"role": "assistant", "content": "b"},
                    ]
                }
            ],
            "messages",
            "conversational",
            ["messages"],
        ),
        (
            [{"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]}],
            "sharegpt",
            "conversational",
            ["messages"],
        ),
        ([{"prompt": "a", "completion": "b"}], "prompt_completion", "prompt_completion", ["prompt", "completion"]),
        (
            [{"prompt": [{"role": "user", "content": "a"}], "completion": [{"role": "assistant", "content": "b"}]}],
            "prompt_completion",
            "conversational",
            ["messages"],
        ),
        ([{"text": "hello"}], "text", "text", ["text"]),
        (
            [{"prompt": "a", "chosen": "b", "rejected": "c"}],
            "preference",
            "preference",
            ["prompt", "chosen", "rejected"],
        ),
        (
            [
                {"prompt": "a", "chosen": "b", "rejected": "c"},
                {"prompt": [{"role": "user", "content": "x"}], "chosen": "y", "rejected": "z"},
            ],
            "preference",
            "preference",
            ["prompt", "chosen", "rejected"],
        ),
        (
            [
                {
                    "conversations": [{"from": "human", "value": "a"}],
                    "chosen": {"from": "gpt", "value": "b"},
                    "rejected": {"from": "gpt", "value": "c"},
                }
            ],
            "preference_sharegpt",
            "preference",
            ["prompt", "chosen", "rejected"],
        ),
    ],
)
def test_formats_are_detected_and_normalized_to_trl_columns(records, source_format, kind, columns):
    from trl.data_utils import is_conversational

    bundle = load_data(records)
    assert (bundle.source_format, bundle.kind, bundle.dataset.column_names) == (source_format, kind, columns)
    assert bundle.report.usable == len(records)
    row = bundle.dataset[-1]
    # Chat-like sources end up in TRL's conversational form, plain strings stay strings.
    chat_like = "messages" in row or isinstance(records[-1].get("prompt"), list) or "conversations" in records[-1]
    assert is_conversational(row) == chat_like
    if kind == "preference" and chat_like:
        assert row["chosen"][0]["role"] == "assistant" and row["prompt"][-1]["role"] == "user"


def test_column_map_and_format_override():
    bundle = load_data([{"question": "2+2?", "answer": "4"}], column_map={"question": "prompt", "answer": "completion"})
    assert bundle.dataset.to_list() == [{"prompt": "2+2?", "completion": "4"}]
    # Records with both prompt/completion and text: detection takes prompt/completion, the override text.
    both = [{"prompt": "a", "completion": "b", "text": "ab"}]
    assert load_data(both).kind == "prompt_completion"
    assert load_data(both, format="text").dataset.to_list() == [{"text": "ab"}]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_load_without_issues_and_have_cards(name):
    sample = SAMPLES[name]
    for split, path in sample.paths.items():
        bundle = load_data(path)
        assert bundle.report.issues == [] and bundle.kind == sample.kind, f"{split}: {bundle.report}"
    card = sample.card_path.read_text()
    for heading in ("What it teaches", "Format", "Size", "How it was made"):
        assert heading in card
    # Held out below the record level: no eval sentence and almost no eval 8-gram was read in training.
    train = load_data(sample.train_path).dataset
    for path in filter(None, (sample.eval_path, sample.ood_path)):
        overlap = measure_overlap(train, load_data(path).dataset)
        assert overlap.sentences == 0 and overlap.ngrams <= 0.01, f"{path.name}: {overlap}"
        assert f"{overlap.ngrams:.1%} of" in card, f"the card must state the measured overlap of {path.name}"


def test_overlap_catches_near_copies_from_shared_templates():
    # The first round's held-out reviews came from the training templates: same sentences, other products.
    def review(text):
        return {"instruction": "Rate this product review.", "input": text, "output": '{"stars": 5}'}

    endings = {
        "kettle": "Shipping was fast.",
        "lamp": "Shipping was fast.",
        "tent": "Price was fair.",
        "mouse": "Shipping was fast.",
        "watch": "Price was fair.",
    }
    train, near = (
        load_data([review(f"Absolutely love this {p}! {endings[p]}") for p in products]).dataset
        for products in (("kettle", "lamp", "tent"), ("mouse", "watch"))
    )
    fresh = load_data([review("Ordered the printer last spring and it has been flawless ever since.")]).dataset
    overlap = measure_overlap(train, near)
    assert overlap.sentences == 0.5 and overlap.task_sentences == ("rate this product review.",)
    assert measure_overlap(train, fresh).sentences == measure_overlap(train, fresh).ngrams == 0


def test_sample_generator_is_deterministic(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES_DIR / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    module.main()
    for path in tmp_path.rglob("*.jsonl"):
        assert path.read_bytes() == (SAMPLES_DIR / path.relative_to(tmp_path)).read_bytes(), path.name


def test_sentiment_metric_is_strict_and_scores_labels():
    records = load_data(SAMPLES["sentiment_json"].eval_path).dataset.select(range(3)).to_list()
    answers = [prompt_answer for prompt_answer in (r["messages"][-1]["content"] for r in records)]
    assert sentiment_json_metric(answers, records) == {
        "valid_format": 1.0,
        "sentiment_accuracy": 1.0,
        "stars_accuracy": 1.0,
    }
    chatty = [f"Sure! {answers[0]}", f"```json\n{answers[1]}\n```", '{"sentiment": "great", "stars": 9}']
    assert sentiment_json_metric(chatty, records)["valid_format"] == 0.0
    wrong = json.dumps({"sentiment": "neutral", "stars": 3})
    scores = sentiment_json_metric([wrong] * 3, records)
    assert scores["valid_format"] == 1.0 and scores["stars_accuracy"] < 1.0


def test_length_stats_histogram_and_seeded_split(tokenizer):
    bundle = load_data(SAMPLES["sentiment_json"].eval_path)
    stats = length_stats(bundle, tokenizer, max_length=64)
    assert stats.count == 60 and 40 < min(stats.lengths) <= max(stats.lengths) < 120
    assert stats.over_max_length == sum(n > 64 for n in stats.lengths) > 0
    assert stats.as_dict()["trained_tokens"] == sum(stats.trained_tokens) > 0
    figure = length_histogram(stats)
    assert "60 records" in figure.axes[0].get_title() and figure.axes[0].get_legend() is not None
    train, held_out = train_eval_split(bundle, eval_fraction=0.2, seed=7)
    assert (len(train), len(held_out)) == (48, 12)
    assert train_eval_split(bundle.dataset, 0.2, seed=7)[1]["messages"] == held_out["messages"]
    assert train_eval_split(bundle.dataset, 0.2, seed=8)[1]["messages"] != held_out["messages"]


def test_preview_views_escape_markup_and_agree(tokenizer):
    record = {
        "messages": [
            {"role": "user", "content": "<script>alert('x')</script> & <b>"},
            {"role": "assistant", "content": "Fine <i>really</i>"},
        ]
    }
    preview = preview_record(record, tokenizer)
    page = preview.to_html()
    assert "<script" not in page and "<i>" not in page
    # Without the view's own tags, the page shows the data's text exactly, markup included.
    assert record["messages"][0]["content"] in html.unescape(re.sub(r"<[^>]+>", "", page))
    highlighted = preview.to_highlighted()
    assert "".join(t for t, label in highlighted if label == "trained") == "Fine <i>really</i><|im_end|>"
    assert preview.trained_token_count == len(tokenizer("Fine <i>really</i><|im_end|>")["input_ids"])


def run_cli(*argv):
    from workbench.cli import main

    return main(["data", *map(str, argv)])


def test_cli_check_reports_and_exits_nonzero_when_nothing_usable(capsys):
    assert run_cli("check", BROKEN_DIR / "wrong_roles.jsonl") == 0
    out = capsys.readouterr().out
    assert "wrong_roles.jsonl:1 field 'messages[0].role'" in out and "1 usable" in out
    assert run_cli("check", BROKEN_DIR / "empty.jsonl") == 1
    assert run_cli("check", BROKEN_DIR / "wrong_columns.csv") == 1
    assert run_cli("check", BROKEN_DIR / "wrong_columns.csv", "--map", "question=prompt", "answer=completion") == 0
    assert run_cli("check", BROKEN_DIR / "missing.jsonl") == 2  # a user error, not a traceback
    assert "not found" in capsys.readouterr().err


def test_cli_check_with_max_length_and_preview(tokenizer, capsys):
    assert run_cli("check", SAMPLES["unit_chat"].eval_path, "--max-length", "64") == 0
    out = capsys.readouterr().out
    assert "over max_length 64" in out and "token lengths: records: 25" in out
    assert run_cli("preview", SAMPLES["sentiment_json"].train_path, "--index", "3") == 0
    out = capsys.readouterr().out
    answer = load_data(SAMPLES["sentiment_json"].train_path).dataset[3]["messages"][-1]["content"]
    assert f"[[{answer}<|im_end|>]]" in out and "record 3 (line 4)" in out
    assert run_cli("preview", SAMPLES["sentiment_json"].train_path, "--index", "999") == 2
