"""``train(config)``: one function behind the CLI, the lessons and the app, and ``resume(run_dir)``.

It loads data and model, builds the SFT or DPO trainer (sft.py / dpo.py), estimates memory and time,
trains with progress events and stop requests, then writes the run folder (runs.py lists its layout).
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from workbench.errors import WorkbenchError
from workbench.training import data_input, dpo, sft
from workbench.training.config import TrainConfig
from workbench.training.estimate import estimate_run, peak_memory_mb
from workbench.training.events import OnEvent, ProgressCallback
from workbench.training.runs import (
    ADAPTER_DIR,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    ESTIMATE_FILE,
    MODEL_DIR,
    atomic_write_text,
    latest_checkpoint,
    load_run_config,
    read_metrics,
    truncate_metrics,
)

# transformers 5 renamed gradient_checkpointing; TRL 1.16 still uses the old name internally.
warnings.filterwarnings("ignore", message=r".*gradient_checkpointing` is deprecated", category=FutureWarning)

METHODS = {"sft": sft, "dpo": dpo}  # same-shaped modules: method_args() and build_trainer()

OOM_FIX = (
    "out of memory: use adaptation: qlora (4-bit base), a smaller batch_size (with more gradient_accumulation), "
    "gradient_checkpointing: true, or a shorter max_length"
)


@dataclass
class RunResult:
    """What a finished (or stopped) run left behind."""

    run_dir: Path
    status: Literal["completed", "stopped"]
    steps: int
    final_metrics: dict[str, float]
    trainable_params: int
    total_params: int
    estimate: dict[str, Any]
    measured: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def weights_dir(self) -> Path:
        return self.run_dir / (MODEL_DIR if (self.run_dir / MODEL_DIR).is_dir() else ADAPTER_DIR)


def train(
    config: TrainConfig,
    on_event: OnEvent | None = None,
    stop: threading.Event | None = None,
    *,
    dataset=None,
    eval_dataset=None,
) -> RunResult:
    """Train as ``config`` says and return the result; the run folder is ``<output_dir>/<name>/``.

    ``on_event`` receives progress events (see events.py); setting ``stop`` ends the run after the current
    step and keeps a usable adapter. ``dataset``/``eval_dataset`` (datasets.Dataset in TRL's columns) replace
    ``config.data``/``config.eval_data`` for notebooks and tests.

    Example:
        >>> result = train(TrainConfig(data="data_samples/sentiment_json.train.jsonl", max_steps=30))
        >>> result.final_metrics["eval_loss"]
    """
    config = config.resolved()
    run_dir = Path(config.output_dir) / config.name
    if _rank() == 0:
        if run_dir.exists() and any(run_dir.iterdir()):
            if not config.overwrite:
                raise WorkbenchError(
                    f"run folder {run_dir} already exists: pick another name (--set name=...), continue it with "
                    f"`workbench train --resume {run_dir}`, or set overwrite: true"
                )
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / CONFIG_FILE, config.to_yaml())
    try:
        return _run(config, run_dir, None, on_event, stop, dataset, eval_dataset)
    except BaseException:
        # A run that failed before logging anything (bad target modules, wrong data) leaves no folder
        # behind; one that trained keeps its metrics and checkpoints for diagnosis and resume.
        if _rank() == 0 and not read_metrics(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def resume(run_dir: str | Path, on_event: OnEvent | None = None, stop: threading.Event | None = None) -> RunResult:
    """Continue a run from its last checkpoint (after a crash, a kill -9 or a stop request)."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise WorkbenchError(
            f"{run_dir} has no complete checkpoint yet (one is written every save_steps={config.save_steps} steps): "
            "start the run again instead"
        )
    step = int(checkpoint.name.rsplit("-", 1)[1])
    if _rank() == 0:
        # Lines logged after the checkpoint are logged again by the resumed run: drop them so none repeat.
        truncate_metrics(run_dir, step)
    return _run(config, run_dir, checkpoint, on_event, stop, None, None)


