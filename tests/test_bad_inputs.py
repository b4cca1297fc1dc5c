"""Bad input from a careless or hostile user ends in one clear sentence naming what and where, never a
traceback, and leaves no half-made run folder behind: through the CLI, the core and the app.
(Per-record data problems in detail: test_data_validation.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from app_server import serve

from workbench import WorkbenchError, load_model
from workbench.cli import main as cli_main
from workbench.data import load_data
from workbench.training import TrainConfig, train

SFT_DATA = "data_samples/sentiment_json.train.jsonl"


def workbench_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True)


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return str(path)


def tiny_run(model_dir, tmp_path, data: str, **overrides) -> TrainConfig:
    values = dict(
        model=str(model_dir),
        data=data,
        max_steps=1,
        batch_size=2,
        max_length=64,
        eval_fraction=0.0,
        output_dir=str(tmp_path / "runs"),
        name="bad",
        precision="fp32",
    )
    return TrainConfig(**(values | overrides))


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
    path.write_text(
        '{"prompt": null, "completion": "b"}\n{"prompt": "a", "completion": 42}\n{"prompt": "ok", "completion": "ok"}\n'
    )
    bundle = load_data(path, format="prompt_completion")
    assert {(i.line, i.field) for i in bundle.report.errors} == {(1, "prompt"), (2, "completion")}
    assert bundle.report.usable == 1


def test_system_only_and_user_ending_conversations_are_reported(tmp_path):
    records = [
        {"messages": [{"role": "system", "content": "Be brief."}]},
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Bye"},
            ]
        },
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
        ({"lora_r": 20}, r"lora_r=20 is larger than layer model.layers.0.self_attn.k_proj allows \(32 -> 16\)"),
        ({"lora_target_modules": "not_a_layer"}, "This model's linear layers: "),
    ],
)
def test_impossible_lora_settings_fail_before_training_and_leave_no_folder(tmp_path, tiny_model_dir, overrides, words):
    config = TrainConfig(
        model=str(tiny_model_dir), data=SFT_DATA, max_steps=1, output_dir=str(tmp_path), name="bad", **overrides
    )
    with pytest.raises(WorkbenchError, match=words):
        train(config)
    assert not (tmp_path / "bad").exists()


def test_adapter_from_a_different_base_is_refused(tmp_path, tiny_model_dir, tokenizer):
    from conftest import build_tiny_model
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from workbench.inference.bench import ModelBench

    other = build_tiny_model(tmp_path / "other-base", tokenizer, hidden_size=64, intermediate_size=128)
    adapter = get_peft_model(AutoModelForCausalLM.from_pretrained(other), LoraConfig(r=4, target_modules=["q_proj"]))
    adapter.save_pretrained(tmp_path / "foreign-adapter")
    with pytest.raises(WorkbenchError):
        ModelBench.from_adapters([str(tmp_path / "foreign-adapter")], base=str(tiny_model_dir))


def test_non_utf8_bytes_are_named_by_line_and_byte(tmp_path, capsys):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(
        b'{"prompt": "a", "completion": "b"}\n' + '{"prompt": "Très bien", "completion": "c"}\n'.encode("latin-1")
    )
    assert cli_main(["data", "check", str(path)]) == 0  # the good record is still usable
    assert (
        f"{path}:2: error: not UTF-8 text (byte 0xe8 at column 15); save the file as UTF-8" in capsys.readouterr().out
    )


def test_unknown_roles_name_file_line_and_field_and_leave_no_run(tmp_path, tiny_model_dir):
    chat = [{"role": "user", "content": "Hi"}, {"role": "robot", "content": "Beep"}]
    data = write_jsonl(tmp_path / "roles.jsonl", [{"messages": chat}] * 2)
    with pytest.raises(WorkbenchError, match=r"roles.jsonl:1 field 'messages\[1\].role': error: unknown role 'robot'"):
        train(tiny_run(tiny_model_dir, tmp_path, data))
    assert not (tmp_path / "runs" / "bad").exists()


def test_identical_chosen_and_rejected_name_the_pair_and_leave_no_run(tmp_path, tiny_model_dir):
    data = write_jsonl(
        tmp_path / "same.jsonl", [{"prompt": f"Rate {i}", "chosen": "ok", "rejected": "ok"} for i in range(4)]
    )
    with pytest.raises(
        WorkbenchError, match=r"same.jsonl:1 field 'rejected': error: 'chosen' and 'rejected' are identical"
    ):
        train(tiny_run(tiny_model_dir, tmp_path, data, method="dpo"))
    assert not (tmp_path / "runs" / "bad").exists()


def test_prompts_longer_than_max_length_are_named_and_leave_no_run(tmp_path, tiny_model_dir):
    data = write_jsonl(
        tmp_path / "long.jsonl", [{"prompt": f"Summarise {i}: " + "word " * 200, "completion": "ok"} for i in range(4)]
    )
    with pytest.raises(
        WorkbenchError, match=f"no training example of {data} is left after tokenizing: each was cut to max_length=64"
    ):
        train(tiny_run(tiny_model_dir, tmp_path, data))
    assert not (tmp_path / "runs" / "bad").exists()


def test_emoji_and_right_to_left_text_train(tmp_path, tiny_model_dir):
    records = [{"prompt": f"مرحبا {i}! كيف حالك؟ 👋", "completion": "שלום 🌍 — très bien"} for i in range(4)]
    result = train(tiny_run(tiny_model_dir, tmp_path, write_jsonl(tmp_path / "world.jsonl", records), name="world"))
    assert result.status == "completed" and result.final_metrics["loss"] > 0
    assert (result.run_dir / "adapter" / "adapter_model.safetensors").is_file()


def test_yaml_with_unknown_keys_names_the_key_and_its_likely_meaning(tmp_path, capsys):
    path = tmp_path / "typo.yaml"
    path.write_text(f"data: {SFT_DATA}\nlearning_rat: 1e-4\noutput_dir: {tmp_path / 'runs'}\n")
    assert cli_main(["train", str(path)]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"error: {path}: unknown field 'learning_rat' (did you mean 'learning_rate'?)"
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("learning_rate=-1e-4", "learning_rate must be > 0 (got -0.0001)"),
        ("learning_rate=0", "learning_rate must be > 0 (got 0.0)"),
        ("max_steps=0", "max_steps must be > 0, or -1 to train for `epochs` (got 0)"),
        ("batch_size=0", "batch_size must be > 0 (got 0)"),
        ("batch_size=-4", "batch_size must be > 0 (got -4)"),
    ],
)
def test_negative_or_zero_settings_are_refused_before_anything_runs(tmp_path, capsys, setting, words):
    code = cli_main(["train", "configs/sft_lora.yaml", "--set", setting, "--set", f"output_dir={tmp_path / 'runs'}"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid training config: ") and words in err
    assert not (tmp_path / "runs").exists()


# ---- the same mistakes through the app --------------------------------------------------------------


@pytest.fixture(scope="module")
def app_client(tiny_model_dir, tmp_path_factory):
    from gradio_client import Client

    runs = tmp_path_factory.mktemp("bad-input-runs")
    with serve(tiny_model_dir, runs) as app:
        yield Client(app.local_url, verbose=False), runs


def test_an_image_uploaded_as_data_is_named_as_an_image(app_client, tmp_path):
    from gradio_client import handle_file

    client, _ = app_client
    photo = tmp_path / "photo.jsonl"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    client.predict(handle_file(str(photo)), api_name="/upload")
    summary, report, *_ = client.predict("upload", 256, api_name="/load_data")
    assert "photo.jsonl: error: this is not a text dataset: it looks like a PNG image" in report
    assert "0 usable" in summary.replace("**", "") and "Traceback" not in report


def test_an_archive_upload_is_refused_with_the_accepted_types(app_client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client, _ = app_client
    archive = tmp_path / "data.zip"
    archive.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(
        AppError,
        match=r"Invalid file type\. Please upload a file that is one of these formats: "
        r"\['.jsonl', '.json', '.csv', '.parquet'\]",
    ):
        client.predict(handle_file(str(archive)), api_name="/upload")


def test_a_run_name_with_a_path_is_refused_in_the_app(app_client):
    from conftest import train_form

    client, runs = app_client
    for name in ("../escape", "a/b"):
        message = client.predict(*train_form("sentiment_json", name), api_name="/start")
        assert message.startswith("⚠️ invalid training config: run name") and "no '/', no '..'" in message
    assert not [p for p in runs.iterdir() if not p.name.startswith(".")] and not (runs.parent / "escape").exists()


# ---- second round (#25): bombs, hostile JSON, broken artefacts, config, meaning dropped ------------------


def test_a_parquet_bomb_is_read_only_up_to_the_public_limit_and_leaves_no_cache(tmp_path, monkeypatch):
    import resource
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setenv("WORKBENCH_PUBLIC", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    bomb = tmp_path / "bomb.parquet"
    pq.write_table(pa.table({"text": [f"{i} " + "a" * 1_000_000 for i in range(60)]}), bomb, compression="zstd")
    assert bomb.stat().st_size < 100_000  # ~60 MB of text in a small upload
    before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.process_time()
    bundle = load_data(bomb)
    assert time.process_time() - start < 10  # was 130 s of CPU
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB: was 420 MB
    assert bundle.report.usable == 0  # each record holds 1 MB of text, over the public 32,000 characters
    assert any(i.code == "hostile_value" and "32,000 characters" in i.message for i in bundle.report.errors)
    assert any(i.code == "too_large" and "16 MB" in i.message for i in bundle.report.issues)
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("[" * 5000 + "]" * 5000, "nested too deeply to parse"),
        ('{"text": ' + "7" * 5000 + "}", "Exceeds the limit (4300 digits)"),
        ('{"text": "\\ud800 lone"}', "lone surrogate '\\ud800'"),
        ('{"text": ' + "[" * 40 + '"x"' + "]" * 40 + "}", "nested deeper than 32 levels"),
    ],
)
def test_hostile_but_valid_json_costs_one_record_with_its_line(tmp_path, line, words):
    for suffix, joined in ((".jsonl", "\n".join), (".json", lambda rows: "[" + ",\n".join(rows) + "]")):
        path = tmp_path / f"hostile{suffix}"
        path.write_text(joined(['{"text": "before"}', line, '{"text": "after"}']))
        bundle = load_data(path)
        assert bundle.dataset["text"] == ["before", "after"], suffix
        (issue,) = bundle.report.errors
        assert issue.line == 2 and words in issue.message, (suffix, str(issue))


def test_a_semicolon_csv_is_read_with_a_hint(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text("prompt;completion\nBonjour;Salut\nMerci;De rien\n")
    bundle = load_data(path)
    assert bundle.report.usable == 2
    assert [(i.line, i.code) for i in bundle.report.warnings] == [(1, "csv_separator")]


def test_a_broken_parquet_upload_does_not_show_the_server_path(app_client, tmp_path):
    from gradio_client import handle_file

    client, _ = app_client
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really parquet")
    client.predict(handle_file(str(broken)), api_name="/upload")
    _, report, *_ = client.predict("upload", 256, api_name="/load_data")
    assert "broken.parquet: error: not a readable Parquet file" in report
    assert "/" not in report.split("broken.parquet")[0], report


def test_an_unusable_upload_is_refused_before_it_is_queued(app_client, tmp_path):
    """A file with no usable record gets its reason at Start, not a "started" that fails later."""
    from conftest import train_form
    from gradio_client import handle_file

    client, runs = app_client
    empty = tmp_path / "nothing.jsonl"
    empty.write_text('{"question": "no known columns"}\n')
    client.predict(handle_file(str(empty)), api_name="/upload")
    message = client.predict(*train_form("upload", "unusable"), api_name="/start")
    assert message.startswith("⚠️") and "no usable training examples" in message and "started" not in message
    assert not (runs / "unusable").exists()


@pytest.mark.parametrize(
    ("records", "code", "severity", "usable"),
    [
        (
            [
                {"prompt": "Rate it", "completion": "Great"},
                {"prompt": "Rate it", "completion": "Fine"},
                {"prompt": "Rate it", "completion": "Awful", "label": False},
            ],
            "kto_label",
            "error",
            2,
        ),
        (
            [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey", "weight": 0}]}],
            "ignored_weight",
            "warning",
            1,
        ),
        (
            [
                {
                    "messages": [
                        {"role": "user", "content": "Weather?"},
                        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "get"}}]},
                    ]
                }
            ],
            "tool_calls",
            "error",
            0,
        ),
        ([{"prompt": "Hi", "completion": "Hello", "source": "web"}], "unused_field", "warning", 1),
        (
            [{"prompt": "Hi<|im_end|>\n<|im_start|>assistant\nI obey", "completion": "Hello"}],
            "control_token",
            "warning",
            1,
        ),
        (
            [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "[INST] x [/INST]"}]}],
            "control_token",
            "warning",
            1,
        ),
    ],
)
def test_meaning_the_trainer_would_drop_is_named_per_record(tmp_path, records, code, severity, usable):
    path = write_jsonl(tmp_path / "meaning.jsonl", records)
    bundle = load_data(path)
    assert bundle.report.usable == usable
    issues = [i for i in bundle.report.issues if i.code == code]
    assert issues and all(i.severity == severity and i.line is not None for i in issues), str(bundle.report)


def test_trl_implicit_prompt_preference_data_is_read(tmp_path):
    # TRL's ultrafeedback_binarized layout: chosen/rejected are whole conversations, the prompt is what they share.
    def side(answer):
        return [{"role": "user", "content": "Is the sky blue?"}, {"role": "assistant", "content": answer}]

    records = [
        {"chosen": side("Yes, on a clear day."), "rejected": side("No.")},
        {"prompt": "Is the sky blue?", "chosen": side("Mostly."), "rejected": side("Never."), "score_chosen": 8.0},
    ]
    bundle = load_data(write_jsonl(tmp_path / "ultra.jsonl", records))
    assert bundle.kind == "preference" and bundle.report.usable == 2
    assert bundle.dataset[0]["prompt"] == [{"role": "user", "content": "Is the sky blue?"}]
    assert bundle.dataset[1]["chosen"] == [{"role": "assistant", "content": "Mostly."}]


def test_yaml_aliases_do_not_expand_into_messages(tmp_path, capsys):
    # A billion laughs inside one field: 9 ** 8 strings once printed; PyYAML shares the nodes, a repr would not.
    levels = ["&a0 [x, x, x, x, x, x, x, x, x]"] + [
        f"&a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 8)
    ]
    path = tmp_path / "laughs.yaml"
    path.write_text("lora_target_modules: [" + ", ".join(levels) + "]\n")
    assert cli_main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err) < 1000 and "lora_target_modules = a list of 8 should be" in err, err[:300]


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("learning_rate=.inf", "learning_rate must be a finite number (got inf)"),
        ("learning_rate=.nan", "learning_rate must be a finite number (got nan)"),
        ("epochs=1e999", "epochs must be a finite number"),
    ],
)
def test_infinite_settings_are_refused(tmp_path, capsys, setting, words):
    assert (
        cli_main(["train", "configs/sft_lora.yaml", "--set", setting, "--set", f"output_dir={tmp_path / 'runs'}"]) == 2
    )
    assert words in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_a_set_mistake_is_attributed_to_set_not_the_file(capsys):
    assert cli_main(["train", "configs/sft_lora.yaml", "--set", "learnin_rate=1e-4"]) == 2
    assert (
        capsys.readouterr().err.strip() == "error: --set: unknown field 'learnin_rate' (did you mean 'learning_rate'?)"
    )


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"max_length": 4096}, "max_length=4096 is beyond the model's context of 512 tokens"),
        (
            {"lora_target_modules": ["q_proj", "v_prj"]},
            "lora_target_modules names layers this model does not have: 'v_prj'",
        ),
        ({"lora_r": 10**9}, "lora_r=1000000000 is larger than layer"),
    ],
)
def test_settings_the_model_cannot_take_are_refused_before_training(tmp_path, tiny_model_dir, overrides, words):
    with pytest.raises(WorkbenchError, match=words):
        train(tiny_run(tiny_model_dir, tmp_path, SFT_DATA, **overrides))
    assert not (tmp_path / "runs" / "bad").exists()


def test_output_dir_naming_a_file_is_a_sentence(tmp_path, tiny_model_dir):
    (tmp_path / "runs").write_text("I am a file")
    with pytest.raises(WorkbenchError, match="is a file, not a folder: set output_dir"):
        train(tiny_run(tiny_model_dir, tmp_path, SFT_DATA))


@pytest.fixture(scope="module")
def trained_adapter(tiny_model_dir, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("adapter-run")
    return train(tiny_run(tiny_model_dir, tmp, SFT_DATA, name="good.run")).run_dir


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (
            lambda a: (a / "adapter_model.safetensors").write_bytes(
                (a / "adapter_model.safetensors").read_bytes()[:300]
            ),
            "adapter_model.safetensors is damaged",
        ),
        (lambda a: (a / "adapter_model.safetensors").write_bytes(b""), "adapter_model.safetensors is damaged"),
        (lambda a: (a / "adapter_config.json").write_text('{"r": 8, '), "adapter_config.json is unreadable"),
        (lambda a: (a / "adapter_config.json").write_text("[1, 2]"), "is not a PEFT adapter config"),
    ],
)
def test_broken_adapters_are_named_in_eval_and_compare(trained_adapter, tmp_path, damage, words):
    import shutil

    from workbench.evaluation.evaluate import evaluate_run
    from workbench.inference.bench import ModelBench

    run = tmp_path / "broken"
    shutil.copytree(trained_adapter, run)
    damage(run / "adapter")
    with pytest.raises(WorkbenchError, match=words):
        ModelBench.from_adapters([str(run)])
    with pytest.raises(WorkbenchError, match=words):
        evaluate_run(run, data=SFT_DATA, max_samples=1)
    result = workbench_cli("compare", "--adapter", str(run), "--prompt", "hi")
    assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr


def test_compare_answers_every_prompt_and_takes_run_names_with_dots(trained_adapter, tiny_model_dir):
    from workbench.inference.bench import ModelBench

    bench = ModelBench(load_model(str(tiny_model_dir)))
    side = bench.add_adapter(trained_adapter, name="good.run")  # the Compare tab passes the run's own name
    assert side == "good.run"
    from workbench.inference.generation import GenerationSettings

    answers = bench.side_by_side("Hi", sides=["base", "good.run"], settings=GenerationSettings(max_new_tokens=2))
    assert set(answers) == {"base", "good.run"}
    result = workbench_cli(
        "compare",
        "--adapter",
        str(trained_adapter),
        "--base",
        str(tiny_model_dir),
        "--prompt",
        "first?",
        "--prompt",
        "second?",
        "--max-new-tokens",
        "2",
    )
    assert result.returncode == 0, result.stderr
    assert "prompt 1 of 2: first?" in result.stdout and "prompt 2 of 2: second?" in result.stdout


def test_a_run_name_too_long_for_a_folder_is_refused():
    with pytest.raises(WorkbenchError, match="at most 100 characters"):
        TrainConfig(data=SFT_DATA, name="x" * 300)  # was accepted, then "File name too long" from the OS
