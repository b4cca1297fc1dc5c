"""The run's README.md: what was trained, on what, how, with what result, and how to load it."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import peft
import torch
import transformers
import trl

from workbench.atomic import atomic_write_text
from workbench.workspace.runs import ADAPTER_DIR, CARD_FILE, MODEL_DIR


def write_model_card(run_dir: Path, config, info: dict[str, Any]) -> Path:
    final = info.get("final_metrics", {})
    estimate = info.get("estimate", {})
    measured = info.get("measured", {})
    weights = MODEL_DIR if config.adaptation == "full" else ADAPTER_DIR
    quant = f", quantization={config.base_quantization()!r}" if config.base_quantization() else ""
    if config.adaptation == "full":
        how = f"```python\nimport workbench\nlm = workbench.load_model({str(run_dir / MODEL_DIR)!r})\n```"
    else:
        how = (
            "```python\nimport workbench\nfrom peft import PeftModel\n\n"
            f"lm = workbench.load_model({config.model!r}{quant})\n"
            f"model = PeftModel.from_pretrained(lm.model, {str(run_dir / ADAPTER_DIR)!r})\n"
            'print(workbench.chat(model, lm.tokenizer, "Hello!"))\n```'
        )
    # GRPO keeps no checkpoints (training.grpo): there is nothing to resume from.
    resume = (
        ""
        if config.method == "grpo"
        else f"\nContinue training from the last checkpoint with `workbench train --resume {run_dir}`.\n"
    )
    lora = (
        ""
        if config.adaptation == "full"
        else f" (r={config.lora_r}, alpha={config.lora_alpha}, dropout={config.lora_dropout}, "
        f"targets={config.lora_target_modules})"
    )
    data = (
        f"{info.get('data_kind')}, {info.get('train_examples')} training / {info.get('eval_examples')} eval examples, "
        f"sha256 prefix `{info.get('data_hash')}`"
    )
    versions = (
        f"Python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, "
        f"trl {trl.__version__}, peft {peft.__version__}"
    )
    hyper = "\n".join(f"| {k} | {v} |" for k, v in config.to_dict().items())
    metrics = "\n".join(f"| {k} | {_fmt(v)} |" for k, v in final.items()) or "| (none logged) | |"
    text = f"""# {config.name}

{config.method.upper()} fine-tune ({config.adaptation}) of `{config.model}`, made with the Fine-tuning Workbench.
{info.get("status_line", "")}

- **Base model:** `{config.model}` ({info.get("model_source", "")})
- **Method:** {config.method.upper()} with {config.adaptation.upper()}{lora}
- **Data:** `{config.data}` ({data})
- **Trainable parameters:** {info.get("trainable_params", 0):,} of {info.get("total_params", 0):,}
- **Steps:** {info.get("steps")} in {measured.get("seconds", 0):.0f} s
- **Weights:** `{weights}/`

## Final metrics

| metric | value |
|---|---|
{metrics}

{_estimate_section(estimate, measured)}## Hyperparameters

| field | value |
|---|---|
{hyper}

## Environment

{info.get("device", "")} / {config.precision}; {versions}; {info.get("world_size", 1)} process(es).

## How to load it

{how}
{resume}"""
    path = run_dir / CARD_FILE
    atomic_write_text(path, text)
    return path


def _estimate_section(estimate: dict[str, Any], measured: dict[str, Any]) -> str:
    """The estimate-vs-measurement table; runs without an estimate (GRPO) show what was measured."""
    if not estimate:
        return f"## Measured\n\npeak memory {measured.get('peak_memory_mb', '?')} MB\n\n"
    rows = [("peak memory (MB)", "peak_memory_mb"), ("time (s)", "seconds"), ("tokens/s", "tokens_per_second")]
    table = "\n".join(f"| {label} | {estimate.get(key, '?')} | {measured.get(key, '?')} |" for label, key in rows)
    return f"## Estimate vs measurement\n\n| | estimated | measured |\n|---|---|---|\n{table}\n\n"


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
