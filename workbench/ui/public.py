"""Public-Space mode: caps that keep one shared server usable when strangers can reach it.

On when ``WORKBENCH_PUBLIC=1``, or automatically on a Hugging Face Space (which sets ``SPACE_ID``). A
Space has a couple of CPU cores for everyone, so a run is capped to minutes, data and uploads to what
such a run can use, and visitors never name files on the server: they pick a sample or upload.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Caps:
    max_steps: int | None  # None: no cap (epochs allowed)
    max_rows: int | None
    max_upload_mb: float | None
    max_length: int
    max_prompt_chars: int | None  # a whole chat conversation or compare prompt; the model reads every token of it
    generations: int  # answers generated at once, across chat, compare and evaluate; more only share the same cores
    queue_size: int | None  # requests waiting beyond that; more are told the server is full instead of piling up


PUBLIC_CAPS = Caps(max_steps=30, max_rows=500, max_upload_mb=5, max_length=256, max_prompt_chars=8000, generations=2,
                   queue_size=64)
LOCAL_CAPS = Caps(max_steps=None, max_rows=None, max_upload_mb=None, max_length=2048, max_prompt_chars=None,
                  generations=4, queue_size=None)


def is_public() -> bool:
    return os.environ.get("WORKBENCH_PUBLIC", "") not in ("", "0") or bool(os.environ.get("SPACE_ID"))


def caps() -> Caps:
    """The caps in force now (read at call time, so tests can switch modes with the environment)."""
    return PUBLIC_CAPS if is_public() else LOCAL_CAPS


def describe() -> str:
    c = caps()
    if not is_public():
        return ""
    return (f"Public mode: runs stop at {c.max_steps} steps, data is cut to {c.max_rows} rows, uploads up to "
            f"{c.max_upload_mb:g} MB, max_length up to {c.max_length}.")


def check_prompt(texts: list[str]) -> None:
    """Refuse a prompt (or a conversation) over the length cap, before the model spends minutes reading it."""
    from workbench.errors import WorkbenchError

    limit = caps().max_prompt_chars
    size = sum(len(t) for t in texts)
    if limit is not None and size > limit:
        raise WorkbenchError(f"the prompt is {size} characters long; this server takes up to {limit} "
                             "(in the Chat tab, press Clear to start a new conversation)")


def apply_caps(config):
    """The TrainConfig with the caps in force: in public mode every run ends within ``max_steps``."""
    import dataclasses

    c = caps()
    changes = {"max_length": min(config.max_length, c.max_length)}
    if c.max_steps is not None:
        changes["max_steps"] = c.max_steps if config.max_steps <= 0 else min(config.max_steps, c.max_steps)
    return dataclasses.replace(config, **changes)
