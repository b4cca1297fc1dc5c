"""Peak memory and time of a run, estimated before training and measured after, side by side.

The estimate is arithmetic, not magic: weights + gradients + Adam state of the trainable part + the
activations of one batch + the Python/torch baseline; time from the FLOPs a token costs (4N for LoRA,
6N for full fine-tuning, +2N with gradient checkpointing) divided by the throughput measured on this
kind of machine (../shared/FACTS.md: ~90 tokens/s for LoRA on the 135M model in fp32 on 2 cores).
"""

from __future__ import annotations

import resource
import sys
from dataclasses import asdict, dataclass

import torch

# Effective training throughput per CPU core, in FLOP/s, measured (FACTS.md): 90 tok/s * 4 * 135e6 / 2 cores.
_CPU_FLOPS_PER_CORE_FP32 = 90 * 4 * 135e6 / 2
_CPU_BF16_SPEEDUP = 1.6  # measured on a Zen 4 with AVX512-BF16 (hardware.py)
_GPU_FLOPS = 50e12  # a conservative share of a modern GPU's bf16 peak
_STEP_OVERHEAD_S = 0.3  # Python, data collation, optimizer, logging per step: dominates tiny models
_BASELINE_BYTES = 700 * 2**20  # Python + torch + transformers + TRL, before any model


@dataclass
class Estimate:
    peak_memory_mb: float
    seconds: float
    tokens_per_second: float
    total_params: int
    trainable_params: int
    tokens: int
    breakdown_mb: dict[str, float]

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"estimate: peak memory ~{self.peak_memory_mb:,.0f} MB, ~{self.seconds / 60:.1f} min "
            f"(~{self.tokens_per_second:,.0f} tokens/s for {self.tokens:,} tokens; "
            f"{self.trainable_params:,} of {self.total_params:,} parameters trainable)"
        )


def estimate_run(model, config, steps: int, mean_tokens: float, device: str, world_size: int = 1) -> Estimate:
    """Estimate one process's peak memory and the run's time for a model already prepared for training."""
    if hasattr(model, "get_nb_trainable_parameters"):
        # PEFT's own count: it unpacks bitsandbytes' two-weights-per-byte storage, which numel() would halve.
        trainable, total = model.get_nb_trainable_parameters()
    else:
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    # bitsandbytes packs two 4-bit weights per byte in uint8 "parameters": element_size already says 1 byte per
    # two weights, so `weights` is right for QLoRA too. Trainable: fp32 copy + gradient + Adam's two moments.
    optimizer = trainable * (4 + 4 + 8)
    cfg = model.config
    hidden = getattr(cfg, "hidden_size", 576)
    layers = getattr(cfg, "num_hidden_layers", 30)
    vocab = getattr(cfg, "vocab_size", 49152)
    seqs = config.batch_size * (2 if config.method == "dpo" else 1)
    tokens_per_batch = seqs * min(mean_tokens * 1.3, config.max_length)  # padding to the longest in the batch
    bytes_per_act = 2 if config.precision in ("bf16", "fp16") else 4
    # ~34 values per token per layer are kept for the backward pass (Korthikanti et al. 2022), only the
    # layer inputs with checkpointing; the logits (and their softmax and gradient) often dominate small models.
    per_layer = 2 if config.gradient_checkpointing else 34
    activations = tokens_per_batch * hidden * layers * per_layer * bytes_per_act
    logits = tokens_per_batch * vocab * 4 * 3
    peak = _BASELINE_BYTES + weights + optimizer + activations + logits

    full = config.adaptation == "full"
    flops_per_token = (6 if full else 4) * total + (2 * total if config.gradient_checkpointing else 0)
    if config.method == "dpo":
        flops_per_token += 2 * total  # the reference model's forward pass
    if device == "cuda":
        throughput = _GPU_FLOPS
    else:
        throughput = _CPU_FLOPS_PER_CORE_FP32 * torch.get_num_threads()
        if config.precision == "bf16":
            throughput *= _CPU_BF16_SPEEDUP
        if config.adaptation == "qlora":
            throughput /= 2  # de-quantising 4-bit weights on every pass (FACTS: generation ~2x slower)
    tokens = int(steps * config.gradient_accumulation * world_size * tokens_per_batch)
    tokens_per_second = throughput * world_size / flops_per_token
    mb = 2**20
    seconds = tokens / tokens_per_second + steps * _STEP_OVERHEAD_S
    return Estimate(
        peak_memory_mb=round(peak / mb, 1),
        seconds=round(seconds, 1),
        tokens_per_second=round(tokens_per_second, 1),
        total_params=total,
        trainable_params=trainable,
        tokens=tokens,
        breakdown_mb={
            "baseline": round(_BASELINE_BYTES / mb, 1),
            "weights": round(weights / mb, 1),
            "gradients_and_optimizer": round(optimizer / mb, 1),
            "activations": round(activations / mb, 1),
            "logits": round(logits / mb, 1),
        },
    )


def peak_memory_mb(device: str = "cpu") -> float:
    """Measured peak memory of this process: GPU memory on CUDA, else the peak resident set size."""
    if device == "cuda" and torch.cuda.is_available():
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)


def estimate_config(config, n_train: int, mean_tokens: float) -> Estimate:
    """Estimate a run from its config alone, before any weights are loaded (the app's "before you start").

    The model is built on PyTorch's meta device (shapes without memory) and wrapped as training would wrap
    it, so the parameter counts are exact. Meta weights have the training dtype (fp32); QLoRA's base is
    counted at 4 bits instead, as bitsandbytes would store it.

    Example:
        >>> print(estimate_config(TrainConfig(data="sentiment_json", max_steps=30), n_train=180, mean_tokens=90).summary())
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    from workbench.hardware import choose_precision
    from workbench.models import resolve_model
    from workbench.training.run import _planned_steps

    config = config.resolved()
    path, _ = resolve_model(config.model)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))
    if config.adaptation != "full":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, target_modules=config.lora_target_modules, task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
    estimate = estimate_run(model, config, _planned_steps(config, n_train, 1), mean_tokens, choose_precision().device)
    if config.adaptation == "qlora":
        frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
        saved_mb = frozen * (4 - 0.5) / 2**20  # fp32 -> 4-bit NF4
        estimate.peak_memory_mb = round(estimate.peak_memory_mb - saved_mb, 1)
        estimate.breakdown_mb["weights"] = round(estimate.breakdown_mb["weights"] - saved_mb, 1)
    return estimate
