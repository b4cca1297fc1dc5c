"""The one training configuration: a dataclass with a help string per field, loadable from YAML.

Lessons change one field at a time (``adaptation: lora`` -> ``qlora``, ``method: sft`` -> ``dpo``); the
CLI loads a YAML preset and applies ``--set key=value`` overrides; the app fills it from its form.
Fields left at ``None`` are filled from the method and the hardware by :meth:`TrainConfig.resolved`.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import math
import os
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from workbench.errors import WorkbenchError
from workbench.hardware import choose_precision
from workbench.training.distributed import world_size
from workbench.training.plan import MIN_BATCH_SIZE, lora_config
from workbench.workspace.runs import base_quantization, check_run_name, config_path, read_run_config, run_folder_of

Method = Literal["sft", "dpo", "kto", "grpo"]
# The methods train() runs (pipeline.METHODS); GRPO needs a reward function, so training.grpo.train_grpo trains it.
TRAIN_METHODS = ("sft", "dpo", "kto")
Adaptation = Literal["full", "lora", "qlora"]

# Learning rates from the guides this project started from (docs/measurements.md): 1e-4..5e-4 for LoRA, an order of
# magnitude lower for full fine-tuning (every weight moves). DPO and KTO start lower than SFT: they nudge an
# already-trained policy.
DEFAULT_LEARNING_RATES = {
    ("sft", "lora"): 2e-4,
    ("sft", "qlora"): 2e-4,
    ("sft", "full"): 2e-5,
    ("dpo", "lora"): 1e-4,
    ("dpo", "qlora"): 1e-4,
    ("dpo", "full"): 5e-6,
    ("kto", "lora"): 1e-4,
    ("kto", "qlora"): 1e-4,
    ("kto", "full"): 5e-6,
    # GRPO trains a LoRA adapter only; TRL's GRPOConfig default (1e-6) is for moving every weight.
    ("grpo", "lora"): 5e-5,
}


def _f(default: Any, help: str, **kwargs) -> Any:  # noqa: A002  (TRL's spelling)
    """A field with its help and, in ``kwargs``, its bounds: ``gt``/``ge`` (lower, exclusive/inclusive) and ``lt``
    (upper, exclusive), checked in ``__post_init__``; ``hint``, said when a value is out of bounds; ``slider``,
    (low, high, step) of the usual values, the Train form's slider."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **kwargs})
    return field(default=default, metadata={"help": help, **kwargs})


