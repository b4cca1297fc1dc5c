"""Take a trained run out of the workbench: a merged safetensors model, or a GGUF file with an Ollama Modelfile.

Both start the same way: the run's LoRA adapter is added into its base weights (W + scale * B @ A) and saved as
a standalone model. The safetensors export stops there; the GGUF export converts that model
(:mod:`workbench.export.gguf_export`) and writes a Modelfile (:mod:`workbench.export.modelfile`) beside it.

Every export is written into a temporary folder beside OUT and renamed into place, so a half-written export
never appears under the requested name, and ``overwrite`` only ever replaces a folder an export wrote: never
the run itself, a folder that holds it, another run, or the run's base model.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from workbench.atomic import atomic_write_text, staged_dir
from workbench.errors import WorkbenchError
from workbench.export.gguf_export import QUANTS, Quant, write_gguf
from workbench.export.modelfile import modelfile_text
from workbench.hardware import Precision, choose_precision
from workbench.inference.bench import ModelBench
from workbench.models import DEFAULT_MODEL, default_model_dir, load_model
from workbench.training.config import find_run_config
from workbench.workspace.runs import MODEL_DIR, adapter_base_name, adapter_dir, is_full_run, is_run

Format = Literal["safetensors", "gguf"]
FORMATS: tuple[Format, ...] = ("safetensors", "gguf")
EXPORT_MARKER = "workbench-export.json"  # says "an export wrote this folder": overwrite may replace it


@dataclass
class ExportResult:
    """The export folder, the main file in it (the GGUF, or the folder itself), the Modelfile, notes for the user."""

    out_dir: Path
    main_file: Path
    modelfile: Path | None = None
    notes: list[str] = field(default_factory=list)


def check_target(run_dir: str | Path, out_dir: str | Path, overwrite: bool) -> None:
    """Refuse an OUT whose replacement would destroy something, before any work is done.

    ``overwrite`` deletes OUT first, so OUT must not be the run, hold the run (its parent, the runs folder) or
    be inside it, must not be or hold another run or the run's base model, and must be a folder an export wrote
    (one with the export marker). A model folder without the marker is not taken for an export: a base model,
    the default model's converted copy or a full run's ``model/`` look just like one.
    """
    run, out = Path(run_dir).expanduser().resolve(), Path(out_dir).expanduser().resolve()
    if out == run or run.is_relative_to(out):
        raise WorkbenchError(
            f"{out_dir} {'is' if out == run else 'holds'} the run being exported ({run_dir}): choose a new folder for "
            "the export"
        )
    if out.is_relative_to(run):
        raise WorkbenchError(f"{out_dir} is inside the run being exported ({run_dir}): choose a folder outside it")
    if out.exists() and not out.is_dir():
        raise WorkbenchError(f"{out_dir} is a file, not a folder: choose a folder name for the export")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise WorkbenchError(f"{out_dir} exists and is not empty: choose another folder or pass overwrite")
    runs = [p for p in (out, *(c for c in out.iterdir() if c.is_dir())) if is_run(p)]
    if runs:
        what = "is a run folder" if runs[0] == out else f"holds run folders ({runs[0].name})"
        raise WorkbenchError(f"{out_dir} {what}; overwrite replaces only an earlier export: choose another folder")
    base = next((b for b in _base_folders(run_dir) if b.is_relative_to(out)), None)
    if base is not None:
        raise WorkbenchError(
            f"{out_dir} {'is' if base == out else 'holds'} the base model of the run being exported ({base.name}): "
            "the run needs it; choose another folder for the export"
        )
    if not (out / EXPORT_MARKER).is_file():
        raise WorkbenchError(
            f"{out_dir} was not written by `workbench export` (no {EXPORT_MARKER}); overwrite replaces only an "
            "earlier export: choose another folder or empty it yourself"
        )


def _base_folders(run_dir: str | Path) -> list[Path]:
    """The local folders the run's base model is loaded from (its config's model, its adapter's base)."""
    config = find_run_config(run_dir)
    names = [config.model] if config is not None else []
    try:
        names.append(adapter_base_name(run_dir))
    except WorkbenchError:
        pass  # a full run has no adapter; a broken one fails with its own message when loaded
    folders = []
    for name in names:
        path = default_model_dir() if name in (DEFAULT_MODEL, "", None) else Path(name).expanduser()
        if path.exists():
            folders.append(path.resolve())
    return folders


