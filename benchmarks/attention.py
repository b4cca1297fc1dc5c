"""Attention on the CPU (issue #23): SDPA's kernels against eager attention at a training step's shapes.

    python -m benchmarks.attention '{"repeats": 20}'

One layer of the embedded model's attention (9 heads of 64, bf16, causal), forward and backward, for the
shapes a step meets: a padded batch of short examples, a batch of long ones, and the short batch end to end in
one padding-free row under a block-diagonal mask (what transformers builds from the position ids where no
variable-length kernel exists). ``plan.batching`` chooses padded batches with eager attention from these.
"""

from __future__ import annotations

import time

HEADS, HEAD_DIM = 9, 64
# (name, rows, tokens a row, examples in a row): the sample data's batch of 8 (~70 tokens), the identity-like
# data's fitted batch (2 x 256), and the batch of 8 as one padding-free row.
SHAPES = (("padded 8 x 70", 8, 70, 1), ("padded 2 x 256", 2, 256, 1), ("padding-free 1 x 560 (8 examples)", 1, 560, 8))


def _mask(tokens: int, examples: int):
    """Additive causal mask, block-diagonal when a row holds several examples end to end."""
    import torch

    example = torch.arange(tokens) // (tokens // examples)
    allowed = (example[:, None] == example[None, :]) & torch.ones(tokens, tokens, dtype=torch.bool).tril()
    return torch.zeros(tokens, tokens, dtype=torch.bfloat16).masked_fill(~allowed, float("-inf"))


def _milliseconds(fn, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return round((time.perf_counter() - start) / repeats * 1e3, 2)


def run(repeats: int = 20, log=print) -> dict:
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    torch.manual_seed(0)
    results = {}
    for name, rows, tokens, examples in SHAPES:
        q, k, v = (
            torch.randn(rows, HEADS, tokens, HEAD_DIM, dtype=torch.bfloat16, requires_grad=True) for _ in range(3)
        )
        grad = torch.randn_like(q)
        mask = _mask(tokens, examples)  # a mask tensor, as transformers passes for padded batches too

        def sdpa(q=q, k=k, v=v, mask=mask, grad=grad):
            F.scaled_dot_product_attention(q, k, v, attn_mask=mask).backward(grad)

        def eager(
            q=q, k=k, v=v, mask=mask, grad=grad
        ):  # as transformers' eager attention computes it: scores, mask, softmax in fp32, values
            scores = (q @ k.transpose(-1, -2)) * HEAD_DIM**-0.5 + mask
            (torch.softmax(scores.float(), dim=-1).to(q.dtype) @ v).backward(grad)

        with sdpa_kernel(SDPBackend.MATH):
            math = _milliseconds(sdpa, repeats)
        results[name] = {
            "sdpa_ms": _milliseconds(sdpa, repeats),
            "sdpa_math_ms": math,
            "eager_ms": _milliseconds(eager, repeats),
        }
        log(f"{name}: {results[name]} (forward + backward, one layer)")
    return {"shapes": results}


if __name__ == "__main__":
    from benchmarks import machine

    machine.run_and_write(run, "attention.json")
