"""Side-by-side comparison: one base, named adapters, batched and sequential answers that agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from workbench import WorkbenchError, load_model
from workbench.inference.adapter_batch import PEFT_BASE, can_share_a_batch, per_row_adapters
from workbench.inference.bench import ModelBench, adapter_dir
from workbench.inference.generation import GenerationSettings, chat

GREEDY = GenerationSettings(max_new_tokens=8, temperature=0)
SAMPLED = GenerationSettings(max_new_tokens=8, temperature=1.0, top_p=0.95, seed=7)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model_dir, make_adapter_run) -> list[Path]:
    root = tmp_path_factory.mktemp("runs")
    return [make_adapter_run(root / name, tiny_model_dir, seed) for name, seed in (("run-a", 1), ("run-b", 2))]


@pytest.fixture(scope="module")
def bench(runs) -> ModelBench:
    return ModelBench.from_adapters(runs)


def test_base_is_loaded_once_for_every_side(runs, monkeypatch):
    from transformers import AutoModelForCausalLM

    calls = []
    original = AutoModelForCausalLM.from_pretrained.__func__
    monkeypatch.setattr(
        AutoModelForCausalLM,
        "from_pretrained",
        classmethod(lambda cls, *a, **k: calls.append(a) or original(cls, *a, **k)),
    )
    bench = ModelBench.from_adapters(runs)
    bench.side_by_side("hello", settings=GREEDY)
    bench.side_by_side("hello", sides=["base"], settings=GREEDY)
    assert len(calls) == 1
    assert bench.sides == ["base", "run-a", "run-b"]


def test_adapters_change_the_answer_and_base_matches_the_plain_model(bench, tiny_model_dir):
    plain = load_model(str(tiny_model_dir))
    for settings in (GREEDY, SAMPLED):
        expected_base = chat(plain.model, plain.tokenizer, "Tell me a story", settings)
        answers = bench.side_by_side("Tell me a story", settings=settings)
        assert answers["base"] == expected_base, settings
        assert answers["run-a"] != answers["base"] and answers["run-b"] != answers["base"]
        assert answers["run-a"] != answers["run-b"]


def test_batched_and_sequential_sides_agree_per_side(bench):
    batched = bench.side_by_side("Name a color", settings=SAMPLED)
    one_by_one = {
        side: bench.side_by_side("Name a color", sides=[side], settings=SAMPLED)[side] for side in bench.sides
    }
    assert batched == one_by_one


def test_one_batch_gives_each_row_its_own_adapter_as_peft_does(bench):
    inputs = bench.tokenizer(["Name a color"] * 4, return_tensors="pt")
    names = [PEFT_BASE, "run-a", "run-b", "run-a"]
    with torch.inference_mode():
        expected = bench.model(**inputs, adapter_names=names).logits  # PEFT's own mixed-adapter batch
        with per_row_adapters(bench.model, names):
            got = bench.model(**inputs).logits
    between_sides = (expected[1] - expected[0]).abs().max()
    assert (got - expected).abs().max() < 0.02 * between_sides, "a row answered with another side's adapter"
    assert bench.model.active_adapters and not any(
        m.disable_adapters for m in bench.model.modules() if hasattr(m, "lora_A")
    )


def test_adapters_that_are_not_plain_lora_still_answer_side_by_side(runs, tiny_model_dir, tmp_path, make_adapter_run):
    dora = make_adapter_run(tmp_path / "run-dora", tiny_model_dir, seed=5, use_dora=True)
    bench = ModelBench.from_adapters([runs[0], dora])
    assert can_share_a_batch(bench.model, [PEFT_BASE, "run-a"])
    assert not can_share_a_batch(bench.model, [PEFT_BASE, "run-a", "run-dora"])  # DoRA: one side after another
    batched = bench.side_by_side("Name a color", settings=SAMPLED)
    assert batched == {
        side: bench.side_by_side("Name a color", sides=[side], settings=SAMPLED)[side] for side in bench.sides
    }


def test_streaming_grows_each_side_and_multi_turn_histories_differ_per_side(bench):
    histories = {
        "base": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "more"},
        ],
        "run-a": [{"role": "user", "content": "a much longer first question about colors"}],
    }
    updates = list(bench.stream_side_by_side(histories, sides=["base", "run-a"], settings=GREEDY))
    assert len(updates) > 1 and set(updates[-1]) == {"base", "run-a"}
    assert all(updates[i + 1]["base"].startswith(updates[i]["base"]) for i in range(len(updates) - 1))
    # A left-padded row answers as it would alone.
    alone = bench.side_by_side(histories["run-a"], sides=["run-a"], settings=GREEDY)
    assert updates[-1]["run-a"].strip() == alone["run-a"]


def test_adapter_of_another_base_is_refused_clearly(bench, runs, tmp_path, tokenizer, make_adapter_run):
    from conftest import build_tiny_model

    other = build_tiny_model(tmp_path / "wider", tokenizer, head_dim=16)
    foreign = make_adapter_run(tmp_path / "foreign", other, seed=3)
    with pytest.raises(WorkbenchError, match="trained on"):
        bench.add_adapter(foreign)
    # Same name, different shapes (the base folder was replaced): still a sentence, not a traceback.
    config_path = foreign / "adapter" / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = bench.base.name
    config_path.write_text(json.dumps(config))
    with pytest.raises(WorkbenchError, match="does not fit"):
        bench.add_adapter(foreign)
    assert bench.sides == ["base", "run-a", "run-b"]


def test_only_safetensors_adapters_and_unknown_sides(bench, runs, tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    (tmp_path / "adapter_model.bin").write_bytes(b"")
    with pytest.raises(WorkbenchError, match="safetensors"):
        adapter_dir(tmp_path)
    assert adapter_dir(runs[0]) == runs[0] / "adapter"
    with pytest.raises(WorkbenchError, match="unknown side"):
        bench.side_by_side("hi", sides=["base", "nope"], settings=GREEDY)
