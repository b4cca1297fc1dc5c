"""Baseline: DPO with plain TRL, as TRL's documentation shows (DPOTrainer + PEFT LoraConfig, no ref_model).

    python -m benchmarks.baselines.dpo_trl --precision defaults --steps 5

The sample preference file is already in TRL's conversational prompt/chosen/rejected format. With a
peft_config and no ref_model, TRL's reference is the base with the adapter disabled.
"""

from __future__ import annotations

import argparse

import torch
from datasets import load_dataset
from peft import LoraConfig
from trl import DPOConfig, DPOTrainer

from workbench.models import ensure_default_model

DATA = "data_samples/sentiment_preference.train.jsonl"


def build_trainer(
    adaptation: str, precision: str, steps: int, batch_size: int, max_length: int, output_dir: str
) -> DPOTrainer:
    if adaptation != "lora":
        raise ValueError("the DPO baseline is LoRA only")
    dataset = load_dataset("json", data_files=DATA, split="train")
    extra = {"bf16": False, "gradient_checkpointing": False} if precision == "fp32" else {}
    args = DPOConfig(
        output_dir=output_dir,
        max_length=max_length,
        per_device_train_batch_size=batch_size,
        max_steps=steps,
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        save_strategy="no",
        **extra,
    )
    peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    return DPOTrainer(model=str(ensure_default_model()), args=args, train_dataset=dataset, peft_config=peft_config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precision", choices=["defaults", "fp32"], default="defaults")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--output-dir", default="/tmp/dpo-trl-baseline")
    a = parser.parse_args()
    build_trainer("lora", a.precision, a.steps, a.batch_size, a.max_length, a.output_dir).train()


if __name__ == "__main__":
    main()
