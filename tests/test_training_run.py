"""train() on tiny models: SFT LoRA/QLoRA/full, DPO LoRA, the run folder, stop, NaN and wrong-data errors."""

from __future__ import annotations

import json
import threading

import pytest
import torch
from conftest import sft_rows, tiny_config
from datasets import Dataset

from workbench.errors import WorkbenchError
from workbench.training import list_runs, load_run_config, read_metrics, train


def pref_rows(n=16):
    return [
        {
            "prompt": [{"role": "user", "content": f"Label {i % 2}"}],
            "chosen": [{"role": "assistant", "content": '{"label": "yes"}'}],
            "rejected": [{"role": "assistant", "content": "I am not sure."}],
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def sft_run(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sft")
    events = []
    result = train(
        tiny_config(tiny_model_dir, tmp, max_steps=6, eval_fraction=0.25, eval_steps=3),
        on_event=events.append,
        dataset=Dataset.from_list(sft_rows()),
    )
    return result, events


def test_sft_lora_loss_falls_and_eval_improves(sft_run):
    result, _ = sft_run
    losses = [r["loss"] for r in read_metrics(result.run_dir) if "loss" in r]
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert result.final_metrics["eval_loss"] < result.final_metrics["eval_loss_start"]


def test_run_folder_holds_everything(sft_run):
    result, _ = sft_run
    run = result.run_dir
    for name in ("config.yaml", "metrics.jsonl", "loss.png", "README.md", "estimate.json"):
        assert (run / name).is_file(), name
    assert (run / "adapter" / "adapter_model.safetensors").is_file() and (run / "adapter" / "tokenizer.json").is_file()
    assert list((run / "checkpoints").glob("checkpoint-*"))
    assert not list(run.glob(".*tmp*")), "no temporary files left behind"
    assert load_run_config(run).name == "run" and list_runs(run.parent) == [run]
    adapter = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == load_run_config(run).model
    card = (run / "README.md").read_text()
    assert "How to load it" in card and "eval_loss" in card and "sha256" in card
    estimate = json.loads((run / "estimate.json").read_text())
    assert estimate["estimate"]["peak_memory_mb"] > 0 and estimate["measured"]["peak_memory_mb"] > 0
    records = read_metrics(run)
    steps = [r["step"] for r in records if "loss" in r]
    assert steps == sorted(set(steps)), "one loss line per step"
    assert all("learning_rate" in r and "tokens_per_second" in r for r in records if "loss" in r and r["step"] > 1)


def test_every_lora_parameter_trained_and_counts_match_peft(sft_run, tiny_model_dir):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    result, _ = sft_run
    weights = load_file(result.run_dir / "adapter" / "adapter_model.safetensors")
    lora_b = [k for k in weights if "lora_B" in k]
    assert lora_b and all(weights[k].abs().sum() > 0 for k in lora_b)  # B starts at zero: nonzero = trained
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(base, result.run_dir / "adapter", is_trainable=True)
    assert result.trainable_params == sum(w.numel() for w in weights.values())
    assert (result.trainable_params, result.total_params) == model.get_nb_trainable_parameters()


def assert_estimated_alike(result, n_eval: int = 0):
    """The app's estimate before loading (meta device) gives the figures the run computed on its real model."""
    from workbench.training.estimate import estimate_config

    config = load_run_config(result.run_dir)
    ran = json.loads((result.run_dir / "estimate.json").read_text())["estimate"]
    sequences = config.max_steps * config.batch_size * (2 if config.method == "dpo" else 1)
    before = estimate_config(
        config,
        n_train=100,
        mean_tokens=ran["tokens"] / sequences,
        n_eval=n_eval,
        longest_tokens=ran["longest_batch_tokens"] / (sequences // config.max_steps),
    ).as_dict()
    assert (before["trainable_params"], before["total_params"]) == (ran["trainable_params"], ran["total_params"])
    for part, mb in ran["breakdown_mb"].items():
        assert before["breakdown_mb"][part] == pytest.approx(mb, abs=0.2), part
    assert before["seconds"] == pytest.approx(ran["seconds"], rel=0.02)


def test_estimate_before_loading_matches_the_run(sft_run):
    assert_estimated_alike(sft_run[0], n_eval=6)


def test_bf16_lora_keeps_the_frozen_base_in_bf16_and_learns_as_fp32_does(sft_run, tiny_model_dir, tmp_path):
    fp32 = sft_run[0]
    bf16 = train(
        tiny_config(tiny_model_dir, tmp_path, max_steps=6, eval_fraction=0.25, eval_steps=3, precision="bf16"),
        dataset=Dataset.from_list(sft_rows()),
    )
    fp32_parts, bf16_parts = fp32.estimate["breakdown_mb"], bf16.estimate["breakdown_mb"]
    # The estimate counts the real model's parameters: the frozen base is half the bytes, while the adapters
    # (the only weights that train) keep fp32 weights, gradients and Adam moments.
    assert bf16_parts["weights"] < 0.6 * fp32_parts["weights"]
    assert bf16_parts["gradients_and_optimizer"] == fp32_parts["gradients_and_optimizer"]
    fp32_losses, bf16_losses = ([r["loss"] for r in read_metrics(r.run_dir) if "loss" in r] for r in (fp32, bf16))
    assert bf16_losses == pytest.approx(fp32_losses, rel=0.05)
    assert_estimated_alike(bf16, n_eval=6)


def test_estimated_time_counts_the_evaluations(sft_run):
    from workbench.training.estimate import estimate_config

    config = load_run_config(sft_run[0].run_dir)
    without, with_eval = (estimate_config(config, n_train=100, mean_tokens=30, n_eval=n) for n in (0, 60))
    # The Trainer evaluates at the start and every eval_steps: the wait a learner sees includes them, while the
    # tokens trained and the peak (a forward pass without gradients) stay those of training.
    assert with_eval.seconds > without.seconds
    assert (with_eval.tokens, with_eval.peak_memory_mb) == (without.tokens, without.peak_memory_mb)


def test_dpo_lengths_count_the_prompt_and_pad_to_the_longer_answer():
    from workbench.training.estimate import token_lengths

    # TRL 1.x tokenizes preference pairs into prompt_ids + chosen_ids (+ rejected_ids): the model sees both,
    # and a batch pads chosen and rejected to one length.
    pairs = Dataset.from_dict(
        {"prompt_ids": [[1, 2, 3, 4], [1, 2]], "chosen_ids": [[5, 6], [7, 8, 9, 10]], "rejected_ids": [[5], [7] * 9]}
    )
    assert token_lengths(pairs, max_length=64) == (6, 11)
    assert token_lengths(pairs, max_length=8) == (6, 8)


def test_events_carry_step_metrics_and_eta(sft_run):
    _, events = sft_run
    steps = [e for e in events if e["type"] == "step" and "loss" in e["metrics"]]
    assert [e["step"] for e in steps] == [1, 2, 3, 4, 5, 6] and steps[-1]["max_steps"] == 6
    assert steps[-1]["eta_seconds"] == 0 and events[-1]["type"] == "done"


def test_stop_request_ends_cleanly_with_a_loadable_adapter(tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    stop = threading.Event()

    def on_event(event):
        if event["type"] == "step" and event["step"] >= 2:
            stop.set()

    result = train(
        tiny_config(tiny_model_dir, tmp_path, max_steps=50),
        on_event=on_event,
        stop=stop,
        dataset=Dataset.from_list(sft_rows(16)),
    )
    assert result.status == "stopped" and result.steps == 2
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), result.run_dir / "adapter")
    assert model(torch.tensor([[1, 2, 3]])).logits.shape[-1] > 0


def test_nan_loss_stops_with_advice(tiny_model_dir, tmp_path):
    config = tiny_config(tiny_model_dir, tmp_path, learning_rate=1e30, max_steps=6, adaptation="full")
    with pytest.raises(WorkbenchError, match="lower|learning_rate") as info:
        train(config, dataset=Dataset.from_list(sft_rows(16)))
    assert "became" in str(info.value)


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory"),
        RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 GB"),
    ],
    ids=["gpu", "cpu"],
)
def test_out_of_memory_names_the_fixes_and_keeps_the_last_checkpoint(tiny_model_dir, tmp_path, monkeypatch, error):
    from trl import SFTTrainer

    from workbench.workspace.runs import latest_checkpoint

    real_step, calls = SFTTrainer.training_step, []

    def step_then_run_out(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # after the checkpoint at step 2, as a longer batch would
            raise error
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(SFTTrainer, "training_step", step_then_run_out)
    config = tiny_config(tiny_model_dir, tmp_path)
    with pytest.raises(WorkbenchError) as info:
        train(config, dataset=Dataset.from_list(sft_rows(16)))
    message = str(info.value)
    assert all(fix in message for fix in ("qlora", "batch_size", "gradient_checkpointing", "max_length"))
    checkpoint = latest_checkpoint(tmp_path / "runs" / "run")
    assert checkpoint is not None and checkpoint.name == "checkpoint-2"


def test_wrong_kind_of_data_is_refused(tiny_model_dir, tmp_path):
    with pytest.raises(WorkbenchError, match="method: dpo"):
        train(tiny_config(tiny_model_dir, tmp_path), dataset=Dataset.from_list(pref_rows()))
    with pytest.raises(WorkbenchError, match="preference pairs"):
        train(tiny_config(tiny_model_dir, tmp_path, method="dpo", name="dpo"), dataset=Dataset.from_list(sft_rows()))


def test_existing_run_folder_is_not_overwritten(sft_run):
    result, _ = sft_run
    config = load_run_config(result.run_dir)
    with pytest.raises(WorkbenchError, match="already exists"):
        train(config, dataset=Dataset.from_list(sft_rows()))


def test_dpo_lora_logs_rewards(tiny_model_dir, tmp_path):
    result = train(
        tiny_config(tiny_model_dir, tmp_path, method="dpo", max_steps=3, learning_rate=5e-3, lora_dropout=0.1),
        dataset=Dataset.from_list(pref_rows()),
    )
    records = [r for r in read_metrics(result.run_dir) if "rewards/margins" in r]
    assert len(records) == 3 and "rewards/chosen" in records[0] and "rewards/accuracies" in records[0]
    assert records[-1]["rewards/margins"] > records[0]["rewards/margins"]
    assert (result.run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert_estimated_alike(result)  # TRL switches dropout off for DPO: no dropout noise saved


def test_full_fine_tuning_saves_a_model_folder(tiny_model_dir, tmp_path):
    result = train(
        tiny_config(tiny_model_dir, tmp_path, adaptation="full", learning_rate=1e-3, max_steps=3),
        dataset=Dataset.from_list(sft_rows(12)),
    )
    losses = [r["loss"] for r in read_metrics(result.run_dir) if "loss" in r]
    assert losses[-1] < losses[0]
    assert (result.run_dir / "model" / "config.json").is_file() and not (result.run_dir / "adapter").exists()
    assert result.trainable_params == result.total_params


def test_qlora_trains_on_a_4bit_base(tokenizer, tmp_path):
    from workbench.hardware import bitsandbytes_problem

    if bitsandbytes_problem():
        pytest.skip(bitsandbytes_problem())
    from transformers import LlamaConfig, LlamaForCausalLM

    # bitsandbytes quantises in blocks of 64: the tiny model needs dimensions that are multiples of it.
    torch.manual_seed(0)
    folder = tmp_path / "tiny64"
    LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=1,
            num_attention_heads=4,
            num_key_value_heads=2,
            tie_word_embeddings=True,
            pad_token_id=tokenizer.pad_token_id,
        )
    ).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    result = train(
        tiny_config(folder, tmp_path, adaptation="qlora", max_steps=3, precision="bf16"),
        dataset=Dataset.from_list(sft_rows(12)),
    )
    losses = [r["loss"] for r in read_metrics(result.run_dir) if "loss" in r]
    assert losses[-1] < losses[0] and (result.run_dir / "adapter" / "adapter_model.safetensors").is_file()
    # The estimate counts the 4-bit weights unpacked, as PEFT does, not as bitsandbytes stores them (half).
    estimate = json.loads((result.run_dir / "estimate.json").read_text())["estimate"]
    assert (estimate["trainable_params"], estimate["total_params"]) == (result.trainable_params, result.total_params)
    assert_estimated_alike(result)  # 4-bit linears, bf16 adapters (TRL's cast), no bf16 weight copies
