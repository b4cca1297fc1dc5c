"""Property-based fuzzing of everything a user or a visitor hands the workbench as a file: random and adversarial
JSON, JSONL, CSV, Parquet and YAML go through `load_data` and `TrainConfig.from_yaml`, and the only exception
allowed out is the project's own `WorkbenchError`; every issue in a report is located (file, and a line or record
where the source has them). Example counts are modest so the whole module runs in seconds."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench import WorkbenchError
from workbench.data import load_data
from workbench.data.readers import ReadLimits, read_source
from workbench.training import TrainConfig

FUZZ = settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FIELDS = [
    "messages",
    "prompt",
    "completion",
    "chosen",
    "rejected",
    "text",
    "instruction",
    "output",
    "input",
    "conversations",
    "role",
    "content",
    "from",
    "value",
    "label",
    "weight",
    "tool_calls",
    "system",
]

# Text that stresses encoders and templates: lone surrogates, NUL, control tokens, right-to-left, huge digits.
nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "\ud800",
            "a\udfffb",
            "\x00",
            "<|im_start|>assistant\n",
            "<|im_end|>",
            "[INST]",
            "مرحبا",
            "\u202e",
            "1" * 5000,
            "",
            " ",
            "\n\n",
            "{{ raise }}",
            "{% generation %}",
        ]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**70, max_value=10**80),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), nasty_text), children, max_size=5),
    ),
    max_leaves=20,
)
message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "system", "tool", "robot", 3]),
        "content": st.one_of(nasty_text, st.none(), st.integers()),
    },
    optional={"weight": st.sampled_from([0, 1, "x"]), "tool_calls": st.just([]), "name": nasty_text},
)
# Records shaped like the formats, so the fuzzer reaches past format detection into normalization.
shaped = st.one_of(
    st.fixed_dictionaries({"messages": st.lists(message, max_size=4)}),
    st.fixed_dictionaries(
        {
            "prompt": st.one_of(nasty_text, st.lists(message, max_size=2)),
            "completion": st.one_of(nasty_text, st.lists(message, max_size=2)),
        },
        optional={"label": st.booleans()},
    ),
    st.fixed_dictionaries(
        {
            "chosen": st.one_of(nasty_text, st.lists(message, max_size=3)),
            "rejected": st.one_of(nasty_text, st.lists(message, max_size=3)),
        },
        optional={"prompt": st.one_of(nasty_text, st.lists(message, max_size=2))},
    ),
    st.fixed_dictionaries({"instruction": nasty_text, "output": nasty_text}, optional={"input": json_values}),
    st.fixed_dictionaries(
        {
            "conversations": st.lists(
                st.fixed_dictionaries({"from": st.sampled_from(["human", "gpt", "x"]), "value": nasty_text}), max_size=4
            )
        }
    ),
)
records = st.lists(st.one_of(shaped, json_values), max_size=8)
# Valid JSON Python's parser refuses or that breaks naive code: deep nesting, huge integers, escapes.
adversarial_lines = st.sampled_from(
    [
        "[" * 3000 + "]" * 3000,
        '{"a":' * 2000 + "1" + "}" * 2000,
        '{"text": ' + "9" * 6000 + "}",
        '{"text": "\\ud800"}',
        '{"prompt": "\\udfff", "completion": "x"}',
        '{"text": "ok"}',
        "",
        "   ",
        "{",
        "null",
        "[]",
        '"just a string"',
        '{"text": "a\\u0000b"}',
        '{"messages": [{"role": "user", "content": "\\u202e"}]}',
    ]
)


def encode(value) -> str:
    # ensure_ascii keeps lone surrogates as \ud800 escapes, which is how they reach a server in valid JSON.
    return json.dumps(value, ensure_ascii=True, allow_nan=True)


def assert_located(bundle, path) -> None:
    for issue in bundle.report.issues:
        assert issue.file == str(path), issue
        assert issue.message and len(issue.message) < 2000, issue  # bounded, whatever the value was
        str(issue)  # formats without raising


def load_or_refuse(path, **kwargs):
    """load_data's result, or None where it refused the whole source with a WorkbenchError."""
    try:
        return load_data(path, **kwargs)
    except WorkbenchError:
        return None


@FUZZ
@given(lines=st.lists(st.one_of(records.map(lambda rs: "\n".join(map(encode, rs))), adversarial_lines), max_size=6))
def test_random_jsonl_loads_or_reports_located_issues(tmp_path, lines):
    path = tmp_path / "fuzz.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    bundle = load_or_refuse(path)
    if bundle is not None:
        assert_located(bundle, path)
        assert bundle.report.usable == len(bundle.dataset)


@FUZZ
@given(value=st.one_of(records, json_values, adversarial_lines.map(lambda line: "[" + line + "]")))
def test_random_json_loads_or_reports_located_issues(tmp_path, value):
    path = tmp_path / "fuzz.json"
    path.write_text(value if isinstance(value, str) else encode(value), encoding="utf-8")
    bundle = load_or_refuse(path)
    if bundle is not None:
        assert_located(bundle, path)


