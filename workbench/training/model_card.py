"""The run's README.md: what was trained, on what, how, with what result, and how to load it."""

from __future__ import annotations

import platform
import re
from pathlib import Path
from typing import Any

import peft
import torch
import transformers
import trl

from workbench.atomic import atomic_write_text
from workbench.workspace.runs import ADAPTER_DIR, CARD_FILE, MODEL_DIR

# An absolute path (POSIX, ~, or a Windows drive) where a card shows a value: after a space, a quote, a backtick,
# a bracket or "=", up to the next such character.
_LOCAL_PATH = re.compile(r"""(?<![^\s`'"(\[=])(?:~|[A-Za-z]:)?[/\\]+(?=[^\s/\\])[^\s`'"()\[\]|,;]*""")


def portable(text: str) -> str:
    """``text`` with each absolute local path cut to its last part: a card is read on other machines (and on the
    Hub), where this machine's folders mean nothing and its user and folder names are nobody's business.

    Example:
        >>> portable("Data: `/home/ana/work/reviews.jsonl`")
        'Data: `reviews.jsonl`'
    """
    return _LOCAL_PATH.sub(lambda found: re.split(r"[/\\]+", found.group().rstrip("/\\"))[-1], text)


def _run_path(run_dir: Path) -> str:
    """The run folder as a reader types it: as given when relative, else ``<runs folder>/<run>``."""
    return str(run_dir if not run_dir.is_absolute() else Path(run_dir.parent.name, run_dir.name))


def write_model_card(run_dir: Path, config, info: dict[str, Any]) -> Path:
    final = info.get("final_metrics", {})
    estimate = info.get("estimate", {})
    measured = info.get("measured", {})
    weights = MODEL_DIR if config.adaptation == "full" else ADAPTER_DIR
    weights_path = f"{_run_path(run_dir)}/{weights}"
    quant = f", quantization={config.base_quantization()!r}" if config.base_quantization() else ""
    if config.adaptation == "full":
        how = f"```python\nimport workbench\nlm = workbench.load_model({weights_path!r})\n```"
    else:
        how = (
            "```python\nimport workbench\nfrom peft import PeftModel\n\n"
            f"lm = workbench.load_model({config.model!r}{quant})\n"
            f"model = PeftModel.from_pretrained(lm.model, {weights_path!r})\n"
            'print(workbench.chat(model, lm.tokenizer, "Hello!"))\n```'
        )
    # GRPO keeps no checkpoints (training.grpo): there is nothing to resume from.
    resume = (
        ""
        if config.method == "grpo"
        else f"\nContinue training from the last checkpoint with `workbench train --resume {_run_path(run_dir)}`.\n"
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
    atomic_write_text(path, portable(text))
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
