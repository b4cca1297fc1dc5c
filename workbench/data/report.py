"""The validation report: every problem found in a data source, where it is, and what was kept."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

# "error": the record was left out of the dataset. "warning": the record was kept, but look at it.
Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Issue:
    """One problem, located so a learner can open the file and find it.

    ``line`` is the 1-based line in a JSONL/CSV/JSON file (None where the source has no lines, such as an
    in-memory list, a Parquet file or a Hub dataset); ``index`` is the 0-based record index.
    """

    message: str
    file: str | None = None
    line: int | None = None
    index: int | None = None
    field: str | None = None
    severity: Severity = "error"
    code: str = "invalid"  # a stable short name ("not_json", "missing_field", ...) for tests and summaries

    def location(self) -> str:
        where = self.file or "<records>"
        if self.line is not None:
            where += f":{self.line}"
        elif self.index is not None:
            where += f" record {self.index}"
        if self.field:
            where += f" field '{self.field}'"
        return where

    def __str__(self) -> str:
        return f"{self.location()}: {self.severity}: {self.message}"


@dataclass
class ValidationReport:
    """All issues of one load, and the counts a summary needs."""

    source: str
    issues: list[Issue] = field(default_factory=list)
    records_read: int = 0
    usable: int = 0
    source_format: str | None = None
    kind: str | None = None

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when at least one record is usable; issues in other records do not make the data unusable."""
        return self.usable > 0

    def summary(self) -> str:
        dropped = self.records_read - self.usable
        fmt = f" as {self.source_format} ({self.kind})" if self.source_format else ""
        lines = [f"{self.source}{fmt}: {self.records_read} records read, {self.usable} usable, {dropped} left out."]
        for severity, issues in (("errors", self.errors), ("warnings", self.warnings)):
            if issues:
                counts = Counter(i.code for i in issues)
                detail = ", ".join(f"{n} {code}" for code, n in counts.most_common())
                lines.append(f"{len(issues)} {severity}: {detail}")
        if not self.usable:
            lines.append("Nothing usable remains: fix the errors above.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return "\n".join([*(str(i) for i in self.issues), self.summary()])
