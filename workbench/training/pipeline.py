"""``train(config)``: one function behind the CLI, the lessons and the app, and ``resume(run_dir)``.

A run is a short list of named steps (:func:`_run`): precision, data, model, trainer, estimate, fit, save.
The SFT, DPO or KTO specifics live in sft.py / dpo.py / kto.py, the loss mask in :mod:`workbench.data.masking`,
the adapter config and step count in plan.py, and the run folder's layout in workspace/runs.py.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from peft import prepare_model_for_kbit_training
from transformers.trainer_callback import PrinterCallback

from workbench.atomic import atomic_write_text, is_disk_full, staged_dir
from workbench.data.formats import record_kind
from workbench.data.masking import LossSettings, loss_settings
from workbench.data.stats import length_stats
from workbench.errors import WorkbenchError
from workbench.hardware import Precision, bitsandbytes_problem, choose_precision
from workbench.models import LoadedModel, load_model
from workbench.quiet import data_bars_if_slow
from workbench.training import data_input, dpo, kto, lifecycle, sft
from workbench.training.config import TrainConfig, check_against_model, load_run_config
from workbench.training.distributed import is_main_process, world_size
from workbench.training.estimate import Estimate, config_estimator, estimate_run, peak_memory_mb, token_lengths
from workbench.training.events import OnEvent, ProgressCallback
from workbench.training.model_card import write_model_card
from workbench.training.plan import batching, fit_to_memory, lora_config, memory_budget_mb, planned_steps
from workbench.training.plots import save_loss_plot
from workbench.workspace.runs import (
    ADAPTER_DIR,
    CHECKPOINTS_DIR,
    ESTIMATE_FILE,
    MODEL_DIR,
    claim_run_dir,
    latest_checkpoint,
    read_metrics,
    truncate_metrics,
    write_run_config,
    write_status,
)

METHODS = {"sft": sft, "dpo": dpo, "kto": kto}  # same-shaped modules: method_args() and build_trainer()

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


@dataclass
class _Data:
    """The run's data after loading, the method check and the evaluation split."""

    train: Any  # datasets.Dataset in TRL's columns
    eval: Any | None
    kind: str
    fingerprint: str

    @property
    def eval_examples(self) -> int:
        return len(self.eval) if self.eval is not None else 0


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
    _check_method(config)
    config = config.resolved()
    run_dir = Path(config.output_dir) / config.name
    if is_main_process():
        claim_run_dir(run_dir, config.overwrite)
        write_run_config(run_dir, config.to_yaml())
    try:
        return _run(config, run_dir, None, on_event, stop, dataset, eval_dataset)
    except BaseException as exc:
        if is_main_process():
            lifecycle.record_failure(run_dir, exc)
        raise


