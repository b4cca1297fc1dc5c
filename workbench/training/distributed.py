"""Where this process stands in a data-parallel launch (torchrun or accelerate): read in one place.

The launchers say it through environment variables; a plain `python` run is rank 0 of 1.
"""

from __future__ import annotations

import os


def rank() -> int:
    """This process's index among all processes (0 on the main one)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """How many processes train together."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True on the one process that writes the run folder and prints."""
    return rank() == 0
