"""Shared fixtures: the embedded model's tokenizer and tiny llama models built from a config.

Nothing here downloads anything. The tokenizer comes from the embedded default model (converted once
into the cache); tiny models are random llama-architecture networks with that tokenizer, small enough
to train for a few steps in seconds.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

# Tests must never reach the Hub, even where the machine could.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The converted embedded model (converted on first use, then cached across runs)."""
    from workbench.models import ensure_default_model

    return ensure_default_model()


@pytest.fixture(scope="session")
def tokenizer(default_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(default_model_dir)


def build_tiny_model(folder: Path, tokenizer, seed: int = 0, **overrides) -> Path:
    """Save a random tiny llama model with the embedded tokenizer into ``folder`` and return it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config = LlamaConfig(**(settings | overrides))
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer) -> Path:
    """A tiny random llama model folder that `workbench.load_model` accepts like any other model."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), tokenizer)


def _make_adapter_run(run_dir: Path, model_dir: Path, seed: int, method: str = "sft", **lora) -> Path:
    """A run folder like the trainer writes, with a random LoRA adapter (nonzero B, so outputs change)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    config = LoraConfig(**{"r": 4, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj", "down_proj"], "init_lora_weights": False} | lora)
    peft_model = get_peft_model(model, config)
    peft_model.save_pretrained(run_dir / "adapter")
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(run_dir / "adapter")
    (run_dir / "config.yaml").write_text(f"model: {model_dir}\nmethod: {method}\nname: {run_dir.name}\n")
    return run_dir


@pytest.fixture(scope="session")
def make_adapter_run():
    """``make_adapter_run(run_dir, model_dir, seed, method="sft", **lora)``: a run folder with a random adapter."""
    return _make_adapter_run


# --- a real browser (tests/test_app_browser.py, tests/test_arena_browser.py) ---------------------------------------

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def find_chromium() -> str | None:
    """A Chromium that starts: a system one (Ubuntu's chromium-browser may be a stub asking for snap), else Playwright's."""
    for candidate in (os.environ.get("WORKBENCH_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).is_file():
            try:
                if subprocess.run([candidate, "--version"], capture_output=True, timeout=30).returncode == 0:
                    return candidate
            except (OSError, subprocess.TimeoutExpired):
                continue
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        bundled = p.chromium.executable_path
    return bundled if Path(bundled).is_file() else None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium: apt-get install -y chromium, or uv run playwright install chromium (.ci/run does this)")
    return path


@pytest.fixture
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(500)  # let plots and transitions settle
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
