"""How SFT batches are built (issue #23): padding-free batches give the padded ones' losses, plan.batching's rule,
and the attention it chooses reaching the model."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import tiny_config
from datasets import Dataset
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from workbench.training import read_metrics, train


def uneven_rows(n=16):
    """Prompts of 1 to 12 words: padded batches of these carry many pad tokens."""
    return [
        {
            "messages": [
                {"role": "user", "content": "Label " + " ".join(["word"] * (1 + i % 12))},
                {"role": "assistant", "content": f'{{"label": "{"yes" if i % 2 else "no"}"}}'},
            ]
        }
        for i in range(n)
    ]


def test_padding_free_batches_give_the_padded_losses(tiny_model_dir, tmp_path, monkeypatch):
    shapes: dict[bool, list[tuple[int, ...]]] = {True: [], False: []}
    collate = DataCollatorForLanguageModeling.torch_call

    def spy(self, examples):
        batch = collate(self, examples)
        shapes[self.padding_free].append(tuple(batch["input_ids"].shape))
        return batch

    monkeypatch.setattr(DataCollatorForLanguageModeling, "torch_call", spy)
    losses = {}
    for padding_free in (True, False):
        config = tiny_config(tiny_model_dir, tmp_path / str(padding_free), max_steps=3, padding_free=padding_free)
        result = train(config, dataset=Dataset.from_list(uneven_rows()))
        losses[padding_free] = [r["loss"] for r in read_metrics(result.run_dir) if "loss" in r]

    # Padded: a row per example, padded to the longest; padding-free: one row holding just the examples' tokens.
    assert shapes[False] and all(rows == 4 for rows, _ in shapes[False])
    assert shapes[True] and all(rows == 1 for rows, _ in shapes[True])
    assert sum(length for _, length in shapes[True]) < sum(rows * length for rows, length in shapes[False])
    # Attention must not reach across examples: were it to, the losses would differ.
    assert len(losses[True]) == 3 and losses[True] == pytest.approx(losses[False], rel=1e-4)


def test_short_examples_train_padded_with_eager_attention_on_a_cpu(tiny_model_dir, tmp_path):
    from workbench.training.plan import SHORT_EXAMPLE_TOKENS, batching

    config = tiny_config(tiny_model_dir, tmp_path)  # padding_free None: chosen from the data
    assert batching(config, SHORT_EXAMPLE_TOKENS, "cpu") == (False, "eager")
    assert batching(config, SHORT_EXAMPLE_TOKENS + 1, "cpu") == (True, "sdpa")
    assert batching(config, 40, "cuda") == (True, "sdpa")
    assert batching(dataclasses.replace(config, padding_free=True), 40, "cpu") == (True, "sdpa")
    assert batching(dataclasses.replace(config, batch_size=1), 400, "cpu") == (False, "sdpa")  # nothing to save
    assert batching(dataclasses.replace(config, method="dpo"), 400, "cpu") == (False, "sdpa")  # TRL's DPO has none


def test_the_chosen_attention_reaches_the_model(tiny_model_dir, tmp_path, monkeypatch):
    from transformers import PreTrainedModel

    chosen = []
    set_attention = PreTrainedModel.set_attn_implementation
    monkeypatch.setattr(
        PreTrainedModel,
        "set_attn_implementation",
        lambda self, name, **kw: (chosen.append(name), set_attention(self, name, **kw))[1],
    )
    events = []
    train(
        tiny_config(tiny_model_dir, tmp_path, max_steps=1),
        on_event=events.append,
        dataset=Dataset.from_list(uneven_rows()),
    )
    assert chosen == ["eager"]
    assert any("batches padded, eager attention" in e.get("message", "") for e in events)