@dataclass
class TrainConfig:
    """Everything that defines a training run. Example:

    >>> config = TrainConfig(data="data_samples/sentiment_json.train.jsonl", adaptation="qlora", max_steps=20)
    >>> config.resolved().learning_rate
    0.0002
    """

    # What to train, on what
    name: str = _f("", "The folder runs/<name>/; empty: method-adaptation-date.")
    model: str = _f("default", "Base model: 'default' (the embedded SmolLM2-135M-Instruct), a folder or a Hub ID.")
    data: str = _f("", "Training data: a file, a folder or a sample name, read by workbench.data.load_data.")
    eval_data: str | None = _f(None, "Evaluation data; None: hold out eval_fraction of the training data.")
    method: Method = _f(
        "sft",
        "'sft' (learn from demonstrations), 'dpo' (learn from chosen/rejected pairs), 'kto' (learn from single "
        "answers marked good or bad: prompt, completion, label) or 'grpo' (learn from a reward on sampled answers: "
        "workbench.training.grpo.train_grpo).",
    )
    adaptation: Adaptation = _f(
        "lora", "'lora' (small adapter), 'qlora' (adapter on a 4-bit base) or 'full' (every weight)."
    )
    output_dir: str = _f("runs", "Folder that holds the run folders.")
    overwrite: bool = _f(False, "Replace an existing run folder of the same name instead of stopping.")

    # LoRA (docs/measurements.md: r 8-64, alpha = 2r, dropout 0.05-0.1)
    lora_r: int = _f(
        16,
        "Adapter rank, 8-64: higher learns more but trains more parameters.",
        gt=0,
        slider=(4, 64, 4),
    )
    lora_alpha: int | None = _f(
        None,
        "Scales the adapter's update; the usual choice, and the default, is 2 x r.",
        gt=0,
        slider=(4, 128, 4),
    )
    # Dropout defaults to 0 (PEFT's default), not the guide's 0.05: on a CPU its random numbers are a large share of
    # a LoRA step, and configs/sft_lora.yaml trained much faster without it to the same held-out loss
    # (docs/benchmarks.md, "Training speed as shipped").
    lora_dropout: float = _f(
        0.0,
        "Dropout on the adapter's input, against overfitting: 0.05-0.1 when the eval loss turns up (slower on a CPU).",
        ge=0,
        lt=1,
        hint="0.05-0.1 is typical",
    )
    lora_target_modules: str | list[str] = _f(
        "all-linear", "Layers that get an adapter: 'all-linear' or a list of names like [q_proj, v_proj]."
    )

    # Optimisation
    learning_rate: float | None = _f(
        None,
        "Peak learning rate; by default 2e-4 for LoRA/QLoRA SFT, 2e-5 for full, lower for DPO and KTO.",
        gt=0,
        hint="try 2e-4 for LoRA, 2e-5 for full",
    )
    lr_scheduler: str = _f("cosine", "Learning-rate schedule after warmup: 'cosine', 'linear' or 'constant'.")
    warmup_ratio: float = _f(0.1, "Fraction of the steps spent ramping the learning rate up from 0.", ge=0, lt=1)
    epochs: float = _f(2.0, "Passes over the data (1-3; more overfits small data).", slider=(0.5, 5, 0.5))
    max_steps: int = _f(-1, "Stop after this many optimizer steps; -1: use epochs.")
    batch_size: int = _f(
        8,
        "Examples per step; memory grows with it.",
        gt=0,
        slider=(1, 16, 1),
    )
    gradient_accumulation: int = _f(
        1, "Steps whose gradients add up before one update (effective batch = batch_size * this).", gt=0
    )
    max_length: int = _f(
        256,
        "Longest example in tokens; longer ones are cut.",
        gt=0,
        slider=(32, 2048, 32),
    )
    max_grad_norm: float = _f(1.0, "Gradient clipping, against unstable training.")
    seed: int = _f(42, "Random seed for the split, the adapter's initialisation and the data order.")
    loss_on: Literal["answer", "all"] = _f(
        "answer", "SFT: train on the assistant's answer only ('answer') or on every token ('all')."
    )
    beta: float = _f(
        0.1, "DPO and KTO: lower lets the model move further from the reference.", gt=0, hint="0.1 is typical"
    )
    num_generations: int = _f(
        4,
        "GRPO: answers sampled to each of the step's batch_size prompts; the group is each answer's baseline.",
        ge=2,
        hint="a group of one answer has nothing to compare with",
    )
    max_completion_length: int = _f(24, "GRPO: longest sampled answer, in tokens.", gt=0)
    padding_free: bool | None = _f(
        None,
        "SFT: put a batch's examples end to end instead of padding them to the longest (TRL's padding-free batches; "
        "the same losses). None: on, except on a CPU for examples of 128 tokens or fewer on average, which train "
        "faster padded with eager attention.",
    )

    # Evaluation, logging, checkpoints
    eval_fraction: float = _f(
        0.1,
        "Share of the training data held out for evaluation when eval_data is None (0: no evaluation).",
        ge=0,
        lt=1,
        hint="0.1 is typical",
    )
    eval_steps: int = _f(10, "Evaluate every this many steps (and once before training, for a baseline).", gt=0)
    logging_steps: int = _f(1, "Log loss and learning rate every this many steps.", gt=0)
    save_steps: int = _f(10, "Write a resumable checkpoint every this many steps.", gt=0)
    save_total_limit: int = _f(2, "Keep only the newest this many checkpoints.")
    report_to: Literal["none", "tensorboard", "trackio"] = _f(
        "none",
        "Also log to an experiment tracker: 'tensorboard' (event files under the run's checkpoints/runs/; "
        "`tensorboard --logdir runs`) or 'trackio' (local, project 'workbench'; `trackio show`). Needs that package.",
    )

    # Hardware
    precision: Literal["auto", "fp32", "bf16", "fp16"] = _f(
        "auto", "'auto': chosen from the hardware (workbench.choose_precision)."
    )
    gradient_checkpointing: bool | None = _f(
        None, "Recompute activations to save memory; None: off on CPU (~35% slower there), on on GPU."
    )
    memory_budget_gb: float | None = _f(
        None,
        "Peak memory the run must fit in (GB): before training, batch_size is lowered (gradient_accumulation raised "
        "to keep the effective batch) and gradient_checkpointing turned on until the estimate fits. None: 75% of the "
        "memory available when training starts (GPU memory on a GPU); 0: train as configured.",
        ge=0,
        hint="0 turns the fit off",
    )

    def __post_init__(self) -> None:
        _check_types(self)
        problems = [
            f"{f.name} must be a finite number (got {getattr(self, f.name)})"
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), float) and not math.isfinite(getattr(self, f.name))
        ]
        if problems:  # inf and nan pass every comparison below one way or the other
            raise WorkbenchError("invalid training config: " + "; ".join(problems))
        problems += [p for f in dataclasses.fields(self) if (p := _out_of_bounds(f, getattr(self, f.name)))]
        least = MIN_BATCH_SIZE.get(self.method, 1)
        if 0 < self.batch_size < least:
            problems.append(
                f"{self.method.upper()} needs batch_size >= {least} (got {self.batch_size}): it estimates its KL term "
                "from the other answers in a batch; lower gradient_accumulation instead to save memory"
            )
        if self.max_steps == 0 or self.max_steps < -1:
            problems.append(f"max_steps must be > 0, or -1 to train for `epochs` (got {self.max_steps})")
        if self.max_steps == -1 and not self.epochs > 0:
            problems.append(f"epochs must be > 0 (got {self.epochs}); or set max_steps")
        if self.method == "grpo" and self.adaptation != "lora":
            problems.append(f"GRPO trains a LoRA adapter: set adaptation: lora (got {self.adaptation})")
        if self.name:
            try:
                check_run_name(self.name)
            except WorkbenchError as exc:
                problems.append(str(exc))
        if problems:
            raise WorkbenchError("invalid training config: " + "; ".join(problems))

    # ---- resolution -------------------------------------------------------------------------------

    def resolved(self, precision=None) -> TrainConfig:
        """A copy with every ``None`` filled from the method, the adaptation and the hardware."""
        precision = precision or choose_precision()
        changes: dict[str, Any] = {}
        if self.lora_alpha is None:
            changes["lora_alpha"] = default_lora_alpha(self.lora_r)
        if self.learning_rate is None:
            changes["learning_rate"] = DEFAULT_LEARNING_RATES[(self.method, self.adaptation)]
        if self.gradient_checkpointing is None:
            # On CPU memory is plentiful and compute is scarce; on a GPU it is the other way round.
            changes["gradient_checkpointing"] = precision.device == "cuda"
        if self.precision == "auto":
            changes["precision"] = {"bfloat16": "bf16", "float16": "fp16"}.get(precision.dtype_name, "fp32")
        if not self.name:
            stamp = os.environ.get("TORCHELASTIC_RUN_ID") if world_size() > 1 else None
            changes["name"] = f"{self.method}-{self.adaptation}-{stamp or datetime.now().strftime('%Y%m%d-%H%M%S')}"
        return dataclasses.replace(self, **changes)

    def reporting_args(self) -> dict[str, Any]:
        """Trainer arguments for ``report_to``; a clear error if the tracker's package is missing.

        Checked when training starts, not when a config is read: a run's saved config stays readable (eval,
        export) on a machine without the tracker.
        """
        if self.report_to == "none":
            return {"report_to": "none"}
        package = {"tensorboard": "tensorboard", "trackio": "trackio"}[self.report_to]
        if importlib.util.find_spec(package) is None:
            raise WorkbenchError(
                f"report_to: {self.report_to} needs the {package} package: pip install {package} (or report_to: none)"
            )
        # Trackio stays local: no Space is created, whatever the Trainer's defaults become.
        extra = {"project": "workbench", "trackio_static_space_id": False} if self.report_to == "trackio" else {}
        return {"report_to": self.report_to, "run_name": self.name, **extra}

    def base_quantization(self) -> str | None:
        """How the frozen base is loaded while training: 4-bit NF4 for QLoRA, else full precision. The adapter
        learns to correct that base, so evaluation loads it the same way."""
        return base_quantization(self.adaptation)

    def compute_dtype(self):
        """The torch dtype of ``precision`` once resolved ("auto" counts as fp32 until then)."""
        import torch  # noqa: PLC0415  (torch, kept off the CLI's start path, which reads configs)

        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision, torch.float32)

    # ---- YAML -------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        if not isinstance(values, dict):
            raise WorkbenchError(f"{source} must be a mapping of field: value, got {type(values).__name__}")
        _check_keys(values, source)
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
        """Read a YAML preset, then apply ``key=value`` overrides (values parsed as YAML: 1e-4, true, [a, b])."""
        path = Path(path)
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise WorkbenchError(f"cannot read config {path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise WorkbenchError(f"{path} is not valid YAML: {exc}") from exc
        except (RecursionError, ValueError) as exc:  # deep nesting; not UTF-8; an integer of over 4,300 digits
            what = "nested too deeply" if isinstance(exc, RecursionError) else _short(str(exc).split(";")[0], 120)
            raise WorkbenchError(f"{path} is not a readable config: {what}") from exc
        if not isinstance(values, dict):
            raise WorkbenchError(f"{path} must be a mapping of field: value")
        _check_keys(values, str(path))
        sets = parse_overrides(overrides or [])
        _check_keys(sets, "--set")  # a mistake on the command line is not the file's
        return cls.from_dict(values | sets, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        lines = [
            "# Resolved training config (workbench train). Every field's meaning: `workbench train --help-config`."
        ]
        lines.append(yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None).rstrip())
        return "\n".join(lines) + "\n"


def _out_of_bounds(f: dataclasses.Field, value: Any) -> str | None:
    """The sentence for a number outside its field's bounds (``gt``, ``ge``, ``lt`` in the metadata), else None."""
    bounds = f.metadata
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None  # None (resolved later) or not a number: _check_types judged it
    low = value > bounds["gt"] if "gt" in bounds else value >= bounds.get("ge", -math.inf)
    if low and value < bounds.get("lt", math.inf):
        return None
    if "lt" in bounds:
        rule = f"in {'(' if 'gt' in bounds else '['}{bounds.get('gt', bounds.get('ge'))}, {bounds['lt']})"
    else:
        rule = f"> {bounds['gt']}" if "gt" in bounds else f">= {bounds['ge']}"
    return f"{f.name} must be {rule} (got {value})" + (f"; {bounds['hint']}" if "hint" in bounds else "")


def default_lora_alpha(lora_r: int) -> int:
    """LoRA's usual alpha for rank ``lora_r``: 2r (docs/measurements.md), an update scale alpha / r of 2."""
    return 2 * lora_r


def check_against_model(config: TrainConfig, model) -> None:
    """Refuse what only the loaded model can judge, before any adapter is built: a ``max_length`` beyond its context,
    target modules it does not have (PEFT only fails when none matches, so one misspelt name among several would
    train silently on the rest), a LoRA rank beyond the layers that get an adapter."""
    import torch  # noqa: PLC0415  (heavy import kept off the CLI's start path, which reads configs)

    problems = []
    context = getattr(model.config, "max_position_embeddings", None)
    if context and config.max_length > context:
        problems.append(
            f"max_length={config.max_length} is beyond the model's context of {context} tokens: "
            f"use max_length <= {context}"
        )
    linear = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    if config.adaptation != "full":
        targets = config.lora_target_modules  # a string is 'all-linear' or a regex, which PEFT checks itself
        unknown = [t for t in targets if t not in names] if isinstance(targets, list) else []
        if unknown:
            problems.append(
                f"lora_target_modules names layers this model does not have: {', '.join(map(_short, unknown))}. "
                f"Its linear layers: {', '.join(sorted(linear))} (or all-linear)"
            )
        else:
            problems += _rank_problems(config, model)
    if problems:
        raise WorkbenchError("invalid training config for this model: " + "; ".join(problems))


def _rank_problems(config: TrainConfig, model) -> list[str]:
    """A rank above the smaller side of a layer that gets an adapter: an update B @ A has rank at most that, so the
    rest is waste. PEFT itself picks the layers, on a meta-device copy of the model (shapes, no memory), so even an
    absurd rank is refused before one adapter weight is allocated."""
    # Heavy imports kept off the CLI's start path, which reads configs.
    import torch  # noqa: PLC0415
    from peft import get_peft_model  # noqa: PLC0415
    from peft.tuners.lora import LoraLayer  # noqa: PLC0415
    from transformers import AutoModelForCausalLM  # noqa: PLC0415

    with torch.device("meta"):
        skeleton = get_peft_model(AutoModelForCausalLM.from_config(model.config), lora_config(config))
    for name, module in skeleton.named_modules():
        if isinstance(module, LoraLayer) and config.lora_r > min(module.in_features, module.out_features):
            smallest = min(module.in_features, module.out_features)
            return [
                f"lora_r={config.lora_r} is larger than layer {name.removeprefix('base_model.model.')} allows "
                f"({module.in_features} -> {module.out_features}): an update B @ A has rank at most {smallest}; "
                f"use lora_r <= {smallest} (8-64 is usual for real models)"
            ]
    return []


def _check_keys(values: dict, source: str) -> None:
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1) if isinstance(key, str) else []
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known fields: {', '.join(sorted(known))}"
            raise WorkbenchError(f"{source}: unknown field {_short(key)}{hint}")


