"""Broken input of every kind is reported with its file, line and field, and the good records survive."""

from __future__ import annotations

import json

import pytest

from workbench.data import load_data

GOOD = {"instruction": "Rate this review.", "input": "Great kettle.", "output": '{"stars": 5}'}
CHAT = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
PAIR = {"prompt": "Rate: ok lamp.", "chosen": "3 stars", "rejected": "I cannot say."}
SHAREGPT = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]}


def jsonl(*records) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()


def chat(*messages) -> dict:
    return {"messages": [dict(zip(("role", "content"), m)) if isinstance(m, tuple) else m for m in messages]}


# (kind, file name, content, expected line, expected field, expected code). Every file holds good records
# too, before and after the broken one, so the test also checks that they are kept.
CASES = [
    ("not JSON", "a.jsonl", jsonl(GOOD, "{'instruction': 'x'}", GOOD | {"input": "c"}), 2, None, "not_json"),
    ("trailing comma", "a.jsonl", jsonl(GOOD, '{"instruction": "x", "output": "y",}'), 2, None, "not_json"),
    (
        "not UTF-8",
        "a.jsonl",
        jsonl(GOOD) + '{"instruction": "Très", "output": "x"}\n'.encode("latin-1") + jsonl(GOOD | {"input": "b"}),
        2,
        None,
        "not_utf8",
    ),
    ("not an object", "a.jsonl", jsonl(GOOD, "[1, 2]"), 2, None, "wrong_type"),
    ("missing field", "a.jsonl", jsonl(GOOD, {"instruction": "x"}), 2, "output", "missing_field"),
    ("empty field", "a.jsonl", jsonl(GOOD, {"instruction": "  ", "output": "y"}), 2, "instruction", "empty_field"),
    ("wrong type", "a.jsonl", jsonl(GOOD, {"instruction": "x", "output": 4}), 2, "output", "wrong_type"),
    ("duplicate", "a.jsonl", jsonl(GOOD, GOOD | {"input": "b"}, GOOD), 3, None, "duplicate"),
    (
        "assistant first",
        "c.jsonl",
        jsonl(CHAT, chat(("assistant", "Hi"), ("user", "Yo"))),
        2,
        "messages[0].role",
        "role_order",
    ),
    (
        "two user turns",
        "c.jsonl",
        jsonl(CHAT, chat(("user", "a"), ("user", "b"), ("assistant", "c"))),
        2,
        "messages[1].role",
        "role_order",
    ),
    ("no assistant turn", "c.jsonl", jsonl(CHAT, chat(("system", "s"), ("user", "a"))), 2, "messages", "no_assistant"),
    ("unknown role", "c.jsonl", jsonl(CHAT, chat(("user", "a"), ("robot", "b"))), 2, "messages[1].role", "bad_role"),
    (
        "empty content",
        "c.jsonl",
        jsonl(CHAT, chat(("user", "a"), ("assistant", ""))),
        2,
        "messages[1].content",
        "empty_field",
    ),
    (
        "message without content",
        "c.jsonl",
        jsonl(CHAT, chat(("user", "a"), {"role": "assistant"})),
        2,
        "messages[1].content",
        "missing_field",
    ),
    ("messages not a list", "c.jsonl", jsonl(CHAT, {"messages": "hello"}), 2, "messages", "wrong_type"),
    (
        "content not a string",
        "c.jsonl",
        jsonl(CHAT, chat(("user", ["a"]), ("assistant", "b"))),
        2,
        "messages[0].content",
        "wrong_type",
    ),
    (
        "ShareGPT unknown speaker",
        "s.jsonl",
        jsonl(SHAREGPT, {"conversations": [{"from": "alien", "value": "x"}]}),
        2,
        "conversations[0].from",
        "bad_role",
    ),
    (
        "chosen == rejected",
        "p.jsonl",
        jsonl(PAIR, PAIR | {"chosen": "same", "rejected": "same"}),
        2,
        "rejected",
        "same_answer",
    ),
    (
        "prompt ends on assistant",
        "p.jsonl",
        jsonl(PAIR | {"prompt": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, PAIR),
        1,
        "prompt[1].role",
        "role_order",
    ),
    (
        "chosen spoken by user",
        "p.jsonl",
        jsonl(PAIR, PAIR | {"chosen": [{"role": "user", "content": "x"}]}),
        2,
        "chosen",
        "role_order",
    ),
    ("CSV row too wide", "a.csv", b"instruction,output\nRate,good\nRate,bad,extra\nRate,fine\n", 3, None, "wrong_type"),
    ("CSV empty cell", "a.csv", b"instruction,input,output\nRate,,good\nRate,x,\n", 3, "output", "missing_field"),
    (
        "JSON list record",
        "a.json",
        b'[\n {"instruction": "x", "output": "y"},\n\n {"instruction": "x"}\n]\n',
        4,
        "output",
        "missing_field",
    ),
]


@pytest.mark.parametrize(("kind", "name", "content", "line", "field", "code"), CASES, ids=[c[0] for c in CASES])
def test_each_problem_names_file_line_and_field(kind, name, content, line, field, code, tmp_path):
    path = tmp_path / name
    path.write_bytes(content)
    bundle = load_data(path)
    errors = bundle.report.errors
    assert [(e.line, e.field, e.code) for e in errors] == [(line, field, code)], str(bundle.report)
    (error,) = errors
    assert error.file == str(path)
    assert f"{path}:{line}" in str(error) and (field is None or f"'{field}'" in str(error))
    # The broken record is the only one left out.
    assert bundle.report.usable == len(bundle.dataset) == bundle.report.records_read - 1 > 0


def test_at_least_fifteen_kinds_are_covered():
    assert len({c[0] for c in CASES}) >= 15 and len({c[5] for c in CASES}) >= 8


def test_empty_file_and_unknown_columns_leave_nothing_usable(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    report = load_data(tmp_path / "empty.jsonl").report
    assert [i.code for i in report.errors] == ["empty_file"] and not report.ok
    assert "Nothing usable remains" in report.summary()
    (tmp_path / "odd.jsonl").write_bytes(jsonl({"question": "a", "answer": "b"}))
    report = load_data(tmp_path / "odd.jsonl").report
    assert [i.code for i in report.errors] == ["unknown_format"] and "question" in report.errors[0].message
    # A JSON file that does not parse has no records to save: the error names the line where parsing stopped.
    (tmp_path / "bad.json").write_text(
        '[\n {"instruction": "x", "output": "y"},\n {"instruction": "x" "output": "y"}\n]\n'
    )
    report = load_data(tmp_path / "bad.json").report
    assert [(i.line, i.code) for i in report.errors] == [(3, "not_json")] and not report.ok


def test_records_in_memory_are_located_by_index():
    bundle = load_data([CHAT, chat(("user", "a")), CHAT | {"messages": CHAT["messages"] * 2}])
    (error,) = bundle.report.errors
    assert (error.file, error.line, error.index, error.field) == (None, None, 1, "messages")
    assert "record 1" in str(error)


def test_too_long_records_are_kept_with_what_truncation_cuts(tokenizer, tmp_path):
    long = chat(("user", "Hi"), ("assistant", "word " * 60))
    path = tmp_path / "long.jsonl"
    path.write_bytes(jsonl(CHAT, long))
    bundle = load_data(path, tokenizer=tokenizer, max_length=48)
    (warning,) = bundle.report.warnings
    assert warning.line == 2 and warning.code == "too_long" and len(bundle.dataset) == 2
    assert "over max_length 48" in warning.message and "cuts the last" in warning.message
    prompt_only = tokenizer.apply_chat_template(long["messages"][:1], add_generation_prompt=True)
    bundle = load_data(path, tokenizer=tokenizer, max_length=len(prompt_only))
    assert "trainer drops this record" in bundle.report.warnings[0].message


def test_missing_source_raises_but_bad_records_do_not(tmp_path):
    from workbench.errors import WorkbenchError

    with pytest.raises(WorkbenchError, match="not found"):
        load_data(tmp_path / "nope.jsonl")
    with pytest.raises(WorkbenchError, match="Hub"):
        load_data("no-such-owner/no-such-dataset-xyz")  # offline in tests: reported, not a traceback
    (tmp_path / "all_bad.jsonl").write_text("nope\n{\n")
    assert load_data(tmp_path / "all_bad.jsonl").report.usable == 0
