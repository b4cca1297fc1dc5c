"""Peak memory and time of a run, estimated before training and measured after, side by side.

The estimate is arithmetic, not magic. Memory: the runtime's baseline + the weights + gradients and Adam's
two moments of the trainable part + the tensors autograd saves for the backward pass, counted layer by
layer from the model's own modules (the bf16 copies autocast makes of fp32 weights among them), + on the
CPU the memory malloc keeps after a step's temporaries are freed. The measured peak is the process's
resident set on the CPU (everything above counts) and the allocated tensors on CUDA (no baseline, no malloc).
Time: the FLOPs of the training steps and of the evaluations, divided by the throughput measured on this
kind of machine. docs/estimate.md holds the measurements behind every constant.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from workbench.hardware import choose_precision
from workbench.models import resolve_model
from workbench.training.plan import fit_to_memory, lora_config, memory_budget_mb, planned_steps

MB = 2**20
# Effective training throughput per CPU core in FLOP/s, from LoRA SFT of the 135M model on 2 cores at 4N FLOPs
# a token (tokens/s of real tokens, so padding and per-op overheads of short sequences are included):
# fp32 on an AVX2 EPYC without native bf16 (docs/measurements.md);
_CPU_FLOPS_PER_CORE_FP32 = 90 * 4 * 135e6 / 2
# bf16 autocast on a Zen 4 EPYC with AVX512-BF16, quiet (the workbench's choice there), LoRA's frozen base in
# bf16: the benchmark suite's rate, which configs/sft_lora.yaml matches between evaluations (docs/estimate.md).
_CPU_FLOPS_PER_CORE_BF16 = 200 * 4 * 135e6 / 2
# Those SFT rates were measured with LoRA dropout 0.05, whose random numbers are a large share of a CPU step; the
# default has none (DPO's rate above never had it), and the same bf16 step runs this much faster without it
# (benchmarks/train_step.py, docs/benchmarks.md "Training speed as shipped").
_CPU_SFT_WITHOUT_DROPOUT_SPEEDUP = 1.6
# Evaluation is a forward pass without autograd or dropout, and runs faster per FLOP than training: the ratio of
# configs/sft_lora.yaml's measured evaluations to 2N FLOPs a token at the rate above (docs/estimate.md).
_EVAL_SPEEDUP = 1.9
_GPU_FLOPS = 50e12  # a conservative share of a modern GPU's bf16 peak
_STEP_OVERHEAD_S = 0.3  # Python, data collation, optimizer, logging per step: dominates tiny models
# RSS of a training process before its weights: torch, transformers, TRL and PEFT imported, the tokenizer loaded
# and the data tokenized by the time the trainer is built (docs/estimate.md, "Baseline").
_BASELINE_BYTES = 900 * MB
# On the CPU, malloc keeps the memory of a step's freed temporaries (casts, attention and MLP intermediates)
# resident between the tensors saved for backward, and some of it whatever the batch: a fixed part and a share of
# the bytes saved for backward, fitted by least squares to measured peaks of SFT+LoRA, QLoRA and DPO+LoRA at small
# and large batches (docs/estimate.md "Small batches": the fit's error, and why a share alone took a fitted run
# over its budget).
_CPU_ALLOCATOR_FIXED_BYTES = 248 * MB
_CPU_ALLOCATOR_PER_SAVED_BYTE = 0.76
# Batches are padded to their longest sequence; the peak comes from the longest batch of the run. Where the
# longest example is not known, this ratio to the mean, between the sample data's SFT and DPO ratios
# (docs/estimate.md, "The longest batch").
_LONGEST_BATCH_OVER_MEAN = 1.3


@dataclass
class Estimate:
    peak_memory_mb: float
    seconds: float
    tokens_per_second: float
    total_params: int
    trainable_params: int
    tokens: int
    longest_batch_tokens: int  # sequences x padded length of the largest batch: what sets the peak
    breakdown_mb: dict[str, float]
    fit: str = ""  # what fitting the run to its memory budget chose, and why (plan.MemoryFit.explain)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"estimate: peak memory ~{self.peak_memory_mb:,.0f} MB, ~{self.seconds / 60:.1f} min "
            f"(~{self.tokens_per_second:,.0f} tokens/s for {self.tokens:,} tokens, evaluations included; "
            f"{self.trainable_params:,} of {self.total_params:,} parameters trainable)"
        ) + (f"\n{self.fit}" if self.fit else "")


def estimate_run(
    model,
    config,
    steps: int,
    mean_tokens: float,
    device: str,
    world_size: int = 1,
    eval_examples: int = 0,
    longest_tokens: int | None = None,
) -> Estimate:
    """Estimate one process's peak memory and the run's time for a model already prepared for training.

    ``mean_tokens`` is the mean tokenized length of a training example (for DPO: prompt + chosen),
    ``eval_examples`` the size of the evaluation set (0: no evaluation) and ``longest_tokens`` the longest
    example as batches are padded (for DPO: prompt + the longer answer).
    """
    if hasattr(model, "get_nb_trainable_parameters"):
        # PEFT's own count: it unpacks bitsandbytes' two-weights-per-byte storage, which numel() would halve.
        trainable, total = model.get_nb_trainable_parameters()
    else:
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # bitsandbytes packs two 4-bit weights per byte in uint8 "parameters": element_size already says 1 byte per
    # two weights, so this is right for QLoRA too.
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    if device == "cpu" and config.adaptation == "qlora":
        weights += _mapped_checkpoint_bytes(getattr(model.config, "_name_or_path", ""), config.compute_dtype())
    # A gradient and Adam's two moments per trainable weight, in the weight's dtype (fp32 master weights under
    # autocast; TRL stores QLoRA adapters in bf16).
    optimizer = sum(3 * p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    per_token, per_step = _saved_for_backward(model, config, device)
    seqs = config.batch_size * (2 if config.method == "dpo" else 1)  # DPO: chosen and rejected in one batch
    longest_batch = seqs * min(longest_tokens or mean_tokens * _LONGEST_BATCH_OVER_MEAN, config.max_length)
    activations = per_token * longest_batch + per_step
    on_cpu = device == "cpu"
    baseline = _BASELINE_BYTES if on_cpu else 0
    allocator = _CPU_ALLOCATOR_FIXED_BYTES + activations * _CPU_ALLOCATOR_PER_SAVED_BYTE if on_cpu else 0
    peak = baseline + weights + optimizer + activations + allocator

    seconds, tokens, rate = _time(config, steps, mean_tokens, device, world_size, eval_examples, total)
    return Estimate(
        peak_memory_mb=round(peak / MB, 1),
        seconds=round(seconds, 1),
        tokens_per_second=round(rate, 1),
        total_params=total,
        trainable_params=trainable,
        tokens=tokens,
        longest_batch_tokens=round(longest_batch),
        breakdown_mb={
            "baseline": round(baseline / MB, 1),
            "weights": round(weights / MB, 1),
            "gradients_and_optimizer": round(optimizer / MB, 1),
            "activations": round(activations / MB, 1),
            "allocator_overhead": round(allocator / MB, 1),
        },
    )


def _saved_for_backward(model, config, device: str) -> tuple[float, float]:
    """(bytes autograd keeps per token of a batch, bytes it keeps per step whatever the batch) until backward.

    Counted for a decoder of Llama's shape, as saved_tensors_hooks listed them on the embedded model (within 3%
    for LoRA, QLoRA, full and DPO under bf16 autocast and for QLoRA in fp32): the two RMSNorms keep their fp32 input;
    attention keeps q, k and v repeated to every head and its output; the gated MLP keeps three
    intermediate-sized tensors, in the compute dtype. A frozen linear keeps no input, but under autocast an
    fp32 weight keeps its bf16 copy (LoRA's frozen base loads in bf16 and 4-bit layers keep their packed
    weight: no copy); a trainable one keeps its input. A LoRA branch keeps its input cast to the adapter's
    dtype and, on the CPU, dropout's noise tensor of that dtype (CUDA's kernel keeps a 1-byte mask).
    """
    from peft.tuners.lora import LoraLayer  # noqa: PLC0415  (PEFT, kept off the app's start path)

    autocast = config.precision in ("bf16", "fp16")
    act = 2 if autocast else 4  # bytes of an activation in the compute dtype
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    hidden = cfg.hidden_size
    layers = cfg.num_hidden_layers
    heads_dim = cfg.num_attention_heads * (getattr(cfg, "head_dim", None) or hidden // cfg.num_attention_heads)
    intermediate = getattr(cfg, "intermediate_size", None) or 4 * hidden
    norm = 8 if config.adaptation == "full" else 4  # a trainable norm weight also keeps the normalised input
    # bitsandbytes' 4-bit layers return their input's dtype (fp32 from the norms), and SiLU and the product are
    # no autocast ops: QLoRA's MLP intermediates stay fp32, while attention (an autocast op) runs in bf16.
    mlp = 4 if config.adaptation == "qlora" else act
    per_token = layers * (2 * norm * hidden + 4 * heads_dim * act + 3 * intermediate * mlp)
    per_step = 0
    head = model.get_output_embeddings()  # TRL's fused LM head scores in tiles: no (tokens x vocab) tensor kept
    lora_bases, adapter_linears = set(), set()
    for module in model.modules():
        if isinstance(module, LoraLayer) and module.active_adapters:
            adapter = module.active_adapters[0]
            lora_bases.add(id(module.get_base_layer()))
            adapter_linears.update(id(m) for m in [*module.lora_A.values(), *module.lora_B.values()])
            adapter_bytes = module.lora_A[adapter].weight.element_size()
            dropout = module.lora_dropout[adapter]
            noise = (1 if device == "cuda" else adapter_bytes) if getattr(dropout, "p", 0) > 0 else 0
            per_token += module.in_features * (noise + min(act, adapter_bytes))
    for module in model.modules():
        if not isinstance(module, torch.nn.Linear) or module is head or id(module) in adapter_linears:
            continue  # the adapters' own tensors are counted with their LoRA layer above
        frozen = id(module) in lora_bases or not module.weight.requires_grad
        if not frozen:
            per_token += module.in_features * act
        # Autocast copies fp32 weights to bf16; LoRA's frozen bf16 base and QLoRA's 4-bit weights need no copy.
        if autocast and config.adaptation != "qlora" and module.weight.dtype == torch.float32:
            per_step += 2 * module.in_features * module.out_features
    if config.gradient_checkpointing:
        # Only each layer's fp32 input is kept; one layer at a time is recomputed with its weight copies. Measured
        # checkpointed runs peaked well above that (docs/estimate.md, "Small batches"): a per-token part that
        # checkpointing does not shrink, the size of 1.5 vocabulary-wide fp32 rows (the LM head's and the
        # loss's scale), fitted to them. Without checkpointing the allocator's share absorbs it.
        per_token = layers * 4 * hidden + per_token / layers + 1.5 * 4 * head.out_features
        per_step /= layers
    return per_token, per_step


def _time(config, steps, mean_tokens, device, world_size, eval_examples, total) -> tuple[float, int, float]:
    """(seconds, non-padding training tokens, tokens/s over the whole run) from FLOPs and measured throughput."""
    full = config.adaptation == "full"
    # Forward 2N; backward 2N for the activations' gradients, +2N for the weights' when they train (N = parameters).
    train_flops = (6 if full else 4) * total + (2 * total if config.gradient_checkpointing else 0)
    eval_flops = 2 * total
    if config.method == "dpo":
        train_flops += 2 * total  # the reference model's forward pass
        eval_flops += 2 * total
    elif config.method == "kto":
        # Forward passes without gradients beside the trained one: the reference model's, and the policy's and the
        # reference's on a mismatched answer (the KL estimate).
        train_flops += 6 * total
        eval_flops += 6 * total
    train_speedup = 1.0
    if device == "cuda":
        throughput = _GPU_FLOPS
    else:
        per_core = _CPU_FLOPS_PER_CORE_BF16 if config.precision == "bf16" else _CPU_FLOPS_PER_CORE_FP32
        # No QLoRA discount: de-quantising costs per weight and pass, shared by a batch's hundreds of tokens (it
        # halves generation, one token a pass); QLoRA and LoRA steps took as long in the same probe runs.
        throughput = per_core * torch.get_num_threads()
        if (
            config.method == "sft"
            and config.adaptation != "full"
            and config.lora_dropout == 0
            and config.precision == "bf16"
        ):
            train_speedup = _CPU_SFT_WITHOUT_DROPOUT_SPEEDUP
    seqs = 2 if config.method == "dpo" else 1  # DPO: chosen and rejected (mean_tokens counts prompt + chosen)
    tokens = world_size * steps * config.gradient_accumulation * config.batch_size * seqs * mean_tokens
    # The Trainer evaluates at the start and every eval_steps; each process evaluates its share.
    evaluations = (1 + steps // config.eval_steps) if eval_examples else 0
    eval_tokens = evaluations * eval_examples * seqs * mean_tokens
    flops = tokens * train_flops / train_speedup + eval_tokens * eval_flops / _EVAL_SPEEDUP
    seconds = flops / (throughput * world_size) + steps * _STEP_OVERHEAD_S
    return seconds, int(tokens), tokens / seconds


def _mapped_checkpoint_bytes(path: str, load_dtype: torch.dtype) -> int:
    """Bytes of a local safetensors checkpoint that stay resident after a 4-bit load on the CPU.

    safetensors maps the file; tensors loaded in the file's own dtype (embeddings, norms) are views of that
    mapping, which keeps every page the quantizer read resident: the measured RSS of the mapped file was the
    same with a 4-bit base as with the fp32 weights of LoRA. Tensors of another dtype are copies, and the
    mapping goes with the loader.
    """
    code = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}[load_dtype]  # safetensors' names
    folder = Path(path or ".")
    total = 0
    for file in sorted(folder.glob("*.safetensors")) if path and folder.is_dir() else []:
        with safe_open(str(file), "pt") as f:
            names = list(f.keys())
            if names and f.get_slice(names[0]).get_dtype() == code:
                total += file.stat().st_size
    return total


def token_lengths(dataset, max_length: int, rows: int = 4096) -> tuple[float, int]:
    """(mean, longest) tokenized length of a training example; TRL has already tokenized the dataset.

    For preference pairs the mean is prompt + chosen (the tokens counted as trained), the longest is prompt +
    the longer answer: TRL pads a batch's chosen and rejected answers to one length. KTO rows: prompt + answer.
    """
    columns = getattr(dataset, "column_names", None) or []
    if "input_ids" in columns:
        lengths = [len(x) for x in dataset["input_ids"][:rows]]
        longest = lengths
    else:
        # TRL 0.x, TRL 1.x, and KTO's one answer (no rejected column: the answer is its own longer side)
        answers = [c for c in ("chosen_input_ids", "chosen_ids", "completion_ids") if c in columns]
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


def peak_memory_mb(device: str = "cpu") -> float:
    """Measured peak memory of this process: GPU memory on CUDA, else the peak resident set size."""
    if device == "cuda" and torch.cuda.is_available():
        return round(torch.cuda.max_memory_allocated() / MB, 1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(rss / (MB if sys.platform == "darwin" else 2**10), 1)


def estimate_config(
    config,
    n_train: int,
    mean_tokens: float,
    n_eval: int | None = None,
    longest_tokens: int | None = None,
    fit: bool = True,
) -> Estimate:
    """Estimate a run from its config alone, before any weights are loaded (the app's "before you start").

    The model is built on PyTorch's meta device (shapes without memory) and wrapped as training would wrap
    it, so the parameter counts are exact. Weights are in the dtype training holds them in (LoRA's frozen base
    in the compute dtype, everything else fp32); QLoRA's quantized linears are counted at 4 bits as
    bitsandbytes stores them, and its adapters in bf16 where TRL's SFTTrainer casts them. ``n_eval``
    defaults to the share ``eval_fraction`` holds out. With ``fit`` (the default) the estimate is of the
    settings training will use after fitting the run to its memory budget (plan.fit_to_memory), and
    ``Estimate.fit`` says what was changed and why.

    Example:
        >>> config = TrainConfig(data="sentiment_json", max_steps=30)
        >>> print(estimate_config(config, n_train=180, mean_tokens=90).summary())
    """
    estimate_for = config_estimator(config, n_train, mean_tokens, n_eval, longest_tokens)
    if not fit:
        return estimate_for(config.resolved())
    chosen = fit_to_memory(config.resolved(), lambda c: estimate_for(c).peak_memory_mb, memory_budget_mb(config))
    estimate = estimate_for(chosen.config)
    estimate.fit = chosen.explain()
    return estimate


def config_estimator(
    config, n_train: int, mean_tokens: float, n_eval: int | None = None, longest_tokens: int | None = None
) -> Callable[[Any], Estimate]:
    """A function from a variant of ``config`` (batch size, accumulation, checkpointing) to its estimate.

    The meta-device model is built once: the settings a memory fit varies change activations, not weights.
    """
    # The auto classes of transformers, loaded when an estimate is made.
    from transformers import AutoConfig, AutoModelForCausalLM  # noqa: PLC0415

    config = config.resolved()
    path, _ = resolve_model(config.model)
    # LoRA's frozen base stays in the compute dtype (load_model's frozen_base); full fine-tuning keeps fp32
    # master weights, and PEFT's prepare_model_for_kbit_training upcasts QLoRA's unquantized weights to fp32.
    load_dtype = config.compute_dtype() if config.adaptation == "lora" else torch.float32
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path), dtype=load_dtype)
    model.config._name_or_path = path
    head = model.get_output_embeddings()
    quantized = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head]
    lora = lora_config(config)
    if lora is not None:
        from peft import get_peft_model  # noqa: PLC0415  (PEFT, kept off the app's start path)

        if config.method in ("dpo", "kto"):
            lora.lora_dropout = 0.0  # TRL's DPO/KTOConfig switch dropout off (disable_dropout=True), the adapters' too
        model = get_peft_model(model, lora)
    if config.adaptation == "qlora" and config.method in ("sft", "kto"):
        for p in model.parameters():
            if p.requires_grad:  # TRL's SFT/KTOTrainer keep QLoRA adapters in bf16 (the QLoRA paper's recipe)
                p.data = p.data.to(torch.bfloat16)
    device = choose_precision().device
    if n_eval is None:
        n_eval = round(n_train * config.eval_fraction / (1 - config.eval_fraction)) if config.eval_fraction < 1 else 0
    # bitsandbytes stores each quantized linear (all but the output head) at 4 bits: 0.5 byte a weight.
    saved_mb = sum(m.weight.numel() for m in quantized) * (4 - 0.5) / MB if config.adaptation == "qlora" else 0.0

    def estimate_for(variant) -> Estimate:
        steps = planned_steps(variant, n_train, 1)
        estimate = estimate_run(
            model, variant, steps, mean_tokens, device, eval_examples=n_eval, longest_tokens=longest_tokens
        )
        if saved_mb:
            estimate.peak_memory_mb = round(estimate.peak_memory_mb - saved_mb, 1)
            estimate.breakdown_mb["weights"] = round(estimate.breakdown_mb["weights"] - saved_mb, 1)
        return estimate

    return estimate_for
