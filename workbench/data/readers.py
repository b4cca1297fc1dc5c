"""Read a data source (JSONL, JSON, CSV, Parquet, a Python list or a Hub dataset) into located raw records.

Files are read here rather than by ``datasets.load_dataset`` for JSONL and JSON because one bad line makes
that loader fail the whole file; reading line by line keeps the good records and names the bad line.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.data.report import Issue
from workbench.errors import WorkbenchError

SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
IN_MEMORY = "<records>"
_BOM = b"\xef\xbb\xbf"
# The first bytes of files people upload by mistake, so the report can say what the file really is.
_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"PK\x03\x04": "a zip archive (unpack it and pass the data file inside)",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive (unpack it first)",
}


@dataclass
class RawRecord:
    """One record as read, with where it came from."""

    value: Any
    index: int
    line: int | None = None


@dataclass
class RawSource:
    """Everything read from a source: its name, records, and problems with the source as a whole."""

    name: str
    records: list[RawRecord] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def file(self) -> str | None:
        """The name to put in issues: None for in-memory records, which have no file."""
        return None if self.name == IN_MEMORY else self.name


def read_source(source: str | Path | list[dict]) -> RawSource:
    """Read records from a path, an in-memory list or a Hub dataset ID."""
    if isinstance(source, list):
        raw = RawSource(IN_MEMORY)
        raw.records = [RawRecord(value, i) for i, value in enumerate(source)]
        return raw
    if not isinstance(source, (str, Path)):
        raise WorkbenchError(f"cannot read data from a {type(source).__name__}: pass a file path, a list of dicts or a Hub dataset ID")
    path = Path(source).expanduser()
    if path.is_file():
        return _read_file(path)
    if path.exists():
        raise WorkbenchError(f"{source} is a folder: pass one data file ({', '.join(SUFFIXES)})")
    if str(source).endswith(SUFFIXES) or str(source).startswith((".", "/", "~")):
        raise WorkbenchError(f"data file {source} not found")
    return _read_hub(str(source))


def _read_file(path: Path) -> RawSource:
    raw = RawSource(str(path))
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path, raw)
    if suffix not in SUFFIXES:
        raise WorkbenchError(f"{path}: unknown file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    # Editors on Windows often start UTF-8 files with a byte-order mark; it is not part of the data.
    data = path.read_bytes().removeprefix(_BOM)
    if not data.strip():
        raw.issues.append(Issue("the file is empty", file=raw.name, code="empty_file"))
        return raw
    kind = next((what for magic, what in _BINARY_MAGIC.items() if data.startswith(magic)), None)
    if kind:
        raw.issues.append(Issue(f"this is not a text dataset: it looks like {kind}", file=raw.name, code="not_a_dataset"))
        return raw
    if suffix == ".jsonl" and data.lstrip().startswith(b"["):
        # A JSON array saved as .jsonl, the mirror image of the JSON Lines-as-.json slip below.
        raw.issues.append(Issue("this .jsonl file holds one JSON array, not one object per line: read it as JSON; "
                                "rename it to .json", file=raw.name, severity="warning", code="json_as_jsonl"))
        _read_json(data, raw)
    elif suffix == ".jsonl":
        _read_jsonl(data, raw)
    elif suffix == ".json":
        _read_json(data, raw)
    else:
        _read_csv(data, raw)
    return raw


def _undecodable_line(data: bytes, error: UnicodeDecodeError) -> int:
    return data[: error.start].count(b"\n") + 1


def _read_jsonl(data: bytes, raw: RawSource) -> None:
    index = -1
    for number, line_bytes in enumerate(data.split(b"\n"), start=1):
        if not line_bytes.strip():
            continue  # blank lines (a trailing newline, spacing) are harmless
        index += 1
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            raw.issues.append(Issue(f"not UTF-8 text (byte {line_bytes[exc.start]:#x} at column {exc.start + 1}); "
                                    "save the file as UTF-8", file=raw.name, line=number, index=index, code="not_utf8"))
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raw.issues.append(Issue(f"not JSON: {exc.msg} at column {exc.colno}", file=raw.name, line=number,
                                    index=index, code="not_json"))
            continue
        raw.records.append(RawRecord(value, index, number))


def _read_json(data: bytes, raw: RawSource) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raw.issues.append(Issue("not UTF-8 text: save the file as UTF-8", file=raw.name,
                                line=_undecodable_line(data, exc), code="not_utf8"))
        return
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            # One object per line in a .json file: JSON Lines under the wrong name, a common slip.
            raw.issues.append(Issue("this looks like JSON Lines (one object per line): read it as such; "
                                    "rename it to .jsonl", file=raw.name, severity="warning", code="jsonl_as_json"))
            _read_jsonl(data, raw)
            return
        raw.issues.append(Issue(f"not valid JSON: {exc.msg} at column {exc.colno}", file=raw.name, line=exc.lineno,
                                code="not_json"))
        return
    if isinstance(value, dict):
        lists = [k for k, v in value.items() if isinstance(v, list)]
        if len(lists) != 1:
            raw.issues.append(Issue("expected a list of records (or an object holding one list of them)",
                                    file=raw.name, line=1, code="wrong_type"))
            return
        raw.issues.append(Issue(f"reading the records from the top-level key '{lists[0]}'", file=raw.name,
                                field=lists[0], severity="warning", code="nested_list"))
        value = value[lists[0]]
    if not isinstance(value, list):
        raw.issues.append(Issue(f"expected a list of records, got a JSON {type(value).__name__}", file=raw.name,
                                line=1, code="wrong_type"))
        return
    # A JSON list has no line per record; locate each by where its object starts in the text.
    starts = _record_lines(text, len(value))
    raw.records = [RawRecord(v, i, starts[i] if starts else None) for i, v in enumerate(value)]


def _record_lines(text: str, count: int) -> list[int] | None:
    """The line each top-level list element starts on, found by decoding the list element by element."""
    decoder = json.JSONDecoder()
    lines, pos = [], text.index("[") + 1
    try:
        for _ in range(count):
            while text[pos] in " \t\r\n,":
                pos += 1
            lines.append(text.count("\n", 0, pos) + 1)
            _, pos = decoder.raw_decode(text, pos)
    except (ValueError, IndexError):
        return None
    return lines


def _read_csv(data: bytes, raw: RawSource) -> None:
    try:
        text = data.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError as exc:
        raw.issues.append(Issue("not UTF-8 text: save the file as UTF-8", file=raw.name,
                                line=_undecodable_line(data, exc), code="not_utf8"))
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    line = 2  # the header is line 1; reader.line_num is the line a row *ends* on (quoted newlines)
    for index, row in enumerate(reader):
        if None in row:
            raw.issues.append(Issue(f"{len(row[None])} more values than the header has columns", file=raw.name,
                                    line=line, index=index, code="wrong_type"))
            del row[None]
        # Empty cells are missing values, not empty strings: an optional column (Alpaca's input) may be blank.
        raw.records.append(RawRecord({k: v for k, v in row.items() if v not in (None, "")}, index, line))
        line = reader.line_num + 1
    if not raw.records:
        raw.issues.append(Issue("the file has a header line but no records", file=raw.name, line=1, code="empty_file"))


def _read_parquet(path: Path, raw: RawSource) -> RawSource:
    from datasets import Dataset

    try:
        dataset = Dataset.from_parquet(str(path))
    except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
        raise WorkbenchError(f"{path} is not a readable Parquet file: {exc}") from exc
    raw.records = [RawRecord(v, i) for i, v in enumerate(dataset.to_list())]
    if not raw.records:
        raw.issues.append(Issue("the file holds no records", file=raw.name, code="empty_file"))
    return raw


def _read_hub(name: str) -> RawSource:
    from datasets import load_dataset

    try:
        dataset = load_dataset(name, split="train")
    except Exception as exc:  # offline, unknown ID, private: the user needs the reason, whatever its type
        raise WorkbenchError(f"{name!r} is not a local file, and loading it from the Hugging Face Hub failed: {exc}") from exc
    raw = RawSource(name)
    raw.records = [RawRecord(v, i) for i, v in enumerate(dataset)]
    return raw
