"""Meaning a file carries is never dropped silently: KTO labels in every spelling files use, keys written twice,
and no local path of the machine that trained a run in its README or in the card pushed to the Hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.data.loading import load_data


def _located(bundle) -> list[tuple[int | None, str | None, str]]:
    return [(i.line, i.field, i.code) for i in bundle.report.errors]


def test_kto_labels_as_booleans_text_or_numbers_keep_their_meaning(tmp_path):
    """`"false"` and `0` mean an answer to avoid, as `false` does: the row stays, labelled False, for KTO."""
    good = [True, "true", "TRUE", "True", 1, "1"]
    bad = [False, "false", "FALSE", "False", 0, "0"]
    rows = [{"prompt": f"good {i}", "completion": "yes", "label": v} for i, v in enumerate(good)]
    rows += [{"prompt": f"bad {i}", "completion": "no", "label": v} for i, v in enumerate(bad)]
    path = tmp_path / "kto.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bundle = load_data(path)
    assert bundle.kind == "kto" and bundle.report.ok
    assert bundle.dataset["label"] == [True] * len(good) + [False] * len(bad)


def test_kto_labels_from_a_spreadsheet_csv_and_unreadable_ones_are_refused_per_line(tmp_path):
    path = tmp_path / "kto.csv"
    path.write_text(
        "prompt,completion,label\n"
        "Rate it,Great,TRUE\n"
        "Rate it,Awful,FALSE\n"
        "Rate it,Fine,1\n"
        "Rate it,Bad,0\n"
        "Rate it,Hmm,maybe\n"
        "Rate it,Meh,2\n"
    )
    bundle = load_data(path)
    assert bundle.dataset["completion"] == ["Great", "Awful", "Fine", "Bad"]
    assert bundle.dataset["label"] == [True, False, True, False]
    assert _located(bundle) == [(6, "label", "bad_label"), (7, "label", "bad_label")]
    assert all(str(path) in str(issue) and "label" in str(issue) for issue in bundle.report.errors)
    unreadable = [i.message for i in bundle.report.errors if i.code == "bad_label"]
    assert unreadable[0].startswith("label 'maybe' is not a KTO label: write true or false"), unreadable


@pytest.mark.parametrize("label", [0.0, 1.5, None, [True], {"ok": True}, "yes"])
def test_any_other_kto_label_is_refused(label):
    bundle = load_data([{"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": "d", "label": label}])
    assert bundle.dataset["prompt"] == ["a"]
    assert [(i.index, i.field, i.code) for i in bundle.report.errors] == [(1, "label", "bad_label")]


def test_an_answer_to_avoid_in_a_file_mostly_without_labels_is_left_out():
    """A file read as plain prompt/completion would train a false-labelled answer as good: that row is left out."""
    rows = [{"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": "d"}]
    bundle = load_data([*rows, {"prompt": "e", "completion": "bad", "label": "false"}])
    assert bundle.kind == "prompt_completion" and bundle.dataset["prompt"] == ["a", "c"]
    assert [(i.index, i.field, i.code) for i in bundle.report.errors] == [(2, "label", "kto_label")]
    assert "method: kto" in bundle.report.errors[0].message


def test_a_key_written_twice_is_reported_on_its_line_not_kept_silently(tmp_path):
    jsonl = tmp_path / "twice.jsonl"
    jsonl.write_text(
        '{"prompt": "a", "completion": "first", "completion": "second"}\n'
        '{"prompt": "b", "completion": "c"}\n'
        '{"messages": [{"role": "user", "content": "hi", "content": "ho"}, {"role": "assistant", "content": "x"}]}\n'
    )
    bundle = load_data(jsonl)
    assert bundle.dataset["prompt"] == ["b"]
    assert _located(bundle) == [(1, "completion", "duplicate_key"), (3, "messages[0].content", "duplicate_key")]
    assert "'completion' is written twice" in bundle.report.errors[0].message

    document = tmp_path / "twice.json"
    document.write_text(
        '[\n  {"prompt": "a", "completion": "b"},\n  {"prompt": "x", "prompt": "y", "completion": "c"}\n]\n'
    )
    bundle = load_data(document)
    assert bundle.dataset["prompt"] == ["a"] and _located(bundle) == [(3, "prompt", "duplicate_key")]

    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text('{"data": [{"prompt": "a", "completion": "b"}], "data": [{"prompt": "c", "completion": "d"}]}')
    bundle = load_data(wrapped)
    assert not bundle.report.ok and [(i.field, i.code) for i in bundle.report.errors] == [("data", "duplicate_key")]


def test_a_csv_header_naming_a_column_twice_is_refused_but_trailing_separators_are_not(tmp_path):
    twice = tmp_path / "twice.csv"
    twice.write_text("prompt,completion,completion\na,b,c\n")
    bundle = load_data(twice)
    assert _located(bundle) == [(1, "completion", "duplicate_key")]

    trailing = tmp_path / "excel.csv"
    trailing.write_text("prompt,completion,,\na,b,,\n")
    assert load_data(trailing).report.usable == 1


def test_a_run_readme_and_its_hub_card_name_no_local_path(tmp_path, tiny_model_dir):
    """The README (and the card a push uploads) is read on other machines: this one's folders are left out."""
    from conftest import sft_rows, tiny_config

    from workbench.export.hub import plan_push
    from workbench.models import cache_dir
    from workbench.training import train

    data = tmp_path / "private" / "reviews.jsonl"
    data.parent.mkdir()
    data.write_text("".join(json.dumps(r) + "\n" for r in sft_rows(8)))
    run_dir = train(tiny_config(tiny_model_dir, tmp_path, data=str(data), max_steps=2)).run_dir
    readme = (run_dir / "README.md").read_text()
    card = plan_push(run_dir, "me/run").card
    for text in (readme, card):
        for local in (tmp_path, tiny_model_dir, cache_dir(), Path.home()):
            assert str(local) not in text, local
        assert "`reviews.jsonl`" in text and "runs/run/adapter" in text and "--resume runs/run`" in text

    # A README written before the paths were left out still uploads without them.
    (run_dir / "README.md").write_text(f"# run\n\nData: `{data}`, base `{tiny_model_dir}`.\n")
    card = plan_push(run_dir, "me/run").card
    assert str(tmp_path) not in card and f"Data: `reviews.jsonl`, base `{tiny_model_dir.name}`." in card
