"""Bad input from a careless or hostile user ends in one clear sentence naming what and where, never a
traceback, and leaves no half-made run folder behind. (Per-record data problems: test_data_validation.py.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from workbench import WorkbenchError
from workbench.data import load_data
from workbench.training import TrainConfig, train

SFT_DATA = "data_samples/sentiment_json.train.jsonl"


def workbench_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("photo.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks like a PNG image"),
        ("archive.jsonl", b"PK\x03\x04\x14\x00\x00\x00", "looks like a zip archive"),
        ("empty.jsonl", b"", "the file is empty"),
        ("header.csv", b"instruction,output\n", "header line but no records"),
    ],
)
def test_files_that_are_not_datasets_are_named_as_such(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    result = workbench_cli("data", "check", str(path))
    assert result.returncode == 1, result.stderr
    assert words in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("suffix", [".png", ".zip"])
def test_unknown_file_types_are_refused_in_one_line(tmp_path, suffix):
    path = tmp_path / f"upload{suffix}"
    path.write_bytes(b"\x00\x01")
    result = workbench_cli("data", "check", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {path}: unknown file type {suffix}; use .jsonl, .json, .csv, .parquet"


def test_bom_and_crlf_are_read_as_ordinary_jsonl(tmp_path):
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"prompt": "a", "completion": "b"}\r\n{"prompt": "c", "completion": "d"}\r\n')
    bundle = load_data(path)
    assert bundle.report.usable == 2 and not bundle.report.errors
    assert bundle.dataset[0]["prompt"] == "a"


def test_a_json_array_saved_as_jsonl_is_read_with_a_warning(tmp_path):
    path = tmp_path / "array.jsonl"
    path.write_text(json.dumps([{"prompt": "a", "completion": "b"}, {"prompt": "c", "completion": "d"}]))
    bundle = load_data(path)
    assert bundle.report.usable == 2
    assert any("rename it to .json" in issue.message for issue in bundle.report.warnings)


def test_truncated_last_line_keeps_the_good_records(tmp_path):
    path = tmp_path / "cut.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "c", "compl')
    bundle = load_data(path)
    assert bundle.report.usable == 1
    assert [(i.line, i.code) for i in bundle.report.errors] == [(2, "not_json")]


def test_null_and_numeric_fields_name_the_field(tmp_path):
    path = tmp_path / "types.jsonl"
    path.write_text('{"prompt": null, "completion": "b"}\n{"prompt": "a", "completion": 42}\n{"prompt": "ok", "completion": "ok"}\n')
    bundle = load_data(path, format="prompt_completion")
    assert {(i.line, i.field) for i in bundle.report.errors} == {(1, "prompt"), (2, "completion")}
    assert bundle.report.usable == 1


def test_system_only_and_user_ending_conversations_are_reported(tmp_path):
    records = [
        {"messages": [{"role": "system", "content": "Be brief."}]},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}]},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
    ]
    bundle = load_data(records)
    assert any(i.index == 0 for i in bundle.report.errors), "a system-only conversation has nothing to learn"


def test_huge_single_line_is_reported_as_too_long_not_crashing(tmp_path, tokenizer):
    path = tmp_path / "huge.jsonl"
    path.write_text(json.dumps({"prompt": "Summarise: " + "word " * 50_000, "completion": "ok"}) + "\n")
    bundle = load_data(path, tokenizer=tokenizer, max_length=256)
    assert bundle.report.usable == 1
    assert any("over max_length 256" in i.message and i.line == 1 for i in bundle.report.warnings)


def test_emoji_and_right_to_left_text_work_end_to_end(tmp_path, tokenizer):
    from workbench.data import preview_record

    records = [{"prompt": "مرحبا! كيف حالك؟ 👋", "completion": "שלום 🌍 — très bien, merci"}]
    bundle = load_data(records)
    assert bundle.report.usable == 1 and not bundle.report.issues
    preview = preview_record(bundle, tokenizer, index=0)
    assert "🌍" in "".join(text for text, _ in preview.to_highlighted())


def test_dataset_html_is_escaped_in_the_preview(tokenizer):
    from workbench.data import preview_record

    bundle = load_data([{"prompt": "<script>alert(1)</script>", "completion": "<b>bold</b>"}])
    html = preview_record(bundle, tokenizer, index=0).to_html()
    # Tokens are wrapped one per span, so the escaped text is split; what matters is that no raw tag survives.
    assert "<script" not in html and "<b>bold" not in html
    assert "&lt;" in html and "&gt;" in html


def test_run_names_that_escape_the_runs_folder_are_refused():
    for name in ("../outside", "a/b", "/etc"):
        result = workbench_cli("train", "configs/sft_lora.yaml", "--set", f"name={name}")
        assert result.returncode == 2, name
        assert "Traceback" not in result.stderr and "name" in result.stderr


def test_yaml_with_wrong_types_names_the_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(f"data: {SFT_DATA}\nbatch_size: eight\n")
    result = workbench_cli("train", str(path))
    assert result.returncode == 2
    assert "batch_size" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"lora_r": 64}, "lora_r=64 is larger than layer"),
        ({"lora_target_modules": "not_a_layer"}, "This model's linear layers: "),
    ],
)
def test_impossible_lora_settings_fail_before_training_and_leave_no_folder(tmp_path, tiny_model_dir, overrides, words):
    config = TrainConfig(model=str(tiny_model_dir), data=SFT_DATA, max_steps=1, output_dir=str(tmp_path), name="bad", **overrides)
    with pytest.raises(WorkbenchError, match=words):
        train(config)
    assert not (tmp_path / "bad").exists()


def test_adapter_from_a_different_base_is_refused(tmp_path, tiny_model_dir, tokenizer):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from conftest import build_tiny_model
    from workbench.compare import ModelBench

    other = build_tiny_model(tmp_path / "other-base", tokenizer, hidden_size=64, intermediate_size=128)
    adapter = get_peft_model(AutoModelForCausalLM.from_pretrained(other), LoraConfig(r=4, target_modules=["q_proj"]))
    adapter.save_pretrained(tmp_path / "foreign-adapter")
    with pytest.raises(WorkbenchError):
        ModelBench.from_adapters([str(tmp_path / "foreign-adapter")], base=str(tiny_model_dir))
