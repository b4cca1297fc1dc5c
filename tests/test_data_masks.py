"""The preview's trained-token marks must equal the labels TRL's own trainers build for the same record."""

from __future__ import annotations

import pytest

from workbench.data import SAMPLES, load_data, loss_labels, loss_settings, preview_record, training_chat_template
from workbench.data.chat_template import SMOLLM2_CHAT_TEMPLATE

CHAT = {
    "messages": [
        {"role": "user", "content": "Rate: great kettle."},
        {"role": "assistant", "content": '{"sentiment": "positive", "stars": 5}'},
    ]
}
MULTI_TURN = {
    "conversations": [
        {"from": "system", "value": "You are terse."},
        {"from": "human", "value": "Convert 2 km to m."},
        {"from": "gpt", "value": "2000 m"},
        {"from": "human", "value": "And to mi?"},
        {"from": "gpt", "value": "1.24 mi"},
    ]
}
ALPACA = {"instruction": "Rate this review.", "input": "Déçu, it broke 😞", "output": '{"stars": 1}'}
PROMPT_COMPLETION = {"prompt": "The capital of France is", "completion": " Paris, a city on the Seine."}
TEXT = {"text": "Once upon a time there was a tiny model."}
PREFERENCE_CHAT = {
    "prompt": [{"role": "user", "content": "Rate: bad lamp."}],
    "chosen": [{"role": "assistant", "content": '{"stars": 1}'}],
    "rejected": [{"role": "assistant", "content": "Well, I think it is quite bad, one star!"}],
}
PREFERENCE_SHAREGPT = {
    "conversations": [{"from": "human", "value": "Rate: fine mouse."}],
    "chosen": {"from": "gpt", "value": '{"stars": 3}'},
    "rejected": {"from": "gpt", "value": "Three stars, I guess."},
}
PREFERENCE_TEXT = {"prompt": "Rate: fine mouse.", "chosen": " 3 stars", "rejected": " no idea"}
KTO_MESSAGES = {  # LLaMA-Factory's KTO files: a conversation, the label on its last answer
    "messages": [
        {"content": "Convert 2 km to m.", "role": "user"},
        {"content": "2000 m", "role": "assistant"},
        {"content": "And to mi?", "role": "user"},
        {"content": "Well, roughly a mile or so!", "role": "assistant"},
    ],
    "label": False,
}
KTO_CHAT = {
    "prompt": [{"role": "user", "content": "Rate: bad lamp."}],
    "completion": [{"role": "assistant", "content": '{"stars": 1}'}],
    "label": True,
}
KTO_TEXT = {"prompt": "Rate: fine mouse.", "completion": " 3 stars", "label": "true"}


@pytest.fixture
def train_tokenizer(tokenizer):
    """The embedded tokenizer with the training template, as the training code sets it up."""
    tok = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tok.chat_template = training_chat_template(tok)
    return tok


def test_training_template_renders_like_the_original(tokenizer):
    assert tokenizer.chat_template == SMOLLM2_CHAT_TEMPLATE
    template = training_chat_template(tokenizer)
    assert template != tokenizer.chat_template and "{% generation %}" in template
    for record in (CHAT, MULTI_TURN, PREFERENCE_CHAT):
        messages = load_data([record]).dataset[0]
        messages = messages.get("messages") or messages["prompt"] + messages["chosen"]
        for generation_prompt in (False, True):
            assert tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=generation_prompt
            ) == tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=generation_prompt, chat_template=template
            )


def _sft_labels(model_dir, tokenizer, record, tmp_path, max_length, assistant_only):
    from trl import SFTConfig, SFTTrainer

    bundle = load_data([record])
    config = SFTConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        report_to="none",
        assistant_only_loss=assistant_only and bundle.kind == "conversational",
        max_length=max_length,
    )
    trainer = SFTTrainer(model=str(model_dir), args=config, train_dataset=bundle.dataset, processing_class=tokenizer)
    batch = trainer.data_collator([trainer.train_dataset[0]])
    return bundle, batch["input_ids"][0].tolist(), batch["labels"][0].tolist()


@pytest.mark.parametrize(
    "record",
    [CHAT, MULTI_TURN, ALPACA, PROMPT_COMPLETION, TEXT],
    ids=["chat", "multi-turn", "alpaca", "prompt-completion", "text"],
)
@pytest.mark.parametrize("cut", [0, 4], ids=["whole", "truncated"])
def test_sft_preview_marks_equal_trainer_labels(record, cut, tiny_model_dir, train_tokenizer, tmp_path):
    # Truncation at 4 tokens before the end cuts into the trained answer, the case a learner must see.
    max_length = preview_record(load_data([record]), train_tokenizer).token_count - cut if cut else None
    bundle, input_ids, labels = _sft_labels(tiny_model_dir, train_tokenizer, record, tmp_path, max_length, True)
    trained = [label != -100 for label in labels]
    preview = preview_record(bundle, train_tokenizer, max_length=max_length)
    (sequence,) = preview.sequences
    kept = [t for t in sequence.tokens if not t.cut]
    assert sequence.cut_count == cut
    assert [t.token_id for t in kept] == input_ids
    assert [t.trained for t in kept] == trained
    assert 0 < preview.trained_token_count == sum(trained)
    assert sequence.text == "".join(text for text, _ in preview.to_highlighted())