def _short(value: Any, limit: int = 60) -> str:
    """A bounded repr for messages: a YAML alias can expand a value to gigabytes when printed."""
    if isinstance(value, (dict, list)):
        return f"a {type(value).__name__} of {len(value)}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["lora_r=8", "learning_rate=1e-4"]`` -> ``{"lora_r": 8, "learning_rate": 1e-4}``."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise WorkbenchError(f"--set {pair!r}: expected key=value, e.g. --set learning_rate=1e-4")
        key, raw = pair.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except (yaml.YAMLError, RecursionError, ValueError):
            value = raw
        out[key.strip()] = value
    return out


def help_text() -> str:
    """One line per field: name, default, help (for `workbench train --help-config` and the app)."""
    rows = []
    for f in dataclasses.fields(TrainConfig):
        rows.append(f"{f.name:24} {f.default!r:>14}  {f.metadata.get('help', '')}")
    return "\n".join(rows)


def _check_types(config: TrainConfig) -> None:
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        annotation = hints[f.name]
        coerced, ok = _coerce(value, annotation)
        if not ok:
            raise WorkbenchError(
                f"invalid training config: {f.name} = {_short(value)} should be {_describe(annotation)} "
                f"({f.metadata['help']})"
            )
        setattr(config, f.name, coerced)