def _run(config, run_dir: Path, checkpoint, on_event, stop, dataset, eval_dataset) -> RunResult:
    from workbench.hardware import Precision, bitsandbytes_problem, choose_precision
    from workbench.models import load_model

    notes: list[str] = []
    emit = on_event or (lambda event: None)
    hw = choose_precision()
    precision = Precision(device=hw.device, dtype=config.compute_dtype(), reason=f"{config.precision} from the training config")
    if config.adaptation == "qlora":
        problem = bitsandbytes_problem(precision.device)
        if problem:
            raise WorkbenchError(
                f"QLoRA needs bitsandbytes, which cannot run here ({problem}): use adaptation: lora instead "
                "(same adapter, the base model stays in full precision and needs more memory)"
            )

    # Data: the method decides which kind fits.
    if dataset is None:
        dataset, kind = data_input.load(config.data)
    else:
        kind = data_input.kind_of(dataset)
    data_input.check_fits(config.method, kind)
    if eval_dataset is None and config.eval_data:
        eval_dataset, eval_kind = data_input.load(config.eval_data)
        data_input.check_fits(config.method, eval_kind)
    if eval_dataset is None:
        train_dataset, eval_dataset = data_input.split(dataset, config.eval_fraction, config.seed)
    else:
        train_dataset = dataset
    data_hash = data_input.fingerprint(dataset)

    # Model: QLoRA = the base in 4-bit NF4 with double quantisation + LoRA on top.
    emit({"type": "log", "message": f"loading {config.model} for {config.method} with {config.adaptation}"})
    torch.manual_seed(config.seed)
    lm = load_model(
        config.model,
        quantization="4bit" if config.adaptation == "qlora" else None,
        precision=precision,
        for_training=True,
        frozen_base=config.adaptation != "full",
    )
    model, tokenizer = lm.model, lm.tokenizer
    if config.adaptation == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    peft_config = None
    if config.adaptation != "full":
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.lora_target_modules,
            task_type="CAUSAL_LM",
        )

    method = METHODS[config.method]
    method_args, method_notes = method.method_args(config, kind, tokenizer)
    notes += method_notes
    has_eval = eval_dataset is not None and len(eval_dataset) > 0
    world = int(os.environ.get("WORLD_SIZE", "1"))
    args = dict(
        output_dir=str(run_dir / CHECKPOINTS_DIR),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        max_grad_norm=config.max_grad_norm,
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        logging_nan_inf_filter=False,  # the Trainer would hide a NaN loss behind the previous average
        eval_strategy="steps" if has_eval else "no",
        eval_steps=config.eval_steps,
        eval_on_start=has_eval and checkpoint is None,  # the baseline the eval loss should improve on
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        # Precision from the hardware, never TRL's bf16 default (13x slower on CPUs without native bf16).
        bf16=config.precision == "bf16",
        fp16=config.precision == "fp16",
        use_cpu=precision.device == "cpu",
        # TRL defaults this to True; transformers renamed it (activation_checkpointing) but TRL still reads this name.
        gradient_checkpointing=config.gradient_checkpointing,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        **method_args,
    )
    if world > 1 and precision.device == "cpu":
        args["ddp_backend"] = "gloo"
    callback = ProgressCallback(run_dir, on_event, stop)
    try:
        trainer = method.build_trainer(model, tokenizer, args, train_dataset, eval_dataset, peft_config, [callback])
    except ValueError as exc:
        hint = ""
        if "Target modules" in str(exc):
            linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
            hint = f" This model's linear layers: {', '.join(linear)} (or all-linear)."
        raise WorkbenchError(f"could not set up {config.method.upper()} training: {exc}{hint}") from exc
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # events replace its raw dict prints

    model = trainer.model
    if hasattr(model, "peft_config"):
        _check_lora_rank(model, config.lora_r)
        trainable, total = model.get_nb_trainable_parameters()
    else:
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())

    steps = _planned_steps(config, len(train_dataset), world)
    mean_tokens, longest_tokens = _token_lengths(trainer.train_dataset, config.max_length)
    eval_examples = len(eval_dataset) if has_eval else 0
    estimate = estimate_run(model, config, steps, mean_tokens, precision.device, world, eval_examples, longest_tokens)
    emit({"type": "log", "message": estimate.summary()})
    is_main = trainer.is_world_process_zero()

    start = time.perf_counter()
    tokens_before = trainer.state.num_input_tokens_seen
    try:
        with _disk_full_advice(run_dir, "a checkpoint or metrics.jsonl"):
            trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise WorkbenchError(OOM_FIX) from exc
    except ValueError as exc:
        if "num_samples" in str(exc):
            raise WorkbenchError(
                f"no training example of {config.data or 'the dataset'} is left after tokenizing: each was cut to "
                f"max_length={config.max_length} tokens before its answer began. Raise max_length or shorten the prompts"
            ) from exc
        raise
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower():
            raise WorkbenchError(OOM_FIX) from exc
        raise
    seconds = time.perf_counter() - start

    if callback.nonfinite is not None:
        step, key, value = callback.nonfinite
        raise WorkbenchError(
            f"training stopped at step {step}: {key} became {value}. The learning rate is probably too high: "
            f"try learning_rate: {config.learning_rate / 10:g} (now {config.learning_rate:g}), more warmup_ratio, "
            f"or max_grad_norm: 1.0. Run folder: {run_dir}"
        )

    state = trainer.state
    tokens = state.num_input_tokens_seen - tokens_before
    measured = {
        "peak_memory_mb": peak_memory_mb(precision.device),
        "seconds": round(seconds, 1),
        "tokens_per_second": round(tokens / seconds, 1) if tokens and seconds > 0 else None,
        "steps": state.global_step,
    }
    status = "stopped" if callback.stopped_by_request else "completed"
    final = _final_metrics(read_metrics(run_dir) if is_main else [])
    if is_main:
        from workbench.training.model_card import write_model_card
        from workbench.training.plots import save_loss_plot

        with _disk_full_advice(run_dir, "the trained weights and run files"):
            _save_weights(trainer, tokenizer, run_dir, config)
            atomic_write_text(
                run_dir / ESTIMATE_FILE,
                json.dumps({"estimate": estimate.as_dict(), "measured": measured, "processes": world}, indent=1) + "\n",
            )
            save_loss_plot(run_dir)
            stop_note = f"Stopped on request after step {state.global_step}." if status == "stopped" else ""
            write_model_card(
                run_dir,
                config,
                {
                    "status_line": stop_note,
                    "model_source": lm.source,
                    "data_kind": kind,
                    "train_examples": len(train_dataset),
                    "eval_examples": len(eval_dataset) if has_eval else 0,
                    "data_hash": data_hash,
                    "trainable_params": trainable,
                    "total_params": total,
                    "steps": state.global_step,
                    "final_metrics": final,
                    "estimate": estimate.as_dict(),
                    "measured": measured,
                    "device": precision.device,
                    "world_size": world,
                },
            )
    emit({"type": "done", "run_dir": str(run_dir), "status": status, "steps": state.global_step, "metrics": final})
    return RunResult(
        run_dir=run_dir,
        status=status,
        steps=state.global_step,
        final_metrics=final,
        trainable_params=trainable,
        total_params=total,
        estimate=estimate.as_dict(),
        measured=measured,
        notes=notes,
    )