@contextmanager
def _staged(out_dir: Path, marker: dict) -> Iterator[Path]:
    """:func:`workbench.atomic.staged_dir` with the export marker, and OS errors as located messages.

    An OUT nobody can write to (``/proc``, a read-only disk) fails when the staging folder is made, before the
    model is loaded.
    """
    try:
        with staged_dir(out_dir) as tmp:
            yield tmp
            atomic_write_text(tmp / EXPORT_MARKER, json.dumps(marker, indent=1) + "\n")
    except OSError as exc:
        raise WorkbenchError(f"cannot write an export to {out_dir}: {exc.strerror or exc}") from exc


def _merge_into(run_dir: Path, folder: Path) -> list[str]:
    """Save base + adapter as one model with its tokenizer into ``folder``; return notes.

    The base is always loaded in full precision for the merge. An adapter trained on a 4-bit base (QLoRA)
    learned its correction against the de-quantized 4-bit weights, not these: the merged model is close to,
    not exactly, what was trained; the notes say so. A full fine-tuning run is copied as it is.
    """
    if is_full_run(run_dir):
        shutil.copytree(run_dir / MODEL_DIR, folder, dirs_exist_ok=True)
        return [f"a full fine-tuning run: its {MODEL_DIR}/ folder is already standalone and was copied"]
    notes = []
    adapter = adapter_dir(run_dir)
    config = find_run_config(run_dir)
    if config is not None and config.adaptation == "qlora":
        notes.append(
            "the adapter was trained on a 4-bit base; it is merged into full-precision base weights, so "
            "the merged model's outputs differ slightly from base(4-bit) + adapter"
        )
    # Full precision on every device: merging into half-precision weights would round the update away.
    precision = Precision(choose_precision().device, torch.float32, "full precision for an exact merge")
    bench = ModelBench(load_model(adapter_base_name(adapter), precision=precision))
    name = bench.add_adapter(adapter)
    merged = bench.model.merge_and_unload(adapter_names=[name])
    merged.save_pretrained(folder, safe_serialization=True)
    bench.tokenizer.save_pretrained(folder)
    return notes


def export_merged(run_dir: str | Path, out_dir: str | Path, overwrite: bool = False) -> list[str]:
    """Write base + adapter as one model (safetensors) and its tokenizer into ``out_dir``; return notes.

    Example:
        >>> export_merged("runs/sft-json", "exports/sft-json")
        >>> AutoModelForCausalLM.from_pretrained("exports/sft-json")
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    check_target(run_dir, out_dir, overwrite)
    with _staged(out_dir, {"run": str(run_dir), "format": "safetensors"}) as tmp:
        notes = _merge_into(run_dir, tmp)
    return notes


def export_gguf(
    run_dir: str | Path, out_dir: str | Path, quant: Quant = "q8_0", overwrite: bool = False
) -> ExportResult:
    """Write ``<run>.<quant>.gguf`` and an Ollama ``Modelfile`` into ``out_dir``.

    Example:
        >>> export_gguf("runs/sft-json", "exports/sft-json-gguf", "q8_0").main_file
        PosixPath('exports/sft-json-gguf/sft-json.q8_0.gguf')
    """
    # The tokenizer stack of transformers, kept off the CLI's start path.
    from transformers import AutoTokenizer  # noqa: PLC0415

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if quant not in QUANTS:
        raise WorkbenchError(f"unknown GGUF quantization {quant!r}: choose one of {', '.join(QUANTS)}")
    check_target(run_dir, out_dir, overwrite)
    name = run_dir.resolve().name
    gguf_name = f"{name}.{quant}.gguf"
    with _staged(out_dir, {"run": str(run_dir), "format": "gguf", "quant": quant}) as tmp:
        merged = tmp / ".merged"
        notes = _merge_into(run_dir, merged)
        summary = write_gguf(merged, tmp / gguf_name, quant, name=name)
        modelfile, modelfile_notes = modelfile_text(gguf_name, AutoTokenizer.from_pretrained(merged))
        (tmp / "Modelfile").write_text(modelfile, encoding="utf-8")
        shutil.rmtree(merged)
    notes += summary.notes + modelfile_notes
    return ExportResult(out_dir, out_dir / gguf_name, out_dir / "Modelfile", notes)


def export_run(
    run_dir: str | Path,
    out_dir: str | Path,
    format: Format = "safetensors",
    quant: Quant = "q8_0",
    overwrite: bool = False,
) -> ExportResult:  # noqa: A002
    """One entry point for the CLI and the app: a safetensors folder or a GGUF file + Modelfile."""
    if format == "gguf":
        return export_gguf(run_dir, out_dir, quant, overwrite)
    if format != "safetensors":
        raise WorkbenchError(f"unknown export format {format!r}: choose one of {', '.join(FORMATS)}")
    notes = export_merged(run_dir, out_dir, overwrite)
    return ExportResult(Path(out_dir), Path(out_dir), None, notes)
