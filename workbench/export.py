"""Merge a run's LoRA adapter into its base and save a standalone safetensors model that plain transformers loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from workbench.atomic import staged_dir
from workbench.compare import ModelBench
from workbench.errors import WorkbenchError
from workbench.hardware import Precision, choose_precision
from workbench.models import load_model
from workbench.training.runs import MODEL_DIR, adapter_base_name, adapter_dir, find_run_config, is_full_run


def export_merged(run_dir: str | Path, out_dir: str | Path, overwrite: bool = False) -> list[str]:
    """Write base + adapter as one model (weights W + scale * B @ A) and its tokenizer into ``out_dir``.

    The base is always loaded in full precision for the merge. An adapter trained on a 4-bit base (QLoRA)
    learned its correction against the de-quantized 4-bit weights, not these: the merged model is close to,
    not exactly, what was trained; the returned notes say so. A full fine-tuning run is copied as it is.

    Example:
        >>> export_merged("runs/sft-json", "exports/sft-json")
        >>> AutoModelForCausalLM.from_pretrained("exports/sft-json")
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise WorkbenchError(f"{out_dir} exists and is not empty: choose another folder or pass overwrite")
    notes: list[str] = []
    # A half-written export never appears under the requested name.
    with staged_dir(out_dir) as tmp:
        if is_full_run(run_dir):
            shutil.copytree(run_dir / MODEL_DIR, tmp, dirs_exist_ok=True)
            notes.append(f"a full fine-tuning run: its {MODEL_DIR}/ folder is already standalone and was copied")
        else:
            folder = adapter_dir(run_dir)
            config = find_run_config(run_dir)
            if config is not None and config.adaptation == "qlora":
                notes.append(
                    "the adapter was trained on a 4-bit base; it is merged into full-precision base weights, so "
                    "the merged model's outputs differ slightly from base(4-bit) + adapter"
                )
            # Full precision on every device: merging into half-precision weights would round the update away.
            precision = Precision(choose_precision().device, torch.float32, "full precision for an exact merge")
            bench = ModelBench(load_model(adapter_base_name(folder), precision=precision))
            name = bench.add_adapter(folder)
            merged = bench.model.merge_and_unload(adapter_names=[name])
            merged.save_pretrained(tmp, safe_serialization=True)
            bench.tokenizer.save_pretrained(tmp)
    return notes
