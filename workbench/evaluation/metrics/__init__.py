"""Local `evaluate` metric modules, so ROUGE-L and BLEU load offline (`evaluate.load("rouge")` fetches from the Hub).

Each metric is a folder holding a script of the same name, the layout ``evaluate.load(path)`` expects.
"""

from __future__ import annotations

from pathlib import Path


def metric_path(name: str) -> str:
    """The folder of a bundled metric, for ``evaluate.load``."""
    return str(Path(__file__).parent / name)
