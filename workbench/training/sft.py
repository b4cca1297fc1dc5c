"""Supervised fine-tuning through TRL's SFTTrainer, with the loss on the answer only.

Same shape as dpo.py: ``method_args(config, loss)`` gives the method's own config fields and
``build_trainer(...)`` builds the trainer; pipeline.py does everything common to both.
"""

from __future__ import annotations

from trl import SFTConfig, SFTTrainer

from workbench.data.masking import LossSettings
from workbench.training.fused_head import score_only_labelled_positions


def method_args(config, loss: LossSettings) -> dict:
    """SFTConfig fields for this run: the length cap, padding-free batches (as plan.batching chose), and which
    tokens the loss counts (from the masking rule)."""
    return {"max_length": config.max_length, "padding_free": bool(config.padding_free), **loss.sft_args()}


def build_trainer(model, tokenizer, training_args: dict, train_dataset, eval_dataset, peft_config, callbacks):
    score_only_labelled_positions()  # the prompt's positions carry no loss: skip their vocabulary projection

    args = SFTConfig(**training_args)
    # TRL refuses padding_free with a max_length unless it packs, and packing would change which examples share
    # a step. So the trainer is built padded (TRL tokenizes and truncates to max_length as usual), then its own
    # collator is switched to padding-free: each batch one row with position ids marking where examples start,
    # which transformers' attention reads as separate sequences.
    padding_free, args.padding_free = args.padding_free, False
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
    trainer.data_collator.padding_free = trainer.args.padding_free = padding_free
    return trainer
