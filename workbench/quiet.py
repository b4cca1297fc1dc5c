"""Silence the start-up noise of the libraries underneath that a learner cannot act on, each case named and explained.

Installed once by ``import workbench`` (:func:`install`). Nothing here is a blanket filter: each rule matches one
message from one library, and says below why the message is noise here. Anything else still prints.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager

from transformers.utils import logging as hf_logging

# bitsandbytes 0.50, on a CPU with AVX512-BF16, tries at import to fetch a faster 4-bit matmul from the Hub
# (`kernels-community/quantization-bitsandbytes` through the optional `kernels` package) and logs a warning when it
# cannot; it then uses its own bundled CPU kernel, which is what QLoRA trains with here (docs/benchmarks.md). The
# workbench works offline and does not install `kernels`, so the line printed at every command said nothing
# actionable.
_BITSANDBYTES_CPU_LOGGER = "bitsandbytes.backends.cpu.ops"
_BITSANDBYTES_KERNELS_MESSAGE = "Failed to load CPU gemm_4bit_forward from kernels-community"

# PEFT 0.21 reads `model.is_gradient_checkpointing` whenever it wraps a model (PeftModel, get_peft_model, the
# mixed model), and TRL 1.16 calls `gradient_checkpointing_enable`/`_disable` when a run checkpoints;
# transformers 5 renamed them (`activation_checkpointing...`) and warns on the old names. The calls are inside
# PEFT and TRL, not in anything a user wrote: `workbench compare` printed it once per adapter.
_RENAMED_PROPERTY = r"`(is_)?gradient_checkpointing(_enable|_disable)?` is deprecated"

# transformers 5 draws a per-tensor "Loading weights" bar for every from_pretrained. From a local folder that takes
# about a second for the embedded model, and the workbench prints the load time itself (LoadedModel.summary); a
# download from the Hub keeps huggingface_hub's own bars, which is where a person waits. Its "Writing model shards"
# bar at every save (export, full fine-tuning's checkpoints) is one step long for a one-file model: shown only
# for models saved in several shards, where writing takes long enough to watch.
_LOADING_BAR = "Loading weights"
_SAVING_BAR = "Writing model shards"


class _DropMessage(logging.Filter):
    """Drop the records of one logger whose message starts with a given text."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def _hide_loading_bar(factory, args, kwargs, previous=None):
    """transformers' tqdm hook: the weights-loading bar and one-shard saving bars are disabled, others made as
    before."""
    desc = kwargs.get("desc")
    one_shard = desc == _SAVING_BAR and args and hasattr(args[0], "__len__") and len(args[0]) <= 1
    if desc == _LOADING_BAR or one_shard:
        kwargs = {**kwargs, "disable": True}
    return previous(factory, args, kwargs) if previous else factory(*args, **kwargs)


_installed = False


def install() -> None:
    """Install the rules above (idempotent). Needs only the logging and warnings modules and transformers."""
    global _installed
    if _installed:
        return
    _installed = True
    logging.getLogger(_BITSANDBYTES_CPU_LOGGER).addFilter(_DropMessage(_BITSANDBYTES_KERNELS_MESSAGE))
    warnings.filterwarnings(
        "ignore", message=_RENAMED_PROPERTY, category=FutureWarning, module=r"transformers\.modeling_utils"
    )

    previous = hf_logging.set_tqdm_hook(None)
    hf_logging.set_tqdm_hook(lambda factory, args, kwargs: _hide_loading_bar(factory, args, kwargs, previous))


# TRL prepares a dataset in four `datasets.map` passes (tokenize, build labels, truncate, drop fully masked), each
# with its own bar, for the training and the evaluation set: eight bars for the sample data's 300 rows, done in
# under a second. Above this many rows preparing takes long enough that the bars show a person something.
_SMALL_DATA_ROWS = 5_000


@contextmanager
def data_bars_if_slow(rows: int):
    """Inside the block, `datasets`' progress bars show only for a dataset of ``_SMALL_DATA_ROWS`` rows or more."""
    # Datasets is heavy: kept off the CLI's start path.
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars  # noqa: PLC0415

    hide = rows < _SMALL_DATA_ROWS and not are_progress_bars_disabled()
    if hide:
        disable_progress_bars()
    try:
        yield
    finally:
        if hide:
            enable_progress_bars()