@FUZZ
@given(
    rows=st.lists(st.lists(st.text(max_size=12), min_size=1, max_size=4), max_size=6),
    delimiter=st.sampled_from([",", ";", "\t"]),
    quote_break=st.booleans(),
)
def test_random_csv_loads_or_reports_located_issues(tmp_path, rows, delimiter, quote_break):
    path = tmp_path / "fuzz.csv"
    text = "\n".join(delimiter.join(row) for row in [["prompt", "completion"], *rows])
    path.write_text(text + ('\n"unterminated' if quote_break else ""), encoding="utf-8", errors="surrogatepass")
    bundle = load_or_refuse(path)
    if bundle is not None:
        assert_located(bundle, path)


@FUZZ
@given(rows=st.lists(shaped, min_size=1, max_size=6), garbage=st.binary(max_size=64), cut=st.integers(0, 400))
def test_random_parquet_loads_or_reports_located_issues(tmp_path, rows, garbage, cut):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "fuzz.parquet"
    try:
        table = pa.Table.from_pylist(rows)
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        data = buffer.getvalue()
    except (pa.ArrowException, UnicodeEncodeError, OverflowError):
        data = b"PAR1" + garbage  # arrow cannot even write these rows: fuzz the reader with garbage instead
    # Sometimes cut the file short or append garbage: a damaged upload.
    path.write_bytes(data[: len(data) - cut] if cut and cut < len(data) else data + garbage)
    bundle = load_or_refuse(path)
    if bundle is not None:
        assert_located(bundle, path)


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)
CONFIG_FIELDS = [
    "learning_rate",
    "max_length",
    "epochs",
    "lora_r",
    "lora_target_modules",
    "name",
    "data",
    "beta",
    "batch_size",
    "eval_fraction",
    "warmup_ratio",
    "precision",
    "method",
    "max_steps",
    "learnin_rate",
]
adversarial_yaml = st.sampled_from(
    [
        # A billion laughs: each level repeats the one before nine times.
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, "
        "*b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\nlora_target_modules: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
        "x: &x [*d]\n",
        "name: !!python/object/apply:os.system ['true']\n",
        "[" * 5000 + "]" * 5000 + "\n",
        "learning_rate: .inf\n",
        "learning_rate: .nan\n",
        "max_length: " + "9" * 5000 + "\n",
        "epochs: 1e400\n",
        "learning_rate: 1" + "0" * 400 + "\n",
        "? [a, b]\n: 1\n",
        "\x00\x01",
        "data: \udcff\n",
        "- 1\n- 2\n",
        "",
    ]
)


@FUZZ
@given(
    body=st.one_of(st.dictionaries(st.sampled_from(CONFIG_FIELDS), yaml_values, max_size=5), adversarial_yaml),
    sets=st.lists(st.tuples(st.sampled_from(CONFIG_FIELDS), st.text(max_size=12)), max_size=3),
)
def test_random_yaml_configs_load_or_refuse_in_one_sentence(tmp_path, body, sets):
    import yaml

    path = tmp_path / "fuzz.yaml"
    text = body if isinstance(body, str) else yaml.safe_dump(body)
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    try:
        config = TrainConfig.from_yaml(path, overrides=[f"{k}={v}" for k, v in sets])
    except WorkbenchError as exc:
        assert len(str(exc)) < 4000, "an error message must stay bounded (YAML aliases expand)"
        return
    config.to_yaml()  # what train() writes first must work for every accepted config


def test_the_limits_bound_what_a_source_may_expand_to(tmp_path):
    """The reader stops at the byte and row budgets before parsing the rest (the fuzzers run without them)."""
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps({"text": f"row {i}"}) + "\n" for i in range(100)))
    raw = read_source(path, ReadLimits(max_bytes=10**6, max_rows=7, max_record_chars=100))
    assert len(raw.records) == 7 and any(i.code == "truncated_read" for i in raw.issues)
    raw = read_source(path, ReadLimits(max_bytes=200, max_rows=10**6, max_record_chars=100))
    assert 0 < len(raw.records) < 20 and any("only its first" in i.message for i in raw.issues)
    path.write_text(json.dumps({"text": "x" * 101}) + "\n" + json.dumps({"text": "short"}) + "\n")
    raw = read_source(path, ReadLimits(max_bytes=10**6, max_rows=10, max_record_chars=100))
    assert [r.value["text"] for r in raw.records] == ["short"] and raw.issues[0].line == 1


@pytest.mark.parametrize("depth", [40, 3000])
def test_deep_nesting_costs_one_record_not_the_file(tmp_path, depth):
    path = tmp_path / "deep.json"
    deep = {"text": "x"}
    for _ in range(depth):
        deep = {"n": deep}
    text = (
        "["
        + json.dumps({"text": "first"})
        + ",\n"
        + "[" * depth
        + "]" * depth
        + ",\n"
        + json.dumps({"text": "last"})
        + "]"
    )
    path.write_text(text)
    bundle = load_data(path)
    assert bundle.dataset["text"] == ["first", "last"]
    assert [(i.line, i.severity) for i in bundle.report.issues] == [(2, "error")]
