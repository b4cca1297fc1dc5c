"""What this machine can do, and the precision and device chosen from it (never from library defaults).

TRL's configs default to bf16. On a CPU without native bf16 that made LoRA training ~13x slower than
fp32 (docs/measurements.md), so the choice is made here, from the hardware, and reported to the user.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
from dataclasses import dataclass

import torch

from workbench.errors import WorkbenchError

# The first CUDA compute capability with bf16 units (Ampere). Below it (T4 7.5, V100 7.0) training uses fp16.
GPU_BF16_CAPABILITY = (8, 0)


@dataclass(frozen=True)
class Precision:
    """The device and dtype the workbench uses on this machine, and why."""

    device: str  # "cuda", "mps" or "cpu"
    dtype: torch.dtype
    reason: str

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")


def cpu_flags() -> set[str]:
    """The CPU feature flags the kernel reports (empty where /proc/cpuinfo does not exist)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_native_bf16() -> bool:
    """True where the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX), so bf16 is fast, not emulated."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


@functools.cache
def choose_precision() -> Precision:
    """Pick device and dtype from the hardware; ``WORKBENCH_DTYPE`` (float32, bfloat16, float16) overrides."""
    if torch.cuda.is_available():
        device = "cuda"
        # Compute capability, not torch.cuda.is_bf16_supported(): since torch 2.15 that counts emulation, and says
        # True on a T4 (7.5), which has no bf16 units. bf16 units came with Ampere (8.0).
        capability = torch.cuda.get_device_capability()
        if capability >= GPU_BF16_CAPABILITY:
            dtype, reason = torch.bfloat16, f"GPU with native bf16 (compute capability {capability[0]}.{capability[1]})"
        else:
            dtype, reason = (
                torch.float16,
                f"GPU without bf16 units (compute capability {capability[0]}.{capability[1]}): fp16 mixed precision",
            )
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device, dtype, reason = "mps", torch.float32, "Apple GPU: fp32 is the reliable choice for training"
    else:
        device = "cpu"
        if cpu_has_native_bf16():
            # With native bf16, LoRA steps run faster under bf16 autocast than in fp32; without it the same autocast
            # is many times slower (docs/measurements.md, docs/estimate.md).
            dtype, reason = torch.bfloat16, "CPU with native bf16 (AVX512-BF16/AMX): bf16 mixed precision"
        else:
            dtype, reason = torch.float32, "CPU without native bf16: fp32 (TRL's bf16 default would be ~13x slower)"
    override = os.environ.get("WORKBENCH_DTYPE")
    if override:
        if override not in ("float32", "bfloat16", "float16"):
            raise WorkbenchError(f"WORKBENCH_DTYPE={override!r}: use float32, bfloat16 or float16")
        dtype, reason = getattr(torch, override), f"set by WORKBENCH_DTYPE={override}"
    return Precision(device=device, dtype=dtype, reason=reason)


def bitsandbytes_problem(device: str | None = None) -> str | None:
    """Why bitsandbytes quantization cannot run here, or None when it can."""
    if importlib.util.find_spec("bitsandbytes") is None:
        return "bitsandbytes is not installed (pip install bitsandbytes)"
    device = device or choose_precision().device
    if device == "mps":
        return "bitsandbytes has no Apple GPU (MPS) backend"
    try:
        # An optional dependency: importing it checks that its native library loads.
        import bitsandbytes  # noqa: F401, PLC0415
    except Exception as exc:  # bitsandbytes raises several kinds when its library cannot load
        return f"bitsandbytes cannot load on this machine: {exc}"
    return None


def describe() -> dict[str, object]:
    """A summary of the hardware and the choices made from it, for `workbench info` and the app."""
    precision = choose_precision()
    info: dict[str, object] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "device": precision.device,
        "dtype": precision.dtype_name,
        "why": precision.reason,
    }
    if precision.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = f"{props.name}, {props.total_memory / 2**30:.0f} GiB"
    problem = bitsandbytes_problem(precision.device)
    info["quantization"] = "available (bitsandbytes 4-bit NF4 and 8-bit)" if problem is None else problem
    return info
