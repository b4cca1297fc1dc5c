"""TrainConfig: validation with fixes in the message, YAML presets, --set overrides, resolution from hardware."""

from pathlib import Path

import pytest
import yaml

from workbench.errors import WorkbenchError
from workbench.training.config import TrainConfig, parse_overrides

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_training_preset_loads(path):
    config = TrainConfig.from_yaml(path).resolved()
    assert config.method in ("sft", "dpo", "kto") and config.learning_rate > 0
    if config.adaptation != "full":
        assert config.lora_alpha == 2 * config.lora_r  # the guide's alpha = 2r


@pytest.mark.parametrize("path", sorted((CONFIGS / "accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_every_accelerate_config_parses(path):
    values = yaml.safe_load(path.read_text())
    assert values["distributed_type"] in ("MULTI_CPU", "DEEPSPEED", "FSDP") and values["num_processes"] >= 2


def test_qlora_preset_differs_from_lora_by_the_adaptation_only():
    lora = TrainConfig.from_yaml(CONFIGS / "sft_lora.yaml").to_dict()
    qlora = TrainConfig.from_yaml(CONFIGS / "sft_qlora.yaml").to_dict()
    assert {k for k in lora if lora[k] != qlora[k]} == {"adaptation", "name"}


def test_overrides_are_typed_and_applied(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: x.jsonl\nlearning_rate: 1e-4\n")  # PyYAML reads 1e-4 as a string
    config = TrainConfig.from_yaml(path, ["lora_r=8", "adaptation=qlora", "lora_target_modules=[q_proj, v_proj]"])
    assert config.learning_rate == 1e-4 and config.lora_r == 8 and config.adaptation == "qlora"
    assert config.lora_target_modules == ["q_proj", "v_proj"]
    assert parse_overrides(["gradient_checkpointing=true"]) == {"gradient_checkpointing": True}


@pytest.mark.parametrize(
    "values, words",
    [
        ({"learning_rate": 0}, "learning_rate must be > 0"),
        ({"learning_rate": -1e-4}, "learning_rate must be > 0"),
        ({"max_steps": 0}, "max_steps must be > 0"),
        ({"batch_size": 0}, "batch_size must be > 0"),
        ({"batch_size": "eight"}, "batch_size = 'eight' should be int"),
        ({"adaptation": "qlora4"}, "one of 'full', 'lora', 'qlora'"),
        ({"name": "../escape"}, "plain folder name"),
        ({"name": "a/b"}, "plain folder name"),
        ({"eval_fraction": 1.5}, "eval_fraction"),
    ],
)
def test_invalid_values_are_refused_with_a_fix(values, words):
    with pytest.raises(WorkbenchError, match=words.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**values)


def test_unknown_yaml_key_suggests_the_right_one(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("learnig_rate: 1e-4\n")
    with pytest.raises(WorkbenchError, match="did you mean 'learning_rate'"):
        TrainConfig.from_yaml(path)


def test_defaults_follow_the_guide_and_the_hardware():
    config = TrainConfig(data="x").resolved()
    assert (config.lora_r, config.lora_alpha) == (16, 32)
    assert config.lora_dropout == 0  # the guide says 0.05-0.1; on a CPU its random numbers cost a quarter of a step
    assert config.learning_rate == 2e-4 and TrainConfig(adaptation="full").resolved().learning_rate == 2e-5
    assert config.gradient_checkpointing is False  # CPU: memory is plentiful, compute is not
    assert config.precision in ("bf16", "fp32", "fp16") and config.name.startswith("sft-lora-")


def test_notebook_progress_accepts_a_run_of_events():
    from workbench.training.notebook import live_progress

    on_event = live_progress(plot=False)
    for step in (1, 2):
        on_event({"type": "step", "step": step, "max_steps": 2, "metrics": {"loss": 3.0 / step}, "eta_seconds": 1.0})
    on_event({"type": "done", "run_dir": "x", "status": "completed", "steps": 2, "metrics": {}})
