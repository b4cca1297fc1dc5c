"""Direct preference optimisation through TRL's DPOTrainer.

With LoRA/QLoRA the reference model is the same network with its adapter switched off (TRL does this
when ``ref_model`` is None and the model gets a ``peft_config``): no second copy of the model in memory.
Same shape as sft.py.
"""

from __future__ import annotations

from trl import DPOConfig, DPOTrainer

from workbench.data.masking import LossSettings
from workbench.training.fused_head import score_only_labelled_positions


def method_args(config, loss: LossSettings) -> dict:
    """DPOConfig fields for this run (DPO always scores the answers only, whatever ``loss`` says for SFT)."""
    return {"max_length": config.max_length, "beta": config.beta}


def build_trainer(model, tokenizer, training_args: dict, train_dataset, eval_dataset, peft_config, callbacks):
    score_only_labelled_positions()  # the prompt's positions carry no loss: skip their vocabulary projection

    return DPOTrainer(
        model=model,
        ref_model=None,  # adapter disabled = reference (full fine-tuning: TRL makes a frozen copy)
        args=DPOConfig(**training_args),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
