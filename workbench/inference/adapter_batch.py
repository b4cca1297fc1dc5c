"""Each row of a batch through its own LoRA adapter (or none), in two batched matrix products a layer.

PEFT answers a mixed-adapter batch (``generate(..., adapter_names=[...])``) by looping over the adapters in
every LoRA layer: pick the adapter's rows, run its lora_A and lora_B on them, write them back, about a dozen
small operations per adapter per layer for every new token. Decoding on a CPU, where a token's arithmetic is
small, those calls cost more than the arithmetic: base + two adapters in one batch took 6.0-7.8 s against 3.2 s
with adapters off (docs/benchmarks.md). Here every LoRA layer stacks, once per batch, the A and B matrices of
each row's adapter (zeros for rows the base answers, the scaling folded into B) and adds ``x @ A_row @ B_row``
to the base layer's output: PEFT's arithmetic in a few operations, as multi-adapter servers batch LoRA
(Punica's BGMV kernels, vLLM's multi-LoRA). Sides with other adapters answer one after another.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial

import torch

# PEFT's name for "no adapter" in a mixed batch (peft/tuners/lora/model.py).
PEFT_BASE = "__base__"


def can_share_a_batch(model, adapter_names: Sequence[str]) -> bool:
    """Whether every adapter named is plain LoRA on linear layers, which :func:`per_row_adapters` batches.

    DoRA, LoRA biases, embeddings and modules_to_save are not (PEFT's own mixed batch refuses DoRA too):
    the sides of such adapters answer one after another.
    """
    # PEFT, kept off the CLI's start path (export imports the bench).
    from peft.utils.other import AuxiliaryTrainingWrapper  # noqa: PLC0415

    names = set(adapter_names) - {PEFT_BASE}
    if any(isinstance(m, AuxiliaryTrainingWrapper) for m in model.modules()):
        return False
    for layer in _lora_layers(model):
        for name in names:
            if name in layer.lora_embedding_A or name in layer.lora_variant or name in layer.merged_adapters:
                return False
            if name in layer.lora_A and (
                not isinstance(layer.lora_A[name], torch.nn.Linear) or layer.lora_B[name].bias is not None
            ):
                return False
    return True


@contextmanager
def per_row_adapters(model, adapter_names: Sequence[str], scales: Sequence[float] | None = None) -> Iterator[None]:
    """Inside the block, row i of every batch ``model`` (a PeftModel) runs goes through ``adapter_names[i]``.

    ``scales[i]`` multiplies row i's LoRA term, as PEFT's ``set_scale`` multiplies ``lora_alpha / r``: since the
    scaling is folded into each row's B, one adapter at several scales still shares the batch.
    """
    if not can_share_a_batch(model, adapter_names):
        raise ValueError("only plain LoRA adapters on linear layers can share a batch (see can_share_a_batch)")
    scales = list(scales) if scales is not None else [1.0] * len(adapter_names)
    if len(scales) != len(adapter_names):
        raise ValueError(f"{len(scales)} scales for {len(adapter_names)} rows")
    handles = []
    try:
        for layer in _lora_layers(model):
            stacked = _stack(layer, adapter_names, scales)
            if stacked is not None:
                handles.append(layer.register_forward_hook(partial(_add_per_row, *stacked)))
        with model.disable_adapter():  # the base layers answer; the hooks add each row's LoRA term
            yield
    finally:
        for handle in handles:
            handle.remove()


def _lora_layers(model) -> list:
    # PEFT, kept off the CLI's start path (export imports the bench).
    from peft.tuners.lora import LoraLayer  # noqa: PLC0415

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


def _stack(layer, adapter_names: Sequence[str], scales: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(A, B) of shapes (rows, in, rank) and (rows, rank, out); None when no row uses an adapter of this layer."""
    rows = [(i, name) for i, name in enumerate(adapter_names) if name in layer.lora_A]
    if not rows:
        return None
    first_a, first_b = layer.lora_A[rows[0][1]].weight, layer.lora_B[rows[0][1]].weight
    rank = max(layer.lora_A[name].weight.shape[0] for _, name in rows)  # adapters may differ in rank: pad with zeros
    a_rows = first_a.new_zeros(len(adapter_names), first_a.shape[1], rank)
    b_rows = first_a.new_zeros(len(adapter_names), rank, first_b.shape[0])
    for i, name in rows:
        a, b = layer.lora_A[name].weight, layer.lora_B[name].weight
        a_rows[i, :, : a.shape[0]] = a.T
        b_rows[i, : b.shape[1]] = b.T * (layer.scaling[name] * scales[i])
    return a_rows, b_rows


def _add_per_row(a_rows: torch.Tensor, b_rows: torch.Tensor, module, args, output: torch.Tensor) -> torch.Tensor:
    x = args[0]
    if x.shape[0] != a_rows.shape[0]:
        raise ValueError(
            f"a batch of {x.shape[0]} rows reached a layer set up for {a_rows.shape[0]} (one adapter name per row)"
        )
    # As PEFT's single-adapter path: the LoRA term in the adapter's dtype, added before rounding to the output's.
    delta = torch.bmm(torch.bmm(x.reshape(x.shape[0], -1, x.shape[-1]).to(a_rows.dtype), a_rows), b_rows)
    return (output + delta.view(output.shape)).to(output.dtype)