def resume(run_dir: str | Path, on_event: OnEvent | None = None, stop: threading.Event | None = None) -> RunResult:
    """Continue a run from its last checkpoint (after a crash, a kill -9 or a stop request)."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    _check_method(config)
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise WorkbenchError(
            f"{run_dir} has no complete checkpoint yet (one is written every save_steps={config.save_steps} steps): "
            "start the run again instead"
        )
    lifecycle.check_resumable(run_dir, checkpoint)
    step = int(checkpoint.name.rsplit("-", 1)[1])
    if is_main_process():
        # Lines logged after the checkpoint are logged again by the resumed run: drop them so none repeat.
        truncate_metrics(run_dir, step)
        write_status(run_dir, "running", step=step)
    try:
        return _run(config, run_dir, checkpoint, on_event, stop, None, None)
    except BaseException as exc:
        if is_main_process():
            lifecycle.record_failure(run_dir, exc)
        raise


def _check_method(config: TrainConfig) -> None:
    """Refuse a method train() has no trainer for (GRPO needs a reward function, which a config cannot name)."""
    if config.method not in METHODS:
        raise WorkbenchError(
            f"method {config.method!r} is not trained by train() or `workbench train`: GRPO learns from a reward, "
            "so train it with workbench.training.grpo.train_grpo (lesson 5)"
        )


def _run(
    config: TrainConfig, run_dir: Path, checkpoint: Path | None, on_event, stop, dataset, eval_dataset
) -> RunResult:
    emit = on_event or (lambda event: None)
    precision = _precision(config)
    data = _load_data(config, dataset, eval_dataset)
    warned = (
        lifecycle.track_data(run_dir, data.fingerprint, resuming=checkpoint is not None) if is_main_process() else []
    )
    emit({"type": "log", "message": f"loading {config.model} for {config.method} with {config.adaptation}"})
    lm = _load_model(config, precision)
    with _explained_setup_errors(config, lm.model):  # PEFT's own refusals, said with the model's layers
        check_against_model(config, lm.model)
    loss = loss_settings(data.kind, config.loss_on, lm.tokenizer)
    notes = [loss.note] if loss.note else []
    if loss.chat_template is not None:
        # The trainer tokenizes with the tokenizer's template: the marked copy renders the same text and lets
        # TRL find the assistant's tokens. The saved tokenizer keeps it; it renders prompts as the original does.
        lm.tokenizer.chat_template = loss.chat_template
    lengths = _example_lengths(config, data, lm.tokenizer)
    if checkpoint is None:  # a resumed run keeps the layout it started with (its saved config)
        with _explained_setup_errors(config, lm.model):  # the fit's estimate builds the adapter first
            config, fit_note = _fit_memory(config, data, lengths, run_dir)
        if fit_note:
            emit({"type": "log", "message": fit_note})
            notes.append(fit_note)
    mean_tokens = sum(lengths) / len(lengths)
    padding_free, attention = batching(config, mean_tokens, precision.device)
    config = dataclasses.replace(config, padding_free=padding_free)
    lm.model.set_attn_implementation(attention)
    emit(
        {
            "type": "log",
            "message": f"batches {'padding-free' if padding_free else 'padded'}, {attention} attention "
            f"(examples of {mean_tokens:.0f} tokens on average, on the {precision.device})",
        }
    )
    callback = ProgressCallback(run_dir, on_event, stop)
    args = _training_args(config, run_dir, precision, data, checkpoint, loss)
    trainer = _build_trainer(config, lm.model, lm.tokenizer, args, data, callback)
    warned += lifecycle.dropped_examples(len(data.train), len(trainer.train_dataset), config.max_length)
    for warning in warned:  # before training starts, so a learner can stop and fix the data
        emit({"type": "log", "message": warning})
    notes += warned
    data.train = trainer.train_dataset  # what TRL really trains on: the step plan and the model card count it
    trainable, total = _parameter_counts(trainer.model)
    mean_tokens, longest_tokens = token_lengths(trainer.train_dataset, config.max_length)
    estimate = estimate_run(
        trainer.model,
        config,
        planned_steps(config, len(data.train), world_size()),
        mean_tokens,
        precision.device,
        world_size(),
        data.eval_examples,
        longest_tokens,
    )
    emit({"type": "log", "message": estimate.summary()})

    measured = _fit(trainer, config, run_dir, checkpoint, precision)
    _check_finite(callback, config, run_dir)
    status = "stopped" if callback.stopped_by_request else "completed"
    final = final_metrics(read_metrics(run_dir) if is_main_process() else [])
    if is_main_process():
        _save_run_folder(
            trainer, lm, config, run_dir, data, estimate, measured, final, status, trainable, total, precision
        )
    emit({"type": "done", "run_dir": str(run_dir), "status": status, "steps": measured["steps"], "metrics": final})
    return RunResult(
        run_dir=run_dir,
        status=status,
        steps=measured["steps"],
        final_metrics=final,
        trainable_params=trainable,
        total_params=total,
        estimate=estimate.as_dict(),
        measured=measured,
        notes=notes,
    )


def _precision(config: TrainConfig) -> Precision:
    """The device from the hardware, the dtype from the config; QLoRA refused where bitsandbytes cannot run."""
    device = choose_precision().device
    if config.adaptation == "qlora":
        problem = bitsandbytes_problem(device)
        if problem:
            raise WorkbenchError(
                f"QLoRA needs bitsandbytes, which cannot run here ({problem}): use adaptation: lora instead "
                "(same adapter, the base model stays in full precision and needs more memory)"
            )
    return Precision(device=device, dtype=config.compute_dtype(), reason=f"{config.precision} from the training config")


def _load_data(config: TrainConfig, dataset, eval_dataset) -> _Data:
    """Training and evaluation data of the kind the method needs (given datasets replace the config's files)."""
    if dataset is None:
        dataset, kind = data_input.load(config.data)
    else:
        kind = record_kind(dataset.column_names)
    data_input.check_fits(config.method, kind)
    if eval_dataset is None and config.eval_data:
        eval_dataset, eval_kind = data_input.load(config.eval_data)
        data_input.check_fits(config.method, eval_kind)
    if eval_dataset is None:
        train_dataset, eval_dataset = data_input.split(dataset, config.eval_fraction, config.seed)
    else:
        train_dataset = dataset
    if eval_dataset is not None and len(eval_dataset) == 0:
        eval_dataset = None
    return _Data(train_dataset, eval_dataset, kind, data_input.fingerprint(dataset))


def _load_model(config: TrainConfig, precision: Precision) -> LoadedModel:
    """The base model as training needs it; QLoRA = the base in 4-bit NF4 with double quantisation, prepared for
    k-bit training."""
    torch.manual_seed(config.seed)
    lm = load_model(
        config.model,
        quantization=config.base_quantization(),
        precision=precision,
        for_training=True,
        frozen_base=config.adaptation != "full",
    )
    if config.adaptation == "qlora":
        lm.model = prepare_model_for_kbit_training(lm.model, use_gradient_checkpointing=config.gradient_checkpointing)
    return lm


def _example_lengths(config: TrainConfig, data: _Data, tokenizer) -> list[int]:
    """Token lengths of (up to 2,048 of) the training examples as training tokenizes them, capped at max_length."""
    sample = data.train.select(range(min(len(data.train), 2048)))
    return [min(n, config.max_length) for n in length_stats(sample, tokenizer).lengths] or [config.max_length]


def _fit_memory(config: TrainConfig, data: _Data, lengths: list[int], run_dir: Path) -> tuple[TrainConfig, str]:
    """(the config with the batch layout that fits its memory budget, the sentence that says what was chosen).

    Decided from the workbench's own estimate of the meta-device model (estimate.config_estimator) and the
    data's token lengths as training will tokenize them, before the trainer is built: TRL's SFT/DPO/KTOConfig
    receive the chosen batch size, accumulation and checkpointing. A changed layout is written to the run's
    saved config, so a resumed run continues with it.
    """
    if config.memory_budget_gb is None and world_size() > 1:
        return config, ""  # each process would read its own "available now" and could choose another layout
    budget = memory_budget_mb(config)
    if budget is None:
        return config, ""
    estimate_for = config_estimator(
        config, len(data.train), sum(lengths) / len(lengths), data.eval_examples, max(lengths)
    )
    chosen = fit_to_memory(config, lambda variant: estimate_for(variant).peak_memory_mb, budget)
    if chosen.changed and is_main_process():
        write_run_config(run_dir, chosen.config.to_yaml())
    return chosen.config, chosen.explain()


def _training_args(
    config: TrainConfig, run_dir: Path, precision: Precision, data: _Data, checkpoint, loss: LossSettings
) -> dict:
    """The SFT/DPO/KTOConfig fields: the curated TrainConfig fields, the method's own, and the hardware's."""
    has_eval = data.eval is not None
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
        # Precision from the hardware, never TRL's bf16 default (far slower on CPUs without native bf16:
        # docs/measurements.md).
        bf16=config.precision == "bf16",
        fp16=config.precision == "fp16",
        use_cpu=precision.device == "cpu",
        # TRL defaults this to True; transformers renamed it (activation_checkpointing) but TRL still reads this name.
        gradient_checkpointing=config.gradient_checkpointing,
        include_num_input_tokens_seen="non_padding",
        **config.reporting_args(),  # experiment tracker, "none" by default
        disable_tqdm=True,
        dataloader_num_workers=0,
        **METHODS[config.method].method_args(config, loss),
    )
    if world_size() > 1 and precision.device == "cpu":
        args["ddp_backend"] = "gloo"
    return args