def test_whole_sequence_loss_marks_every_token(tiny_model_dir, train_tokenizer, tmp_path):
    bundle, _, labels = _sft_labels(tiny_model_dir, train_tokenizer, MULTI_TURN, tmp_path, None, False)
    trained = [label != -100 for label in labels]
    preview = preview_record(bundle, train_tokenizer, loss_on="all")
    assert all(trained) and preview.sequences[0].trained_mask == trained


@pytest.mark.parametrize(
    "record", [CHAT, MULTI_TURN, ALPACA, PROMPT_COMPLETION], ids=["chat", "multi-turn", "alpaca", "prompt-completion"]
)
@pytest.mark.parametrize("cut", [0, 4], ids=["whole", "truncated"])
def test_evaluation_labels_equal_sft_collator_labels(record, cut, tiny_model_dir, train_tokenizer, tokenizer, tmp_path):
    # Evaluation scores with the base model's own tokenizer (no training template set on it): the masking
    # rule must still give the trainer's labels, the answer and its end-of-turn token and nothing else.
    bundle = load_data([record])
    full = len(loss_labels(bundle.dataset[0], tokenizer)["sequence"][0])
    max_length = full - cut if cut else None
    _, input_ids, labels = _sft_labels(tiny_model_dir, train_tokenizer, record, tmp_path, max_length, True)
    settings = loss_settings(bundle.kind, "answer", tokenizer)
    assert loss_labels(bundle.dataset[0], tokenizer, settings, max_length)["sequence"] == (input_ids, labels)


@pytest.mark.parametrize(
    "record", [PREFERENCE_CHAT, PREFERENCE_SHAREGPT, PREFERENCE_TEXT], ids=["chat", "sharegpt", "strings"]
)
def test_dpo_preview_marks_equal_trainer_completion_mask(record, tiny_model_dir, tokenizer, tmp_path):
    from trl import DPOConfig, DPOTrainer

    bundle = load_data([record])
    config = DPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none", max_length=None)
    trainer = DPOTrainer(
        model=str(tiny_model_dir), args=config, train_dataset=bundle.dataset, processing_class=tokenizer
    )
    batch = trainer.data_collator([trainer.train_dataset[0]])
    preview = preview_record(bundle, tokenizer)
    labels = loss_labels(bundle.dataset[0], tokenizer)
    assert [s.name for s in preview.sequences] == list(labels) == ["chosen", "rejected"]
    for row, sequence in enumerate(preview.sequences):  # the collator stacks chosen rows, then rejected rows
        n = int(batch["attention_mask"][row].sum())
        ids, mask = batch["input_ids"][row][:n].tolist(), batch["completion_mask"][row][:n].bool().tolist()
        assert [t.token_id for t in sequence.tokens] == ids
        assert sequence.trained_mask == mask
        assert labels[sequence.name] == (ids, [i if m else -100 for i, m in zip(ids, mask)])


@pytest.mark.parametrize("record", [KTO_MESSAGES, KTO_CHAT, KTO_TEXT], ids=["llama-factory", "chat", "strings"])
def test_kto_preview_marks_equal_trainer_completion_mask(record, tiny_model_dir, tokenizer, tmp_path):
    from trl import KTOConfig, KTOTrainer

    other = {"prompt": "Another prompt", "completion": "another answer", "label": False}
    bundle = load_data([record, other] if "prompt" in record and isinstance(record["prompt"], str) else [record])
    assert bundle.kind == "kto"
    dataset = bundle.dataset.select([0, 0])  # KTO's KL estimate needs two rows a batch
    config = KTOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none", max_length=None)
    trainer = KTOTrainer(model=str(tiny_model_dir), args=config, train_dataset=dataset, processing_class=tokenizer)
    batch = trainer.data_collator([trainer.train_dataset[0]])
    preview = preview_record(bundle, tokenizer)
    labels = loss_labels(bundle.dataset[0], tokenizer)
    (sequence,) = preview.sequences
    n = int(batch["attention_mask"][0].sum())
    ids, mask = batch["input_ids"][0][:n].tolist(), batch["completion_mask"][0][:n].bool().tolist()
    assert [t.token_id for t in sequence.tokens] == ids and sequence.trained_mask == mask
    assert labels["sequence"] == (ids, [i if m else -100 for i, m in zip(ids, mask)])
    assert preview.loss == "KTO scores the answer, marked good or bad, not the prompt"


def test_sample_files_feed_both_trainers(tiny_model_dir, train_tokenizer, tokenizer, tmp_path):
    """Each sample's train file becomes trainer input without a single dropped record."""
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    for sample in SAMPLES.values():
        bundle = load_data(sample.train_path)
        assert bundle.report.issues == [] and bundle.kind == sample.kind
        subset = bundle.dataset.select(range(8))
        if sample.kind == "preference":
            trainer = DPOTrainer(
                model=str(tiny_model_dir),
                train_dataset=subset,
                processing_class=tokenizer,
                args=DPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none"),
            )
            assert {"prompt_ids", "chosen_ids", "rejected_ids"} <= set(trainer.train_dataset.column_names)
        else:
            trainer = SFTTrainer(
                model=str(tiny_model_dir),
                train_dataset=subset,
                processing_class=train_tokenizer,
                args=SFTConfig(
                    output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none", assistant_only_loss=True
                ),
            )
            assert len(trainer.train_dataset) == 8
