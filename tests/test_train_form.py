"""The Train form is TrainConfig's: its defaults, bounds and help come from the config's fields, it sends the
config a mapping of field values, and a bad value gets the config's own sentence; the sampling sliders are
GenerationSettings'."""

from __future__ import annotations

import dataclasses

import gradio as gr
import pytest
from conftest import TRAIN_FORM

from workbench.errors import WorkbenchError
from workbench.inference.generation import GenerationSettings
from workbench.training.config import TrainConfig, default_lora_alpha
from workbench.ui.train_tab import build_train_tab, form_config

FORM = {"data": "sentiment_json", "upload_path": None, "name": " my-run "} | TRAIN_FORM


def test_the_form_makes_the_config_it_shows():
    config = form_config("m", FORM | {"lora_r": 8.0, "max_steps": 0}, output_dir="out")
    assert (config.name, config.lora_r, config.max_steps, config.output_dir) == ("my-run", 8, -1, "out")
    assert isinstance(config.lora_r, int)


@pytest.mark.parametrize(
    ("change", "words"),
    [({"lora_r": "eight"}, "lora_r = 'eight' should be int"), ({"batch_size": 0}, "batch_size must be > 0")],
)
def test_a_bad_form_value_gets_the_configs_sentence(change, words):
    with pytest.raises(WorkbenchError, match=words):
        form_config("m", FORM | change)


def test_the_form_shows_trainconfigs_defaults_bounds_and_help():
    with gr.Blocks() as app:
        train = build_train_tab(app, "m", gr.Radio(["sentiment_json"]), gr.State(None), gr.State(None))
    defaults = TrainConfig().resolved()
    fields = TrainConfig.__dataclass_fields__
    for name in ("lora_r", "lora_alpha", "batch_size", "max_length", "learning_rate", "method", "adaptation"):
        control = getattr(train, name)
        assert control.value == getattr(defaults, name), name
        if "slider" in fields[name].metadata:
            low, high, step = fields[name].metadata["slider"]
            assert (control.minimum, control.step, control.info) == (low, step, fields[name].metadata["help"]), name
    assert train.lora_alpha.value == default_lora_alpha(train.lora_r.value)
    assert train.method.choices == [("sft", "sft"), ("dpo", "dpo"), ("kto", "kto")]  # GRPO trains through train_grpo


def test_the_form_offers_the_methods_train_runs():
    from workbench.training.config import TRAIN_METHODS
    from workbench.training.pipeline import METHODS

    assert tuple(METHODS) == TRAIN_METHODS


def test_every_slider_offers_only_values_the_config_accepts():
    sliders = {f.name: f.metadata["slider"] for f in dataclasses.fields(TrainConfig) if "slider" in f.metadata}
    assert {"lora_r", "lora_alpha", "epochs", "batch_size", "max_length"} <= set(sliders)
    for name, (low, high, _) in sliders.items():
        TrainConfig(**{name: low}), TrainConfig(**{name: high})  # each raises if its value is out of bounds
    with pytest.raises(WorkbenchError, match="lora_alpha must be > 0"):
        TrainConfig(lora_alpha=0)


def test_the_sampling_sliders_start_at_generation_settings_defaults():
    from workbench.ui.chat_tab import build_chat_tab

    with gr.Blocks():
        build_chat_tab("m", gr.State(None))
        sliders = {b.label: b for b in gr.context.Context.root_block.blocks.values() if isinstance(b, gr.Slider)}
    defaults = GenerationSettings()
    assert sliders["Temperature (0 = greedy)"].value == defaults.temperature
    assert sliders["Max new tokens"].value == defaults.max_new_tokens
    assert (sliders["Top-p"].minimum, sliders["Top-p"].maximum) == GenerationSettings.__dataclass_fields__[
        "top_p"
    ].metadata["slider"][:2]
