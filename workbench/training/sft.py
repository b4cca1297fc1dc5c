"""Supervised fine-tuning through TRL's SFTTrainer, with the loss on the answer only.

Same shape as dpo.py: ``method_args(config, loss)`` gives the method's own config fields and
``build_trainer(...)`` builds the trainer; pipeline.py does everything common to both.
"""

from __future__ import annotations

from workbench.data.masking import LossSettings
from workbench.training.fused_head import score_only_labelled_positions


def method_args(config, loss: LossSettings) -> dict:
    """SFTConfig fields for this run: the length cap and which tokens the loss counts (from the masking rule)."""
    return {"max_length": config.max_length, **loss.sft_args()}


def build_trainer(model, tokenizer, training_args: dict, train_dataset, eval_dataset, peft_config, callbacks):
    from trl import SFTConfig, SFTTrainer

    score_only_labelled_positions()  # the prompt's positions carry no loss: skip their vocabulary projection

    return SFTTrainer(
        model=model,
        args=SFTConfig(**training_args),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
