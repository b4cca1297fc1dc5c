"""Dataset statistics (record count, token lengths, what exceeds ``max_length``) and a seeded train/eval split."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from datasets import Dataset

from workbench.data.loading import DataBundle
from workbench.data.masking import tokenize_for_training
from workbench.errors import WorkbenchError


@dataclass
class LengthStats:
    """Token lengths of the records as the trainer tokenizes them (the longer side of a preference pair)."""

    lengths: list[int]
    trained_tokens: list[int]
    max_length: int | None

    @property
    def count(self) -> int:
        return len(self.lengths)

    @property
    def over_max_length(self) -> int:
        return 0 if self.max_length is None else sum(n > self.max_length for n in self.lengths)

    def as_dict(self) -> dict[str, float | int | None]:
        if not self.lengths:
            return {"records": 0}
        ordered = sorted(self.lengths)
        return {
            "records": self.count,
            "min": ordered[0],
            "mean": round(statistics.fmean(ordered), 1),
            "median": statistics.median(ordered),
            "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "max": ordered[-1],
            "total_tokens": sum(ordered),
            "trained_tokens": sum(self.trained_tokens),
            "max_length": self.max_length,
            "over_max_length": self.over_max_length,
        }

    def __str__(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in self.as_dict().items())


def length_stats(bundle: DataBundle | Dataset, tokenizer, max_length: int | None = None) -> LengthStats:
    """Measure every record's length in tokens, the way training will see it.

    Example:
        >>> print(length_stats(bundle, tokenizer, max_length=256))
    """
    dataset = bundle.dataset if isinstance(bundle, DataBundle) else bundle
    lengths, trained = [], []
    for record in dataset:
        sequences = tokenize_for_training(record, tokenizer)
        lengths.append(max(len(ids) for _, _, ids, _ in sequences))
        trained.append(sum(sum(mask) for _, _, _, mask in sequences))
    return LengthStats(lengths, trained, max_length)


def length_histogram(stats: LengthStats, title: str = "Token lengths"):
    """A histogram of token lengths with ``max_length`` drawn in, as a matplotlib Figure.

    Built with ``matplotlib.figure.Figure`` rather than pyplot, so the app can draw from several threads
    and notebooks do not pile up open figures.
    """
    # Matplotlib only draws the app's chart: kept off the data package's import.
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(6, 3.2), layout="constrained")
    ax = figure.subplots()
    if stats.lengths:
        ax.hist(stats.lengths, bins=min(40, max(5, len(set(stats.lengths)))), color="#3b82f6")
    if stats.max_length is not None:
        ax.axvline(
            stats.max_length,
            color="#ef4444",
            linestyle="--",
            label=f"max_length {stats.max_length} ({stats.over_max_length} over)",
        )
        ax.legend(loc="upper right")
    ax.set(title=f"{title} ({stats.count} records)", xlabel="tokens per record", ylabel="records")
    return figure


def train_eval_split(
    dataset: Dataset | DataBundle, eval_fraction: float = 0.1, seed: int = 0
) -> tuple[Dataset, Dataset]:
    """Shuffle with ``seed`` and hold out ``eval_fraction`` of the records (at least one) for evaluation."""
    dataset = dataset.dataset if isinstance(dataset, DataBundle) else dataset
    if not 0 < eval_fraction < 1:
        raise WorkbenchError(f"eval_fraction must be between 0 and 1, got {eval_fraction}")
    if len(dataset) < 2:
        raise WorkbenchError(f"cannot split {len(dataset)} record(s) into train and eval: add more data")
    eval_size = max(1, round(len(dataset) * eval_fraction))
    split = dataset.train_test_split(test_size=eval_size, seed=seed, shuffle=True)
    return split["train"], split["test"]