def _build_trainer(config: TrainConfig, model, tokenizer, args: dict, data: _Data, callback: ProgressCallback):
    """TRL's trainer for the method, with the adapter config from plan.py; a bad target module list is explained."""
    rows = len(data.train) + data.eval_examples
    with _explained_setup_errors(config, model), hush_renamed_argument(), data_bars_if_slow(rows):
        trainer = METHODS[config.method].build_trainer(
            model, tokenizer, args, data.train, data.eval, lora_config(config), [callback]
        )

    trainer.remove_callback(PrinterCallback)  # events replace its raw dict prints
    return trainer


@contextmanager
def _explained_setup_errors(config: TrainConfig, model):
    """PEFT and TRL refuse some settings only when the adapter is built (a target-module regex that matches no
    layer): said as a WorkbenchError, with the model's linear layers where the targets were the problem."""
    try:
        yield
    except ValueError as exc:
        hint = ""
        if "Target modules" in str(exc):
            linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
            hint = f" This model's linear layers: {', '.join(linear)} (or all-linear)."
        raise WorkbenchError(f"could not set up {config.method.upper()} training: {exc}{hint}") from exc


@contextmanager
def hush_renamed_argument():
    """transformers 5 renamed gradient_checkpointing, TRL 1.16 still passes the old name: nothing a user can act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def _parameter_counts(model) -> tuple[int, int]:
    """(trainable, total) parameters, counted as PEFT counts them (4-bit weights unpacked)."""
    if hasattr(model, "peft_config"):
        return model.get_nb_trainable_parameters()
    return sum(p.numel() for p in model.parameters() if p.requires_grad), sum(p.numel() for p in model.parameters())


def _fit(trainer, config: TrainConfig, run_dir: Path, checkpoint, precision: Precision) -> dict[str, Any]:
    """Train (from ``checkpoint`` when resuming); errors a learner can act on become sentences. Returns what was
    measured."""
    start = time.perf_counter()
    tokens_before = trainer.state.num_input_tokens_seen
    try:
        with _disk_full_advice(run_dir, "a checkpoint or metrics.jsonl"), hush_renamed_argument():
            trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise WorkbenchError(OOM_FIX) from exc
    except ValueError as exc:
        if "num_samples" in str(exc):
            raise WorkbenchError(
                f"no training example of {config.data or 'the dataset'} is left after tokenizing: each was cut to "
                f"max_length={config.max_length} tokens before its answer began. Raise max_length or shorten the "
                "prompts"
            ) from exc
        raise
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower():
            raise WorkbenchError(OOM_FIX) from exc
        raise
    seconds = time.perf_counter() - start
    tokens = trainer.state.num_input_tokens_seen - tokens_before
    return {
        "peak_memory_mb": peak_memory_mb(precision.device),
        "seconds": round(seconds, 1),
        "tokens_per_second": round(tokens / seconds, 1) if tokens and seconds > 0 else None,
        "steps": trainer.state.global_step,
    }


def _check_finite(callback: ProgressCallback, config: TrainConfig, run_dir: Path) -> None:
    """A loss that became NaN or inf stopped the run: say so with the likely cause and a fix."""
    if callback.nonfinite is None:
        return
    step, key, value = callback.nonfinite
    raise WorkbenchError(
        f"training stopped at step {step}: {key} became {value}. The learning rate is probably too high: "
        f"try learning_rate: {config.learning_rate / 10:g} (now {config.learning_rate:g}), more warmup_ratio, "
        f"or max_grad_norm: 1.0. Run folder: {run_dir}"
    )


def _save_run_folder(
    trainer,
    lm: LoadedModel,
    config: TrainConfig,
    run_dir: Path,
    data: _Data,
    estimate: Estimate,
    measured: dict,
    final: dict,
    status: str,
    trainable: int,
    total: int,
    precision: Precision,
) -> None:
    """Weights, estimate vs measured, loss plot and model card (main process only)."""
    with _disk_full_advice(run_dir, "the trained weights and run files"):
        save_weights(trainer, lm.tokenizer, run_dir, config)
        atomic_write_text(
            run_dir / ESTIMATE_FILE,
            json.dumps({"estimate": estimate.as_dict(), "measured": measured, "processes": world_size()}, indent=1)
            + "\n",
        )
        save_loss_plot(run_dir)
        write_model_card(
            run_dir,
            config,
            {
                "status_line": f"Stopped on request after step {measured['steps']}." if status == "stopped" else "",
                "model_source": lm.source,
                "data_kind": data.kind,
                "train_examples": len(data.train),
                "eval_examples": data.eval_examples,
                "data_hash": data.fingerprint,
                "trainable_params": trainable,
                "total_params": total,
                "steps": measured["steps"],
                "final_metrics": final,
                "estimate": estimate.as_dict(),
                "measured": measured,
                "device": precision.device,
                "world_size": world_size(),
            },
        )
        write_status(run_dir, status, step=measured["steps"])


@contextmanager
def _disk_full_advice(run_dir: Path, writing: str):
    """A full disk (ENOSPC) becomes a sentence: what could not be written, and how to go on from what is intact."""
    try:
        yield
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise WorkbenchError(
            f"the disk is full: {writing} could not be written in {run_dir}. Free some space, then continue with "
            f"`workbench train --resume {run_dir}` (the last complete checkpoint and metrics.jsonl are intact)"
        ) from exc


def save_weights(trainer, tokenizer, run_dir: Path, config: TrainConfig) -> None:
    """Save into a staged folder renamed into place: a crash leaves the old weights or none, never half."""
    with staged_dir(run_dir / (MODEL_DIR if config.adaptation == "full" else ADAPTER_DIR)) as tmp:
        trainer.model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        adapter_config = tmp / "adapter_config.json"
        if adapter_config.is_file():
            # The saved adapter names its base by the workbench name, so load_model(name) finds it on any
            # machine. It is rewritten here rather than set on the live model: PEFT would then ask the Hub
            # for a repo called e.g. "default" at every checkpoint save.
            saved = json.loads(adapter_config.read_text())
            saved["base_model_name_or_path"] = config.model
            adapter_config.write_text(json.dumps(saved, indent=2))


def final_metrics(records: list[dict]) -> dict[str, float]:
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
