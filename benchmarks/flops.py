"""Model FLOPs a trained token costs, for model-FLOPs utilisation (MFU): useful arithmetic / measured peak.

Counted as the issue defines it, with N the weights of every matrix multiply (the LM head included) and
N_lora the adapter's: a LoRA step is forward 2N + activation gradients 2N (frozen weights need no weight
gradients) + 6 N_lora, full fine-tuning 6N. Attention adds 4·L·T·d a token forward (QKᵀ and AV over a
context of T) and twice that backward. DPO adds the reference forward (2N + 4·L·T·d). Recomputation by
gradient checkpointing is not useful arithmetic and is not counted.
"""

from __future__ import annotations

import collections
import functools


@functools.cache
def model_shape(lora_r: int = 16) -> dict:
    """N, N_lora, layers, width and the linear layers' shapes as (in, out, count) of the embedded model, read from
    its config on the meta device (no weights)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from workbench.models import ensure_default_model

    config = AutoConfig.from_pretrained(ensure_default_model())
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    linears = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    n = sum(m.in_features * m.out_features for m in linears.values())
    # PEFT's all-linear leaves out the output layer.
    n_lora = sum(lora_r * (m.in_features + m.out_features) for name, m in linears.items() if name != "lm_head")
    shapes = collections.Counter((m.in_features, m.out_features) for m in linears.values())
    return {
        "n": n,
        "n_lora": n_lora,
        "layers": config.num_hidden_layers,
        "d_model": config.hidden_size,
        "linear_shapes": sorted((i, o, count) for (i, o), count in shapes.items()),
    }


def flops_per_token(suite: str, seq_len: float) -> float:
    """Model FLOPs per trained token for a benchmark suite at a mean sequence length of ``seq_len`` tokens."""
    s = model_shape()
    n, n_lora = s["n"], s["n_lora"]
    attention_forward = 4 * s["layers"] * seq_len * s["d_model"]
    if suite == "sft-full":
        return 6 * n + 3 * attention_forward
    lora = 4 * n + 6 * n_lora + 3 * attention_forward
    if suite == "dpo-lora":
        return lora + 2 * n + attention_forward
    return lora
