"""Fitting a run to a memory budget (issue #23): the chosen layout's estimate is within the budget, the effective
batch is kept, and TRL's SFT/DPO/KTOConfig receive what was chosen."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import sft_rows, tiny_config
from datasets import Dataset

from workbench.training import TrainConfig, pipeline
from workbench.training.config import load_run_config
from workbench.training.estimate import config_estimator, estimate_config
from workbench.training.plan import fit_to_memory, memory_budget_mb


def pref_rows(n=16):
    return [
        {
            "prompt": [{"role": "user", "content": f"Label {i % 2}"}],
            "chosen": [{"role": "assistant", "content": '{"label": "yes"}'}],
            "rejected": [{"role": "assistant", "content": "no idea"}],
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("budget_gb", [2.0, 3.0, 4.0])
def test_the_chosen_layout_is_estimated_within_the_budget(default_model_dir, budget_gb):
    # The identity-like case of the issue: batch 8 of up to 256 tokens, on the embedded model's shapes.
    config = TrainConfig(
        model=str(default_model_dir),
        data="x",
        batch_size=8,
        max_length=256,
        max_steps=10,
        memory_budget_gb=budget_gb,
        precision="bf16",
        lora_dropout=0.05,
    )
    lengths = dict(n_train=91, mean_tokens=120, longest_tokens=256, n_eval=0)
    as_configured = estimate_config(config, fit=False, **lengths)
    fitted = estimate_config(config, **lengths)
    assert as_configured.peak_memory_mb > budget_gb * 1024  # the budget is binding: the test can fail
    assert fitted.peak_memory_mb <= budget_gb * 1024
    assert "memory fit" in fitted.fit and f"{budget_gb * 1024:,.0f} MB" in fitted.fit

    chosen = fit_to_memory(
        config.resolved(), lambda c: config_estimator(config, **lengths)(c).peak_memory_mb, memory_budget_mb(config)
    ).config
    assert chosen.batch_size * chosen.gradient_accumulation == 8
    assert chosen.batch_size < 8 or chosen.gradient_checkpointing and not config.gradient_checkpointing
    assert "gradient_accumulation" in fitted.fit
    assert ("gradient checkpointing" in fitted.fit) == chosen.gradient_checkpointing


def test_no_fit_when_it_fits_or_when_turned_off(default_model_dir):
    lengths = dict(n_train=91, mean_tokens=120, longest_tokens=256, n_eval=0)
    roomy = TrainConfig(model=str(default_model_dir), data="x", memory_budget_gb=64.0, precision="bf16")
    assert "trained as configured" in estimate_config(roomy, **lengths).fit
    off = dataclasses.replace(roomy, memory_budget_gb=0.0)
    assert memory_budget_mb(off) is None and estimate_config(off, **lengths).fit == ""
    assert "75% of the" in memory_budget_mb(dataclasses.replace(roomy, memory_budget_gb=None))[1]


def _fake_estimator(*args, **kwargs):
    """Peak = 1000 MB + 100 MB a sequence of the batch, a quarter of that with checkpointing."""
    from workbench.training.estimate import Estimate

    def estimate(c):
        per_row = 25 if c.gradient_checkpointing else 100
        peak = 1000 + per_row * c.batch_size * (2 if c.method == "dpo" else 1)
        return Estimate(peak, 1.0, 1.0, 1, 1, 1, 1, {})

    return estimate


@pytest.mark.parametrize("method", ["sft", "dpo", "kto"])
def test_the_chosen_settings_reach_the_trainer(tmp_path, tiny_model_dir, monkeypatch, method):
    built = []
    module = pipeline.METHODS[method]
    original = module.build_trainer
    monkeypatch.setattr(module, "build_trainer", lambda *a, **k: built.append(original(*a, **k)) or built[-1])
    monkeypatch.setattr(pipeline, "config_estimator", _fake_estimator)
    # sft: 1000 + 100 b <= 1075 has no solution, with checkpointing 1000 + 25 b does at b = 2 (and 3 is no divisor of 8)
    budget_gb = (1150 if method == "dpo" else 1075) / 1024
    config = tiny_config(
        tiny_model_dir,
        tmp_path,
        method=method,
        batch_size=8,
        gradient_accumulation=1,
        max_steps=1,
        memory_budget_gb=budget_gb,
        save_steps=1,
    )
    kto_rows = [
        {"prompt": r["prompt"], "completion": r["chosen"], "label": i % 2 == 0} for i, r in enumerate(pref_rows())
    ]
    rows = {"sft": sft_rows(), "dpo": pref_rows(), "kto": kto_rows}[method]
    result = pipeline.train(config, dataset=Dataset.from_list(rows))
    args = built[0].args
    assert type(args).__name__ == f"{method.upper()}Config"
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps, args.gradient_checkpointing) == (
        2,
        4,
        True,
    )
    saved = load_run_config(result.run_dir)  # a resumed run continues with the chosen layout
    assert (saved.batch_size, saved.gradient_accumulation, saved.gradient_checkpointing) == (2, 4, True)
    assert any("batch_size 2 x gradient_accumulation 4" in note for note in result.notes)


def test_a_kto_fit_keeps_two_rows_in_a_batch():
    """KTO estimates its KL term from the other answers in a batch: where SFT would drop to batch 1, KTO stays at 2."""
    config = TrainConfig(data="x", method="sft", batch_size=4, gradient_checkpointing=False, memory_budget_gb=1.0)
    peak = lambda c: 1000 + 100 * c.batch_size  # noqa: E731
    sft = fit_to_memory(config, peak, (1100.0, "test"))
    assert (sft.config.batch_size, sft.config.gradient_accumulation, sft.fits) == (1, 4, True)
    kto = fit_to_memory(dataclasses.replace(config, method="kto"), peak, (1100.0, "test"))
    assert (kto.config.batch_size, kto.config.gradient_accumulation, kto.fits) == (2, 2, False)
    assert "may run out of memory" in kto.explain()
