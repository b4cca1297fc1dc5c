"""Supervised fine-tuning through TRL's SFTTrainer, with the loss on the answer only.

Same shape as dpo.py: ``method_args(config, kind)`` gives the method's own config fields and
``build_trainer(...)`` builds the trainer; run.py does everything common to both.
"""

from __future__ import annotations

from workbench.training.data_input import training_template
from workbench.training.fused_head import score_only_labelled_positions


def method_args(config, kind: str, tokenizer) -> tuple[dict, list[str]]:
    """(SFTConfig fields for this run, notes for the user)."""
    notes: list[str] = []
    args: dict = {"max_length": config.max_length, "completion_only_loss": None, "assistant_only_loss": False}
    if config.loss_on == "all":
        args["completion_only_loss"] = False
    elif kind == "prompt_completion":
        args["completion_only_loss"] = True  # the prompt's tokens are context, not something to learn
    elif kind == "conversational":
        template = training_template(tokenizer)
        if template:
            # TRL finds the assistant's tokens through {% generation %} markers, which SmolLM2's own template lacks.
            tokenizer.chat_template = template
            args["assistant_only_loss"] = True
        else:
            notes.append("no chat template with generation markers available: training on every token")
    return args, notes


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
