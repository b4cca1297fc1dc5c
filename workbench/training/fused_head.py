"""Make TRL's fused LM head score only the tokens that carry a loss, on CPUs too.

SFTTrainer and DPOTrainer replace the model's output layer with a chunked "fused LM head" that projects
hidden states onto the 49k-token vocabulary tile by tile. TRL 1.16 projects only the positions with a label
where Triton runs (CUDA/XPU) and every position elsewhere, to keep tile shapes fixed for compilers that
would recompile on each new shape (Neuron). Eager CPU code does not recompile, and with the loss on the
answer only, about 4 of 5 positions of the sample data are prompt: projecting them onto the vocabulary
made a DPO+LoRA step ~1.4x slower and its peak memory 1.5 GB higher here (docs/benchmarks.md). The values
are the same either way: positions without a label are zero in both paths.
"""

from __future__ import annotations

import trl.trainer.utils as trl_utils


def score_only_labelled_positions() -> None:
    """Switch TRL's position compaction on for the CPU (idempotent; a no-op if TRL no longer has the switch).

    TRL decides compaction with ``trl.trainer.utils._use_triton(device)`` and has no setting for it, so the
    decision is wrapped here; the kernels themselves keep their own check and stay in plain torch on CPU.
    """
    decide = getattr(trl_utils, "_use_triton", None)
    if decide is None or getattr(decide, "wraps_trl", False):
        return

    def compact_on_cpu(device) -> bool:
        return device.type == "cpu" or decide(device)

    compact_on_cpu.wraps_trl = True
    trl_utils._use_triton = compact_on_cpu