# Hand-written rather than transformers.HfArgumentParser / TRL's TrlParser: their parse_dict and
# parse_yaml_file hand YAML values to the dataclass unchecked (a string lora_r trains until PEFT fails deep
# inside), and their command-line path is argparse, which exits the process on a bad value. The app and the
# lessons build TrainConfig from a form or a dict and need a sentence naming the field instead.
def _coerce(value: Any, annotation: Any) -> tuple[Any, bool]:
    """(value converted to the annotation, whether it fits). Ints pass as floats; YAML's 1e-4 string passes as float."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            coerced, ok = _coerce(value, arg)
            if ok:
                return coerced, True
        return value, False
    if origin is Literal:
        return value, value in typing.get_args(annotation)
    if origin is list:
        (item,) = typing.get_args(annotation)
        if not isinstance(value, list):
            return value, False
        return value, all(_coerce(v, item)[1] for v in value)
    if annotation is type(None):
        return value, value is None
    if annotation is bool:
        return value, isinstance(value, bool)
    if annotation is int:
        return value, isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        if isinstance(value, bool):
            return value, False
        try:
            if isinstance(value, (int, float)):
                return float(value), True
            if isinstance(value, str):  # PyYAML reads "1e-4" (no dot) as a string
                return float(value), True
        except (ValueError, OverflowError):  # not a number, or an integer beyond a float's range
            return value, False
        return value, False
    if annotation is str:
        return value, isinstance(value, str)
    return value, True


def _describe(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(annotation))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if origin is list:
        return "a list"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def load_run_config(run_dir: str | Path) -> TrainConfig:
    """The run's resolved TrainConfig."""
    return TrainConfig.from_dict(read_run_config(run_dir), source=str(config_path(run_dir)))


def find_run_config(path: str | Path) -> TrainConfig | None:
    """The TrainConfig of a run folder, or of the run an adapter folder sits in; None for a bare adapter folder."""
    folder = run_folder_of(path)
    return load_run_config(folder) if folder is not None else None
