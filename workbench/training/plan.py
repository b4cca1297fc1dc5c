"""What a run will build, decided once from its config: the PEFT adapter config, the number of steps, and the
batch layout that fits its memory budget.

Training (pipeline.py) and the estimate shown before training (estimate.py) both read these, so the estimate
counts the adapter, the steps and the batch size that training really uses (as TRL keeps ``get_peft_config``
in one place).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

# KTOTrainer estimates its KL term by pairing each prompt with another row's answer in the same batch: a batch of
# one would pair an answer with itself (TRL refuses it), so a run, and its memory fit, keep at least two.
MIN_BATCH_SIZE = {"kto": 2}


MB = 2**20
# The default budget: this share of the memory available when training starts. The rest is headroom for what the
# estimate does not see (the app's other visitors, the learner's browser, the estimate's own error: docs/estimate.md).
AUTO_BUDGET_SHARE = 0.75


def lora_config(config):
    """The ``peft.LoraConfig`` of a LoRA or QLoRA run (None for full fine-tuning)."""
    if config.adaptation == "full":
        return None
    from peft import LoraConfig  # noqa: PLC0415  (PEFT, kept off the CLI's start path: config.py imports this module)

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
        task_type="CAUSAL_LM",
    )


# On the CPU, a short example's attention runs faster eager than through SDPA's CPU kernel, and padding-free rows
# cost more than padded batches: the CPU has no variable-length kernel, so a row attends across all its examples
# under a mask (benchmarks/attention.py; docs/benchmarks.md, "Training speed as shipped", has the timings). Longer
# examples keep the path measured end to end for them: padding-free with SDPA.
SHORT_EXAMPLE_TOKENS = 128


def batching(config, mean_tokens: float, device: str) -> tuple[bool, str]:
    """(padding-free batches, attention implementation) of a run whose examples average ``mean_tokens`` tokens.

    Padding-free batches (SFT only: TRL 1.16's DPO has none) save the pads' compute and memory, but on a CPU
    short examples train faster padded, with eager attention. ``config.padding_free`` overrides the first.
    """
    short = device == "cpu" and mean_tokens <= SHORT_EXAMPLE_TOKENS
    wanted = not short if config.padding_free is None else config.padding_free
    padding_free = config.method == "sft" and config.batch_size > 1 and wanted
    attention = "eager" if short and config.method == "sft" and not padding_free else "sdpa"
    return padding_free, attention


def planned_steps(config, n_train: int, world: int) -> int:
    """Optimizer steps the run will take: ``max_steps``, or the epochs over ``n_train`` examples."""
    if config.max_steps > 0:
        return config.max_steps
    per_epoch = math.ceil(n_train / (config.batch_size * world)) // config.gradient_accumulation
    return max(1, math.ceil(max(per_epoch, 1) * config.epochs))


def memory_budget_mb(config) -> tuple[float, str] | None:
    """(the run's peak-memory budget in MB, where it comes from), or None when ``memory_budget_gb`` is 0 (no fit)."""
    if config.memory_budget_gb is not None:
        if config.memory_budget_gb == 0:
            return None
        return config.memory_budget_gb * 1024, "memory_budget_gb"
    import torch  # noqa: PLC0415  (torch, kept off the CLI's start path)

    if torch.cuda.is_available():
        available, where = torch.cuda.mem_get_info()[0], "GPU memory free"
    else:
        import psutil  # noqa: PLC0415  (psutil, only when the memory is measured)

        available, where = psutil.virtual_memory().available, "memory available"
    share = AUTO_BUDGET_SHARE
    return (
        share * available / MB,
        f"{share:.0%} of the {available / 2**30:.1f} GB {where} now; memory_budget_gb sets it",
    )


@dataclass
class MemoryFit:
    """The settings a run trains with after fitting it to its memory budget, and the estimates that chose them."""

    config: object  # the TrainConfig that trains: batch_size, gradient_accumulation, gradient_checkpointing as chosen
    configured_mb: float  # the estimated peak as configured
    chosen_mb: float  # the estimated peak of ``config``
    budget_mb: float | None
    budget_source: str = ""
    changed: bool = False

    @property
    def fits(self) -> bool:
        return self.budget_mb is None or self.chosen_mb <= self.budget_mb

    def explain(self) -> str:
        """One sentence for the CLI, the app's estimate text and the run's notes."""
        if self.budget_mb is None:
            return ""
        budget = f"the budget of {self.budget_mb:,.0f} MB ({self.budget_source})"
        if not self.changed:
            return f"memory fit: ~{self.configured_mb:,.0f} MB estimated, within {budget}: trained as configured"
        c = self.config
        layout = (
            f"batch_size {c.batch_size} x gradient_accumulation {c.gradient_accumulation} (the same "
            f"{c.batch_size * c.gradient_accumulation} examples an update)"
        )
        if c.gradient_checkpointing:
            layout += " with gradient checkpointing (recomputes activations: slower, less memory)"
        said = f"memory fit: as configured ~{self.configured_mb:,.0f} MB, over {budget}; "
        if self.fits:
            return said + f"training with {layout}, ~{self.chosen_mb:,.0f} MB"
        return (
            said + f"even {layout} needs ~{self.chosen_mb:,.0f} MB and may run out of memory: use adaptation: "
            "qlora, a shorter max_length, or a larger memory_budget_gb"
        )


def fit_to_memory(config, peak_mb: Callable[[object], float], budget: tuple[float, str] | None) -> MemoryFit:
    """The fastest batch layout of ``config`` whose estimated peak (``peak_mb(variant)``) is within ``budget``.

    The effective batch (batch_size x gradient_accumulation) stays the same, so the updates are the same up to
    floating-point order. Tried in order: the configured layout, then smaller per-device batches that divide the
    effective batch, then the same with gradient checkpointing (on the CPU it costs ~25-35% of the speed,
    docs/benchmarks.md, while a smaller batch of a few hundred tokens keeps the matrix units busy). Where
    nothing fits, the smallest layout is returned and ``MemoryFit.fits`` is False.
    """
    configured = peak_mb(config)
    if budget is None:
        return MemoryFit(config, configured, configured, None)
    budget_mb, source = budget
    if configured <= budget_mb:
        return MemoryFit(config, configured, configured, budget_mb, source)
    effective = config.batch_size * config.gradient_accumulation
    least = MIN_BATCH_SIZE.get(config.method, 1)  # KTO's KL estimate needs a second row in every batch
    sizes = [b for b in range(config.batch_size, least - 1, -1) if effective % b == 0]
    checkpointing = [config.gradient_checkpointing] + ([True] if not config.gradient_checkpointing else [])
    variant, estimate = config, configured
    for gc in checkpointing:
        for size in sizes:
            if (size, gc) == (config.batch_size, config.gradient_checkpointing):
                continue
            variant = dataclasses.replace(
                config, batch_size=size, gradient_accumulation=effective // size, gradient_checkpointing=gc
            )
            estimate = peak_mb(variant)
            if estimate <= budget_mb:
                return MemoryFit(variant, configured, estimate, budget_mb, source, changed=True)
    return MemoryFit(variant, configured, estimate, budget_mb, source, changed=variant is not config)
