"""`load_data`: any supported source in, a `datasets.Dataset` in TRL's columns plus a validation report out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset

from workbench.data.formats import Kind, get_format
from workbench.data.readers import RawRecord, read_source
from workbench.data.report import ValidationReport
from workbench.data.validation import validate


@dataclass
class DataBundle:
    """A loaded dataset ready for TRL, what kind it is, and what went wrong on the way.

    ``dataset`` columns by ``kind``: conversational -> ``messages``; prompt_completion -> ``prompt``,
    ``completion``; text -> ``text``; preference -> ``prompt``, ``chosen``, ``rejected`` (message lists
    when the source is chat-like, else strings). ``origins[i]`` says where row ``i`` came from.
    """

    dataset: Dataset
    kind: Kind | None
    source_format: str | None
    report: ValidationReport
    origins: list[RawRecord]

    def where(self, index: int) -> str:
        """Where row ``index`` of the dataset is in the source, e.g. 'line 12' or 'record 3'."""
        origin = self.origins[index]
        return f"line {origin.line}" if origin.line is not None else f"record {origin.index}"


def load_data(
    source: str | Path | list[dict],
    format: str | None = None,
    column_map: dict[str, str] | None = None,
    tokenizer=None,
    max_length: int | None = None,
) -> DataBundle:
    """Load, detect the format (or use ``format``), normalize and validate.

    Bad records are left out and reported; only a source that cannot be read at all (a missing file, not
    a dataset) raises ``WorkbenchError``. With a ``tokenizer`` and ``max_length``, records that truncation
    would cut are reported too.

    Example:
        >>> bundle = load_data("data_samples/sentiment_json.train.jsonl")
        >>> print(bundle.report.summary())
        >>> bundle = load_data(
        ...     [{"question": "2+2?", "answer": "4"}], column_map={"question": "prompt", "answer": "completion"}
        ... )
    """
    raw = read_source(source)
    fmt = get_format(format) if format else None
    records, origins, report = validate(raw, fmt, column_map, tokenizer, max_length)
    return DataBundle(Dataset.from_list(records), report.kind, report.source_format, report, origins)
