"""Baseline: supervised fine-tuning with plain TRL, as TRL's documentation shows (SFTTrainer + PEFT LoraConfig).

    python -m benchmarks.baselines.sft_trl --adaptation lora --precision defaults --steps 10

Same model (the embedded model's converted folder), data, max_length, batch and steps as the workbench run
it is compared with. ``--precision defaults`` keeps TRL's defaults (bf16 autocast, gradient checkpointing);
``fp32`` forces full precision without checkpointing, the fastest plain setting on CPUs without native bf16.
``use_cpu=True`` is needed on a machine without a GPU: TRL's bf16 default refuses to build otherwise.
"""

from __future__ import annotations

import argparse

import torch
from datasets import load_dataset
from peft import LoraConfig
from transformers import BitsAndBytesConfig
from trl import SFTConfig, SFTTrainer

from workbench.models import ensure_default_model

DATA = "data_samples/sentiment_json.train.jsonl"


def to_prompt_completion(record: dict) -> dict:
    """The sample's instruction/input/output records as TRL's conversational prompt-completion format."""
    return {
        "prompt": [{"role": "user", "content": f"{record['instruction']}\n\n{record['input']}"}],
        "completion": [{"role": "assistant", "content": record["output"]}],
    }


def build_trainer(
    adaptation: str, precision: str, steps: int, batch_size: int, max_length: int, output_dir: str
) -> SFTTrainer:
    dataset = load_dataset("json", data_files=DATA, split="train")
    dataset = dataset.map(to_prompt_completion, remove_columns=dataset.column_names)
    fp32 = precision == "fp32"
    extra = {"bf16": False, "gradient_checkpointing": False} if fp32 else {}
    model_init_kwargs = {}
    if adaptation == "qlora":
        model_init_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.float32 if fp32 else torch.bfloat16,
        )
    args = SFTConfig(
        output_dir=output_dir,
        max_length=max_length,
        per_device_train_batch_size=batch_size,
        max_steps=steps,
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        save_strategy="no",
        model_init_kwargs=model_init_kwargs or None,
        **extra,
    )
    peft_config = None
    if adaptation in ("lora", "qlora"):
        peft_config = LoraConfig(
            r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"
        )
    return SFTTrainer(model=str(ensure_default_model()), args=args, train_dataset=dataset, peft_config=peft_config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adaptation", choices=["lora", "qlora", "full"], default="lora")
    parser.add_argument("--precision", choices=["defaults", "fp32"], default="defaults")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--output-dir", default="/tmp/sft-trl-baseline")
    a = parser.parse_args()
    build_trainer(a.adaptation, a.precision, a.steps, a.batch_size, a.max_length, a.output_dir).train()


if __name__ == "__main__":
    main()
