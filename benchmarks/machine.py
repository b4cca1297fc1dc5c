"""What machine a result was measured on, how busy it was, and the matrix-multiply peak that MFU is taken against."""

from __future__ import annotations

import os
import platform
import time
from importlib.metadata import version


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> dict:
    """CPU, cores, the flags that decide bf16 speed, memory, library versions: the table's header."""
    import torch

    from workbench.hardware import choose_precision, cpu_flags

    flags = cpu_flags()
    interesting = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"]
    with open("/proc/meminfo", encoding="utf-8") as f:
        mem_kb = int(f.readline().split()[1])
    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "flags": [f for f in interesting if f in flags],
        "memory_gib": round(mem_kb / 2**20, 1),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "workbench_precision": choose_precision().dtype_name,
        "python": platform.python_version(),
    }
    for lib in ("torch", "transformers", "trl", "peft", "bitsandbytes", "datasets", "gradio"):
        info[lib] = version(lib)
    return info


def machine_name() -> str:
    """A short file-name-safe name for the results file: cpu-cores[-gpu]."""
    import re

    import torch

    name = cpu_model().lower().replace("amd ", "").replace("intel(r) ", "").replace("(r)", "")
    name = re.sub(r"[^a-z0-9]+", "-", name).strip("-")[:24] or "cpu"
    name = f"{name}-{os.cpu_count()}c"
    if torch.cuda.is_available():
        name += "-" + re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(0).lower()).strip("-")
    return name


def load() -> list[float]:
    """The 1/5/15-minute load averages: on a shared machine, how much else was running."""
    return [round(x, 2) for x in os.getloadavg()]


def best_seconds(fn, repeats: int) -> float:
    """The fastest of ``repeats`` timed calls of ``fn``, after one untimed call (thread pool, kernels, caches)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_gflops(dtype_name: str, n: int = 2048, repeats: int = 5) -> float:
    """Best-of rate of an n^3 matrix multiply in GFLOP/s: the arithmetic ceiling MFU is measured against."""
    import torch

    dtype = getattr(torch, dtype_name)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)

    def multiply():
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()  # CUDA runs asynchronously: wait for the product before the clock stops

    return round(2 * n**3 / best_seconds(multiply, repeats) / 1e9, 1)


def linear_matmul_gflops(
    shapes: list[tuple[int, int, int]], tokens: int, dtype_name: str = "bfloat16", repeats: int = 5
) -> float:
    """Best-of rate in GFLOP/s of a LoRA step's frozen-weight matmuls at a batch of ``tokens`` tokens.

    For each linear layer (``shapes``: in, out, count) the forward product and the activation gradient's, in the
    model's own shapes: the ceiling the step's matmuls can reach here, below the 2048^3 probe's when the
    matrices are small.
    """
    import torch

    dtype = getattr(torch, dtype_name)
    cases = [
        (
            torch.randn(tokens, i, dtype=dtype),
            torch.randn(o, i, dtype=dtype),
            torch.randn(tokens, o, dtype=dtype),
            count,
        )
        for i, o, count in shapes
    ]

    def once():
        for x, w, grad, count in cases:
            for _ in range(count):
                x @ w.T
                grad @ w

    flops = sum(4 * tokens * i * o * count for i, o, count in shapes)
    return round(flops / best_seconds(once, repeats) / 1e9, 1)


def run_and_write(run, default_out: str) -> None:
    """A benchmark script's command line: settings as one JSON argument ("out" names the results file, default
    ``benchmarks/results/<default_out>``), the result written with the machine and the load before and after."""
    import json
    import sys
    from pathlib import Path

    settings = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    out = Path(settings.pop("out", Path(__file__).parent / "results" / default_out))
    result = {"machine": describe(), "loadavg_start": load(), "settings": settings}
    result |= run(**settings, log=lambda m: print(m, flush=True))
    result["loadavg_end"] = load()
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written {out}")
