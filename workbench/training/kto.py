"""Kahneman-Tversky optimisation through TRL's KTOTrainer: learn from single answers marked good or bad.

A thumbs up or down is all KTO needs (no pair of answers to the same prompt): each row is a prompt, one answer
and a label. The loss pushes the good answers' likelihood up and the bad ones' down, relative to the reference
model and to a KL estimate taken from the batch's other answers (so a batch holds at least two rows:
config.MIN_BATCH_SIZE). With LoRA/QLoRA the reference is the same network with its adapter switched off, as in
dpo.py. Same shape as sft.py.
"""

from __future__ import annotations

from trl import KTOConfig, KTOTrainer

from workbench.data.masking import LossSettings
from workbench.training.fused_head import score_only_labelled_positions


def method_args(config, loss: LossSettings) -> dict:
    """KTOConfig fields for this run (KTO always scores the answer only, whatever ``loss`` says for SFT)."""
    return {"max_length": config.max_length, "beta": config.beta}


def build_trainer(model, tokenizer, training_args: dict, train_dataset, eval_dataset, peft_config, callbacks):
    score_only_labelled_positions()  # the prompt's positions carry no loss: skip their vocabulary projection

    # KTOTrainer reads its rows in file order (its KL estimate pairs neighbours in a batch), and thumbs arrive in
    # runs (a conversation's answers, a session of thumbs down): one seeded shuffle mixes them, as SFT and DPO do.
    train_dataset = train_dataset.shuffle(seed=training_args["seed"])
    return KTOTrainer(
        model=model,
        ref_model=None,  # adapter disabled = reference (full fine-tuning: TRL makes a frozen copy)
        args=KTOConfig(**training_args),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=callbacks,
    )
