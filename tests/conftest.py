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


def pytest_collection_modifyitems(config, items):
    """Tests marked slow (fresh virtual environments, many minutes) run only with WORKBENCH_SLOW_TESTS=1.

    They install hundreds of packages into new environments; the default run (and CI's) stays within its
    time budget without them. `WORKBENCH_SLOW_TESTS=1 uv run pytest -m slow` runs them.
    """
    if os.environ.get("WORKBENCH_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="slow (a fresh virtual environment): set WORKBENCH_SLOW_TESTS=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


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
    config = LoraConfig(
        **{"r": 4, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj", "down_proj"], "init_lora_weights": False}
        | lora
    )
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
    """A Chromium that starts: a system one (Ubuntu's chromium-browser may be a stub asking for snap), else
    Playwright's."""
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
        pytest.skip(
            "no Chromium: apt-get install -y chromium, or uv run playwright install chromium (.ci/run does this)"
        )
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


# Helpers several test modules share (imported with `from conftest import ...`).


def sft_rows(n=24):
    # One repeated pattern: a tiny model can learn it in a few steps, so the loss must fall.
    return [
        {
            "messages": [
                {"role": "user", "content": f"Label {i % 2}"},
                {"role": "assistant", "content": '{"label": "yes"}'},
            ]
        }
        for i in range(n)
    ]


def tiny_config(model_dir, tmp_path, **overrides):
    """A TrainConfig for a few fast fp32 steps of a tiny model."""
    from workbench.training import TrainConfig

    values = dict(
        model=str(model_dir),
        output_dir=str(tmp_path / "runs"),
        name="run",
        max_steps=4,
        batch_size=4,
        max_length=64,
        learning_rate=1e-2,
        warmup_ratio=0.0,
        lr_scheduler="constant",
        eval_fraction=0.0,
        save_steps=2,
        precision="fp32",
        lora_dropout=0.0,
    )
    values.update(overrides)
    return TrainConfig(**values)


def arena_form(
    message: str,
    *sides: str,
    mode: str = "Named sides",
    pool: list[str] | None = None,
    system: str = "",
    max_new_tokens: int = 16,
) -> list:
    """The /arena inputs in order: message, mode, pool, (side, scale) x 4, system, temperature, max tokens, seed."""
    slots = [*sides, *["(none)"] * (4 - len(sides))]
    return [
        message,
        mode,
        pool or ["base"],
        *[x for side in slots for x in (side, 1.0)],
        system,
        0.7,
        max_new_tokens,
        0,
    ]


TRAIN_FORM = dict(
    method="sft",
    adaptation="lora",
    lora_r=8,
    lora_alpha=16,
    learning_rate=2e-4,
    epochs=1,
    max_steps=2,
    batch_size=4,
    max_length=128,
    beta=0.1,
)


def train_form(data: str, name: str, **changes) -> list:
    """The Train tab's /start inputs in order (the session's upload path is a State the client fills itself)."""
    return [data, name, *(TRAIN_FORM | changes).values()]


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Gradio dropdown labelled ``label``."""
    from playwright.sync_api import expect

    page.get_by_label(label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.get_by_role("option")).to_have_count(0)  # the list closed: the next dropdown's options are its own


def side(page, letter: str):
    return page.locator(f"#arena-side-{letter}")


def send(page, text: str, answers: int) -> None:
    """Send ``text`` and wait until every visible side shows ``answers`` answers and the turn has finished."""
    page.locator("#arena-message textarea").fill(text)
    page.get_by_role("button", name="Send", exact=True).first.click()
    page.get_by_text(f"Turn {answers}: every side answered.").wait_for(timeout=120_000)
