"""What a run will build, decided once from its config: the PEFT adapter config and the number of steps.

Training (run.py) and the estimate shown before training (estimate.py) both read these, so the estimate
counts the adapter and the steps that training really uses (as TRL keeps ``get_peft_config`` in one place).
"""

from __future__ import annotations

import math


def lora_config(config):
    """The ``peft.LoraConfig`` of a LoRA or QLoRA run (None for full fine-tuning)."""
    if config.adaptation == "full":
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def planned_steps(config, n_train: int, world: int) -> int:
    """Optimizer steps the run will take: ``max_steps``, or the epochs over ``n_train`` examples."""
    if config.max_steps > 0:
        return config.max_steps
    per_epoch = math.ceil(n_train / (config.batch_size * world)) // config.gradient_accumulation
    return max(1, math.ceil(max(per_epoch, 1) * config.epochs))