def _check_lora_rank(model, rank: int) -> None:
    """Refuse a rank above a layer's smaller side: B @ A cannot exceed that rank, so the extra is waste."""
    from peft.tuners.lora import LoraLayer

    for name, module in model.named_modules():
        if isinstance(module, LoraLayer):
            smallest = min(module.in_features, module.out_features)
            if rank > smallest:
                raise WorkbenchError(
                    f"lora_r={rank} is larger than layer {name.removeprefix('base_model.model.')} allows "
                    f"({module.in_features} -> {module.out_features}): an update B @ A has rank at most {smallest}; "
                    f"use lora_r <= {smallest} (8-64 is usual for real models)"
                )


@contextmanager
def _disk_full_advice(run_dir: Path, writing: str):
    """A full disk (ENOSPC) becomes a sentence: what could not be written, and how to go on from what is intact."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise WorkbenchError(
            f"the disk is full: {writing} could not be written in {run_dir}. Free some space, then continue with "
            f"`workbench train --resume {run_dir}` (the last complete checkpoint and metrics.jsonl are intact)"
        ) from exc


def _save_weights(trainer, tokenizer, run_dir: Path, config) -> None:
    """Save into a temporary folder, then rename: a crash leaves the old weights or none, never half."""
    target = run_dir / (MODEL_DIR if config.adaptation == "full" else ADAPTER_DIR)
    tmp = run_dir / f".{target.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        trainer.model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # half an adapter is worse than none, and it fills the disk
        raise
    adapter_config = tmp / "adapter_config.json"
    if adapter_config.is_file():
        # The saved adapter names its base by the workbench name, so load_model(name) finds it on any
        # machine. It is rewritten here rather than set on the live model: PEFT would then ask the Hub
        # for a repo called e.g. "default" at every checkpoint save.
        saved = json.loads(adapter_config.read_text())
        saved["base_model_name_or_path"] = config.model
        adapter_config.write_text(json.dumps(saved, indent=2))
    if target.exists():
        old = run_dir / f".{target.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def _final_metrics(records: list[dict]) -> dict[str, float]:
    """Last value of each metric, plus the first eval loss (the baseline before training)."""
    final: dict[str, float] = {}
    for record in records:
        if record.get("type") == "summary":
            if "train_loss" in record:
                final["train_loss"] = record["train_loss"]
            continue
        for key, value in record.items():
            if key in ("step", "epoch", "time", "type") or not isinstance(value, (int, float)):
                continue
            if key.endswith(("_runtime", "samples_per_second", "steps_per_second")) or "num_tokens" in key:
                continue
            if key == "eval_loss" and "eval_loss_start" not in final:
                final["eval_loss_start"] = value
            final[key] = value
    return final


def _planned_steps(config, n_train: int, world: int) -> int:
    if config.max_steps > 0:
        return config.max_steps
    per_epoch = math.ceil(n_train / (config.batch_size * world)) // config.gradient_accumulation
    return max(1, math.ceil(max(per_epoch, 1) * config.epochs))


def _token_lengths(dataset, max_length: int, rows: int = 4096) -> tuple[float, int]:
    """(mean, longest) tokenized length of a training example; TRL has already tokenized the dataset.

    For preference pairs the mean is prompt + chosen (the tokens counted as trained), the longest is prompt +
    the longer answer: TRL pads a batch's chosen and rejected answers to one length.
    """
    columns = getattr(dataset, "column_names", None) or []
    if "input_ids" in columns:
        lengths = [len(x) for x in dataset["input_ids"][:rows]]
        longest = lengths
    else:
        answers = [c for c in ("chosen_input_ids", "chosen_ids") if c in columns]  # TRL 0.x, TRL 1.x
        if not answers:
            return max_length / 2, max_length
        chosen = [len(x) for x in dataset[answers[0]][:rows]]
        prompts = [c for c in ("prompt_input_ids", "prompt_ids") if c in columns]
        prompt = [len(x) for x in dataset[prompts[0]][:rows]] if prompts else [0] * len(chosen)
        rejected_column = answers[0].replace("chosen", "rejected")
        rejected = [len(x) for x in dataset[rejected_column][:rows]] if rejected_column in columns else chosen
        lengths = [p + c for p, c in zip(prompt, chosen)]
        longest = [p + max(c, r) for p, c, r in zip(prompt, chosen, rejected)]
    if not lengths:
        return max_length / 2, max_length
    return min(max_length, sum(lengths) / len(lengths)), min(max_length, max(longest))


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))
