"""Which tokens the loss counts: one rule, used by the trainer's configuration, the token preview and evaluation.

The rule follows TRL's trainers (SFTTrainer's tokenize step and DPOTrainer's and KTOTrainer's prompt/completion
split, read from trl 1.16), and the tests compare it with the labels the real trainers produce:

- conversations: the assistant's answers and their end-of-turn token (SFT with ``loss_on: answer``);
- prompt + completion: the completion and the EOS TRL appends (the prompt is context);
- plain text, or ``loss_on: all``: every token;
- preference pairs: DPO scores the chosen and rejected answers, never the prompt;
- KTO rows: the one answer, marked good or bad, never the prompt.

:func:`loss_settings` turns a run's data kind and ``loss_on`` into the trainer's fields; :func:`tokenize_for_training`
applies the same settings to one record; :func:`loss_labels` gives the labels a loss is computed on.
"""

from __future__ import annotations

from dataclasses import dataclass

from trl.data_utils import common_prefix_length

from workbench.data.chat_template import training_chat_template
from workbench.data.formats import record_kind
from workbench.errors import WorkbenchError

IGNORE = -100  # the label PyTorch's cross-entropy (and so every trainer) skips


@dataclass(frozen=True)
class LossSettings:
    """How a run masks its loss: the SFTConfig fields, and the chat template training must render with."""

    assistant_only_loss: bool = False
    completion_only_loss: bool = True
    chat_template: str | None = None  # set on the tokenizer before the trainer tokenizes, when not None
    note: str = ""  # said to the user where the rule had to fall back

    def sft_args(self) -> dict[str, bool]:
        return {"assistant_only_loss": self.assistant_only_loss, "completion_only_loss": self.completion_only_loss}


def loss_settings(kind: str, loss_on: str, tokenizer) -> LossSettings:
    """The masking a run of ``kind`` data with ``loss_on`` ("answer" or "all") trains with.

    TRL finds the assistant's tokens through ``{% generation %}`` markers, which SmolLM2's own template lacks:
    conversations then train with a marked copy that renders the same text.
    """
    if loss_on == "all" or kind == "text":
        return LossSettings(completion_only_loss=False)
    if kind != "conversational":  # prompt + completion, preference pairs and KTO rows (always without the prompt)
        return LossSettings()
    try:
        return LossSettings(assistant_only_loss=True, chat_template=training_chat_template(tokenizer))
    except WorkbenchError as exc:
        return LossSettings(completion_only_loss=False, note=f"{exc}; training on every token instead")


def _with_eos(text: str, eos: str) -> str:
    # TRL appends EOS to non-conversational completions and text, so the model learns to stop.
    return text if text.endswith(eos) else text + eos


def tokenize_for_training(
    record: dict, tokenizer, settings: LossSettings | None = None
) -> list[tuple[str, str, list[int], list[int]]]:
    """``[(name, text, input_ids, loss_mask)]`` for a normalized record, as SFTTrainer/DPOTrainer tokenize it.

    ``settings`` default to the answer-only rule for the record's kind. Preference records give two sequences
    (chosen, rejected); the others one ("sequence").
    """
    kind = record_kind(record)
    settings = settings or loss_settings(kind, "answer", tokenizer)
    if kind == "conversational":
        template = settings.chat_template if settings.assistant_only_loss else None
        out = tokenizer.apply_chat_template(
            record["messages"],
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=settings.assistant_only_loss,
            chat_template=template,
        )
        ids = list(out["input_ids"])
        mask = list(out["assistant_masks"]) if settings.assistant_only_loss else [1] * len(ids)
        text = tokenizer.apply_chat_template(record["messages"], tokenize=False, chat_template=template)
        return [("sequence", text, ids, mask)]
    if kind == "text":
        text = _with_eos(record["text"], tokenizer.eos_token)
        ids = tokenizer(text=text)["input_ids"]
        return [("sequence", text, ids, [1] * len(ids))]
    if kind == "prompt_completion":
        text = record["prompt"] + _with_eos(record["completion"], tokenizer.eos_token)
        prompt_ids = tokenizer(text=record["prompt"])["input_ids"]
        ids = tokenizer(text=text)["input_ids"]
        n = common_prefix_length(prompt_ids, ids) if settings.completion_only_loss else 0
        return [("sequence", text, ids, [0] * n + [1] * (len(ids) - n))]
    if kind == "kto":
        return [("sequence", *rest) for _, *rest in _tokenize_answers(record, tokenizer, ("completion",))]
    return _tokenize_answers(record, tokenizer, ("chosen", "rejected"))


def _tokenize_answers(record: dict, tokenizer, answers: tuple[str, ...]) -> list[tuple[str, str, list[int], list[int]]]:
    """The prompt followed by each answer, the answers' tokens trained: DPOTrainer's and KTOTrainer's split."""
    prompt = record["prompt"]
    if isinstance(prompt, list):
        # DPO and KTO render with the tokenizer's own template (no training template: no markers needed).
        prompt_ids = tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, return_dict=True)[
            "input_ids"
        ]
        texts = {k: tokenizer.apply_chat_template(prompt + record[k], tokenize=False) for k in answers}
        full = {
            k: list(tokenizer.apply_chat_template(prompt + record[k], tokenize=True, return_dict=True)["input_ids"])
            for k in texts
        }
    else:
        prompt_ids = tokenizer(text=prompt)["input_ids"]
        texts = {k: prompt + _with_eos(record[k], tokenizer.eos_token) for k in answers}
        full = {k: tokenizer(text=t)["input_ids"] for k, t in texts.items()}
    # As in the trainers: the completion starts where prompt and prompt+answer diverge (DPO: for both answers).
    n = min(common_prefix_length(prompt_ids, ids) for ids in full.values())
    return [(k, texts[k], full[k], [0] * n + [1] * (len(full[k]) - n)) for k in answers]


def loss_labels(
    record: dict, tokenizer, settings: LossSettings | None = None, max_length: int | None = None
) -> dict[str, tuple[list[int], list[int]]]:
    """``{name: (input_ids, labels)}``: labels are the ids where the loss counts, :data:`IGNORE` elsewhere.

    ``max_length`` truncates as the trainers do (from the end), so a loss computed on these labels is the
    trainer's loss on the same record.
    """
    out = {}
    for name, _text, ids, mask in tokenize_for_training(record, tokenizer, settings):
        ids, mask = ids[:max_length], mask[:max_length]
        out[name] = (ids, [i if m else IGNORE for i, m in zip(ids, mask)])
    return out
