"""The one door every event of the app passes through: numbers are checked before any handler sees them, and a
refusal is logged in one line.

Gradio checks a Number's or a Slider's bounds, but NaN compares false with both and so passes, Infinity crashes
the rounding of a whole-number input, and a string or null crashes the comparison: a script sends any of them as
raw JSON. Every event reaches its handler through ``Blocks.process_api`` (queued or not, each step of a stream
included), so checking there covers every tab, those added later too. Refusals (``gr.Error``, Gradio's own bound
and choice checks, a ``WorkbenchError`` that reaches Gradio) are sentences for the visitor: Gradio would print a
traceback for each, so any visitor could grow the server's log; here each is one line of the ``workbench.refused``
logger, and only real bugs keep their traceback.
"""

from __future__ import annotations

import logging
import math

import gradio as gr

from workbench.errors import WorkbenchError

log = logging.getLogger("workbench.refused")
LOGGED_CHARS = 200  # of a refusal's message: it may quote what the visitor sent


class GuardedBlocks(gr.Blocks):
    """``gr.Blocks`` whose events refuse a number that is not finite and log refusals in one line."""

    async def process_api(self, block_fn, inputs, state=None, **kwargs):
        fn = self.fns[block_fn] if isinstance(block_fn, int) else block_fn
        try:
            check_numbers(fn, inputs, state)
            return await super().process_api(block_fn, inputs, state, **kwargs)
        except gr.Error as exc:
            _log_refusal(fn, exc.message)
            exc.print_exception = False
            raise
        except WorkbenchError as exc:
            _log_refusal(fn, str(exc))
            raise gr.Error(str(exc), print_exception=False) from exc


def check_numbers(fn, inputs: list, state) -> None:
    """Refuse (``gr.Error``) a value of a Number or Slider input that is not a finite number.

    The bounds themselves are Gradio's check, in the component's own preprocess; they are named here so the
    sentence says what to send instead. ``state`` holds the session's copy of a component a handler updated.
    """
    for block, value in zip(fn.inputs, inputs):
        if not isinstance(block, (gr.Number, gr.Slider)):
            continue
        if state is not None and block._id in state:
            block = state[block._id]
        finite = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not finite:
            label = getattr(block.label, "key", block.label) or "a number input"
            raise gr.Error(f"{label} must be a finite number{_bounds(block)} (got {repr(value)[:40]})")


def _bounds(block) -> str:
    low, high = block.minimum, block.maximum
    if low is not None and high is not None:
        return f" from {low:g} to {high:g}"
    if low is not None:
        return f" of at least {low:g}"
    if high is not None:
        return f" of at most {high:g}"
    return ""


def _log_refusal(fn, message: str) -> None:
    # One line whatever the visitor sent: its newlines cannot forge further lines and its length is cut.
    text = " ".join(str(message).split())
    log.warning("refused %s: %s", fn.api_name or fn.name, text[:LOGGED_CHARS])
