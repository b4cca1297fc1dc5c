"""Model loading: the embedded default, local folders, precision, quantization and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from workbench import WorkbenchError, load_model
from workbench.hardware import Precision, choose_precision
from workbench.inference.generation import GenerationSettings, chat
from workbench.models import _COMPLETE_MARKER, ensure_default_model


def test_local_folder_loads_with_the_chosen_precision(tiny_model_dir):
    lm = load_model(str(tiny_model_dir))
    assert lm.model.config.model_type == "llama"
    assert lm.model.dtype == choose_precision().dtype
    assert lm.tokenizer.pad_token is not None
    assert str(tiny_model_dir) in lm.summary()


def test_training_load_keeps_fp32_master_weights_only_for_weights_that_train(tiny_model_dir):
    bf16 = Precision("cpu", torch.bfloat16, "test")
    assert load_model(str(tiny_model_dir), precision=bf16, for_training=True).model.dtype == torch.float32
    frozen = load_model(str(tiny_model_dir), precision=bf16, for_training=True, frozen_base=True)
    assert frozen.model.dtype == torch.bfloat16


def test_generation_is_reproducible_for_a_seed(tiny_model_dir):
    lm = load_model(str(tiny_model_dir))
    settings = GenerationSettings(max_new_tokens=8, temperature=1.0, seed=3)
    assert chat(lm.model, lm.tokenizer, "hello", settings) == chat(lm.model, lm.tokenizer, "hello", settings)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("/no/such/folder", "not found"),
        ("./missing-model", "not found"),
    ],
)
def test_unknown_model_names_get_a_clear_error(name, expected):
    with pytest.raises(WorkbenchError, match=expected):
        load_model(name)


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(WorkbenchError, match="no config.json"):
        load_model(str(tmp_path))


def test_adapter_folder_is_not_mistaken_for_a_model(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(WorkbenchError, match="adapter"):
        load_model(str(tmp_path))


def test_unreachable_hub_id_names_what_was_tried():
    with pytest.raises(WorkbenchError, match=r"nobody/no-such-model.*Hub"):
        load_model("nobody/no-such-model")


def test_4bit_quantization_loads_nf4_layers(tiny_model_dir):
    pytest.importorskip("bitsandbytes")
    lm = load_model(str(tiny_model_dir), quantization="4bit")
    import bitsandbytes as bnb

    assert any(isinstance(m, bnb.nn.Linear4bit) for m in lm.model.modules())
    assert lm.quantization == "4bit"


def test_a_4bit_model_loaded_for_training_keeps_its_gradients_after_an_evaluation(tmp_path, tokenizer):
    """A trainer evaluates between steps; the 4-bit layers must still pass gradients to the adapters below them."""
    pytest.importorskip("bitsandbytes")
    from conftest import build_tiny_model
    from peft import LoraConfig, get_peft_model

    # bitsandbytes' CPU inference repacking works on blocks of 64: the layers need at least that width.
    folder = build_tiny_model(tmp_path / "tiny128", tokenizer, hidden_size=128, intermediate_size=256)
    lm = load_model(
        str(folder), quantization="4bit", precision=Precision("cpu", torch.float32, "test"), for_training=True
    )
    model = get_peft_model(
        lm.model, LoraConfig(r=4, target_modules="all-linear", lora_dropout=0.0, task_type="CAUSAL_LM")
    )
    ids = torch.randint(5, 1000, (2, 16))

    def first_block_gradients():
        model.train()
        model.zero_grad()
        model(input_ids=ids, labels=ids).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if "layers.0." in n and "lora_B" in n}

    before = first_block_gradients()
    model.eval()
    with torch.no_grad():
        model(input_ids=ids)  # what an evaluation does
    after = first_block_gradients()
    assert before and all(before[n].abs().sum() > 0 for n in before)
    for name in before:
        assert torch.allclose(before[name], after[name], atol=1e-6), name


def test_quantization_where_bitsandbytes_cannot_run(tiny_model_dir, monkeypatch):
    monkeypatch.setattr("workbench.models.bitsandbytes_problem", lambda device: "bitsandbytes is not installed")
    with pytest.raises(WorkbenchError, match="4bit quantization cannot run here: bitsandbytes is not installed"):
        load_model(str(tiny_model_dir), quantization="4bit")


@pytest.mark.parametrize(
    ("capability", "dtype"),
    [((7, 0), torch.float16), ((7, 5), torch.float16), ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)],
    ids=["V100", "T4", "A100", "H100"],
)
def test_gpu_precision_follows_the_compute_capability(monkeypatch, capability, dtype):
    """A T4 trains in fp16 even where torch's is_bf16_supported() counts emulation and says True."""
    import workbench.hardware as hardware

    monkeypatch.delenv("WORKBENCH_DTYPE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)  # torch 2.15 on a T4
    hardware.choose_precision.cache_clear()
    try:
        precision = hardware.choose_precision()
    finally:
        hardware.choose_precision.cache_clear()  # the next test sees this machine again
    assert (precision.device, precision.dtype) == ("cuda", dtype)
    assert f"{capability[0]}.{capability[1]}" in precision.reason


def test_cli_reports_errors_in_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "generate", "--model", "/no/such", "--prompt", "hi"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: model '/no/such' not found")
    assert "Traceback" not in result.stderr


def test_cli_info_reports_precision_and_cache(tmp_path):
    env = {**__import__("os").environ, "WORKBENCH_CACHE": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "workbench.cli", "info"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert choose_precision().dtype_name in result.stdout
    assert str(tmp_path) in result.stdout
    assert "not converted yet" in result.stdout


@pytest.mark.embedded
def test_default_model_answers_paris(default_model_dir):
    lm = load_model("default")
    answer = chat(
        lm.model, lm.tokenizer, "What is the capital of France?", GenerationSettings(temperature=0, max_new_tokens=20)
    )
    assert "Paris" in answer


@pytest.mark.embedded
def test_second_load_reuses_the_cache(default_model_dir):
    before = (default_model_dir / "model.safetensors").stat().st_mtime
    lm = load_model("default")
    assert (default_model_dir / "model.safetensors").stat().st_mtime == before
    assert lm.load_seconds < 10


@pytest.mark.embedded
def test_corrupt_cache_is_detected_and_rebuilt(tmp_path, monkeypatch, default_model_dir):
    # A copy of the real cache in a private location, then damaged: a truncated weights file.
    import shutil

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    from workbench.models import default_model_dir as target_dir

    shutil.copytree(default_model_dir, target_dir())
    weights = target_dir() / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    messages: list[str] = []
    rebuilt = ensure_default_model(progress=messages.append)
    assert any("corrupt" in m for m in messages)
    marker = json.loads((rebuilt / _COMPLETE_MARKER).read_text())
    assert weights.stat().st_size == marker["files"]["model.safetensors"] > 1000
