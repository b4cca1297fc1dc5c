"""Read a data source (JSONL, JSON, CSV, Parquet, a Python list or a Hub dataset) into located raw records.

Files are read here rather than by ``datasets.load_dataset`` for JSONL and JSON because one bad line makes
that loader fail the whole file; reading line by line keeps the good records and names the bad line.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from datasets import load_dataset

from workbench.data.formats import short
from workbench.data.report import Issue
from workbench.errors import WorkbenchError

SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


@dataclass(frozen=True)
class ReadLimits:
    """How much of a source is read, decided before parsing it, so a small file cannot cost minutes or gigabytes.

    ``max_bytes`` bounds the decompressed bytes (text files are read up to it; a Parquet row group is read only
    when its uncompressed size, from the file's metadata, still fits), ``max_rows`` the records read. Nesting
    deeper than ``max_depth``, integers longer than ``max_digits`` and more than ``max_record_chars`` characters of
    text in one record make that record bad, not the file (tokenizing a 1 MB record to keep its first 256 tokens
    costs seconds of CPU).
    """

    max_bytes: int
    max_rows: int
    max_record_chars: int
    max_depth: int = 32
    max_digits: int = 64


# A laptop user's own files: far beyond what a CPU fine-tune uses, still bounded.
LOCAL_LIMITS = ReadLimits(max_bytes=1 << 30, max_rows=1_000_000, max_record_chars=10_000_000)
# A public server: uploads are capped at 5 MB compressed; this bounds what they may expand to. Runs there train at
# max_length 256 tokens (~1,000 characters), so a record of 32,000 characters is already 30 times what is used.
PUBLIC_LIMITS = ReadLimits(max_bytes=16 << 20, max_rows=2_000, max_record_chars=32_000)


def default_limits() -> ReadLimits:
    """The limits of the server mode in force (public mode: WORKBENCH_PUBLIC=1 or a Space), read at call time."""
    public = os.environ.get("WORKBENCH_PUBLIC", "") not in ("", "0") or bool(os.environ.get("SPACE_ID"))
    return PUBLIC_LIMITS if public else LOCAL_LIMITS


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


def read_source(source: str | Path | list[dict], limits: ReadLimits | None = None) -> RawSource:
    """Read records from a path, an in-memory list or a Hub dataset ID, within ``limits`` (default: the mode's)."""
    limits = limits or default_limits()
    if isinstance(source, list):
        raw = RawSource(IN_MEMORY)
        for i, value in enumerate(source):
            _add(raw, value, i, None, limits)
        return raw
    if not isinstance(source, (str, Path)):
        raise WorkbenchError(
            f"cannot read data from a {type(source).__name__}: pass a file path, a list of dicts or a Hub dataset ID"
        )
    path = Path(source).expanduser()
    if path.is_file():
        return _read_file(path, limits)
    if path.exists():
        raise WorkbenchError(f"{source} is a folder: pass one data file ({', '.join(SUFFIXES)})")
    if str(source).endswith(SUFFIXES) or str(source).startswith((".", "/", "~")):
        raise WorkbenchError(f"data file {source} not found")
    return _read_hub(str(source), limits)


def _add(raw: RawSource, value: Any, index: int, line: int | None, limits: ReadLimits) -> None:
    """Keep a parsed record, or report it when it is valid JSON no loader downstream can take, or one whose
    meaning is ambiguous (a key written twice)."""
    problem = hostile_value(value, limits)
    if problem:
        raw.issues.append(Issue(problem, file=raw.file, line=line, index=index, code="hostile_value"))
        return
    repeated = _repeated_key(value)
    if repeated:
        field_name, key = repeated
        raw.issues.append(
            Issue(
                f"the key {short(key)} is written twice in one object: which value is meant is unknown "
                "(a JSON parser keeps the last one); keep one",
                file=raw.file,
                line=line,
                index=index,
                field=field_name,
                code="duplicate_key",
            )
        )
        return
    raw.records.append(RawRecord(value, index, line))


class _RepeatedKeys(dict):
    """A JSON object that named a key more than once: the values kept are the last ones, ``repeated`` the keys."""

    repeated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> dict:
    """``object_pairs_hook`` for every JSON read here: a plain dict, or one that remembers its repeated keys."""
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    marked = _RepeatedKeys(value)
    marked.repeated = tuple(key for key, n in Counter(key for key, _ in pairs).items() if n > 1)
    return marked


_DECODER = json.JSONDecoder(object_pairs_hook=_object)


def _repeated_key(value: Any) -> tuple[str, str] | None:
    """(where, key) of the first key written twice in ``value`` (``messages[1]`` style), or None."""
    stack = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, _RepeatedKeys):
            key = item.repeated[0]
            return f"{where}.{key}" if where else key, key
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return None


def hostile_value(value: Any, limits: ReadLimits) -> str | None:
    """What makes a parsed value unusable (too deep, a huge integer, a lone surrogate), or None.

    Walked with an explicit stack: recursion is what deep nesting attacks. Lone surrogates (JSON's
    "\\ud800") are valid JSON but not encodable text; arrow and the tokenizer would fail the whole file on them.
    """
    stack = [(value, 1)]
    chars = 0
    while stack:
        item, depth = stack.pop()
        if depth > limits.max_depth:
            return f"nested deeper than {limits.max_depth} levels: no dataset format nests like that"
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
            stack.extend((k, depth) for k in item)
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, int) and not isinstance(item, bool) and item.bit_length() > limits.max_digits * 3.33:
            return f"an integer of more than {limits.max_digits} digits"
        elif isinstance(item, str):
            chars += len(item)
            if chars > limits.max_record_chars:
                return f"more than {limits.max_record_chars:,} characters of text in one record (the limit here)"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return (
                    f"invalid Unicode: a lone surrogate {item[exc.start]!a} at character {exc.start}; "
                    "write the character itself, or a valid \\u pair"
                )
    return None


def _read_bounded(path: Path, raw: RawSource, limits: ReadLimits, whole: bool) -> bytes | None:
    """The file's bytes up to ``limits.max_bytes``; a larger file is cut at its last full line (or refused when
    ``whole``: one JSON document cannot be cut), with a warning naming the limit."""
    size = path.stat().st_size
    if size <= limits.max_bytes:
        return path.read_bytes()
    if whole:
        raw.issues.append(
            Issue(
                f"the file is {size / 2**20:.1f} MB; one JSON document is read only up to "
                f"{limits.max_bytes / 2**20:g} MB: save it as JSON Lines (one record per line)",
                file=raw.file,
                code="too_large",
            )
        )
        return None
    with path.open("rb") as f:
        data = f.read(limits.max_bytes)
    data = data[: data.rfind(b"\n") + 1]
    raw.issues.append(
        Issue(
            f"the file is {size / 2**20:.1f} MB: only its first {limits.max_bytes / 2**20:g} MB are read",
            file=raw.file,
            severity="warning",
            code="truncated_read",
        )
    )
    return data


def _row_limit_reached(raw: RawSource, count: int, limits: ReadLimits, line: int | None = None) -> bool:
    if count < limits.max_rows:
        return False
    raw.issues.append(
        Issue(
            f"stopped reading after {limits.max_rows} records (the limit here)",
            file=raw.file,
            line=line,
            severity="warning",
            code="truncated_read",
        )
    )
    return True


def _read_file(path: Path, limits: ReadLimits) -> RawSource:
    raw = RawSource(str(path))
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path, raw, limits)
    if suffix not in SUFFIXES:
        raise WorkbenchError(f"{path}: unknown file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    data = _read_bounded(path, raw, limits, whole=suffix == ".json")
    if data is None:
        return raw
    # Editors on Windows often start UTF-8 files with a byte-order mark; it is not part of the data.
    data = data.removeprefix(_BOM)
    if not data.strip():
        raw.issues.append(Issue("the file is empty", file=raw.name, code="empty_file"))
        return raw
    kind = next((what for magic, what in _BINARY_MAGIC.items() if data.startswith(magic)), None)
    if kind:
        raw.issues.append(
            Issue(f"this is not a text dataset: it looks like {kind}", file=raw.name, code="not_a_dataset")
        )
        return raw
    if suffix == ".jsonl" and data.lstrip().startswith(b"["):
        # A JSON array saved as .jsonl, the mirror image of the JSON Lines-as-.json slip below.
        raw.issues.append(
            Issue(
                "this .jsonl file holds one JSON array, not one object per line: read it as JSON; rename it to .json",
                file=raw.name,
                severity="warning",
                code="json_as_jsonl",
            )
        )
        _read_json(data, raw, limits)
    elif suffix == ".jsonl":
        _read_jsonl(data, raw, limits)
    elif suffix == ".json":
        _read_json(data, raw, limits)
    else:
        _read_csv(data, raw, limits)
    return raw


def _undecodable_line(data: bytes, error: UnicodeDecodeError) -> int:
    return data[: error.start].count(b"\n") + 1


def _loads(text: str) -> tuple[Any, str | None]:
    """(value, None) or (None, why it is not JSON): a syntax error, or valid JSON that Python's parser refuses
    (nesting deep enough to exhaust its recursion, an integer of over 4,300 digits)."""
    try:
        return _DECODER.decode(text), None
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at column {exc.colno}"
    except RecursionError:
        return None, "nested too deeply to parse"
    except ValueError as exc:  # int too long ("Exceeds the limit (4300 digits) for integer string conversion")
        return None, str(exc).split(";")[0]


def _read_jsonl(data: bytes, raw: RawSource, limits: ReadLimits) -> None:
    index = -1
    for number, line_bytes in enumerate(data.split(b"\n"), start=1):
        if not line_bytes.strip():
            continue  # blank lines (a trailing newline, spacing) are harmless
        if _row_limit_reached(raw, index + 1, limits, number):
            return
        index += 1
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            raw.issues.append(
                Issue(
                    f"not UTF-8 text (byte {line_bytes[exc.start]:#x} at column {exc.start + 1}); "
                    "save the file as UTF-8",
                    file=raw.name,
                    line=number,
                    index=index,
                    code="not_utf8",
                )
            )
            continue
        value, error = _loads(line)
        if error:
            raw.issues.append(Issue(f"not JSON: {error}", file=raw.name, line=number, index=index, code="not_json"))
            continue
        _add(raw, value, index, number, limits)


def _read_json(data: bytes, raw: RawSource, limits: ReadLimits) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raw.issues.append(
            Issue(
                "not UTF-8 text: save the file as UTF-8",
                file=raw.name,
                line=_undecodable_line(data, exc),
                code="not_utf8",
            )
        )
        return
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            # One object per line in a .json file: JSON Lines under the wrong name, a common slip.
            raw.issues.append(
                Issue(
                    "this looks like JSON Lines (one object per line): read it as such; rename it to .jsonl",
                    file=raw.name,
                    severity="warning",
                    code="jsonl_as_json",
                )
            )
            _read_jsonl(data, raw, limits)
            return
        raw.issues.append(
            Issue(f"not valid JSON: {exc.msg} at column {exc.colno}", file=raw.name, line=exc.lineno, code="not_json")
        )
        return
    except (RecursionError, ValueError):
        # Valid JSON Python cannot hold (deep nesting, a huge integer): one bad record must not lose the rest,
        # so the elements are decoded one by one and only the bad ones are reported.
        _read_json_elements(text, raw, limits)
        return
    if isinstance(value, _RepeatedKeys):
        raw.issues.append(
            Issue(
                f"the top-level key {short(value.repeated[0])} is written twice: which one holds the records "
                "is unknown; keep one",
                file=raw.name,
                field=value.repeated[0],
                code="duplicate_key",
            )
        )
        return
    if isinstance(value, dict):
        lists = [k for k, v in value.items() if isinstance(v, list)]
        if len(lists) != 1:
            raw.issues.append(
                Issue(
                    "expected a list of records (or an object holding one list of them)",
                    file=raw.name,
                    line=1,
                    code="wrong_type",
                )
            )
            return
        raw.issues.append(
            Issue(
                f"reading the records from the top-level key '{lists[0]}'",
                file=raw.name,
                field=lists[0],
                severity="warning",
                code="nested_list",
            )
        )
        value = value[lists[0]]
    if not isinstance(value, list):
        raw.issues.append(
            Issue(
                f"expected a list of records, got a JSON {type(value).__name__}",
                file=raw.name,
                line=1,
                code="wrong_type",
            )
        )
        return
    # A JSON list has no line per record; locate each by where its object starts in the text.
    starts = _record_lines(text, min(len(value), limits.max_rows))
    for i, v in enumerate(value):
        if _row_limit_reached(raw, i, limits):
            break
        _add(raw, v, i, starts[i] if starts else None, limits)


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
    except (ValueError, IndexError, RecursionError):
        return None
    return lines


def _read_json_elements(text: str, raw: RawSource, limits: ReadLimits) -> None:
    """A top-level JSON list read element by element, skipping (and naming) the elements Python cannot parse.

    A bad element is skipped by scanning to its matching bracket, a loop rather than the recursive parser.
    """
    start = text.lstrip()
    if not start.startswith("["):
        raw.issues.append(
            Issue(
                "not valid JSON: nested too deeply or an integer too long to parse",
                file=raw.name,
                line=1,
                code="not_json",
            )
        )
        return
    pos, index = text.index("[") + 1, 0
    while pos < len(text):
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]" or _row_limit_reached(raw, index, limits):
            return
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except (RecursionError, ValueError) as exc:
            why = "nested too deeply to parse" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
            raw.issues.append(Issue(f"not JSON: {why}", file=raw.name, line=line, index=index, code="not_json"))
            end = _skip_value(text, pos)
            if end is None:
                return
            pos = end
        else:
            _add(raw, value, index, line, limits)
        index += 1


def _skip_value(text: str, pos: int) -> int | None:
    """The position after the JSON value starting at ``pos`` (brackets matched outside strings), or None."""
    depth, in_string, escaped = 0, False, False
    for i in range(pos, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth <= 0:
                return i + 1 if depth == 0 else i
        elif depth == 0 and ch == ",":
            return i
    return None


def _read_csv(data: bytes, raw: RawSource, limits: ReadLimits) -> None:
    try:
        text = data.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError as exc:
        raw.issues.append(
            Issue(
                "not UTF-8 text: save the file as UTF-8",
                file=raw.name,
                line=_undecodable_line(data, exc),
                code="not_utf8",
            )
        )
        return
    header = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=header.count)
    if delimiter != ",":
        # Excel in many European locales saves CSV with ';' (the comma is their decimal point).
        name = "tab" if delimiter == "\t" else f"'{delimiter}'"
        raw.issues.append(
            Issue(
                f"the header is separated by {name}, not ',': read with {name} as the separator",
                file=raw.name,
                line=1,
                severity="warning",
                code="csv_separator",
            )
        )
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    named = [name for name in reader.fieldnames or [] if name.strip()]  # blank names: trailing separators
    repeated = next((name for name, n in Counter(named).items() if n > 1), None)
    if repeated is not None:
        raw.issues.append(
            Issue(
                f"the header names the column {short(repeated)} twice: which column is meant is unknown "
                "(a CSV reader keeps the last one); rename or remove one",
                file=raw.name,
                line=1,
                field=repeated,
                code="duplicate_key",
            )
        )
        return
    line = 2  # the header is line 1; reader.line_num is the line a row *ends* on (quoted newlines)
    index = 0
    try:
        for index, row in enumerate(reader):
            if _row_limit_reached(raw, index, limits, line):
                return
            if None in row:
                raw.issues.append(
                    Issue(
                        f"{len(row[None])} more values than the header has columns",
                        file=raw.name,
                        line=line,
                        index=index,
                        code="wrong_type",
                    )
                )
                del row[None]
            # Empty cells are missing values, not empty strings: an optional column (Alpaca's input) may be blank.
            raw.records.append(RawRecord({k: v for k, v in row.items() if v not in (None, "")}, index, line))
            line = reader.line_num + 1
    except csv.Error as exc:  # a field over csv's size limit, an unterminated quote at the end: the rest is unreadable
        raw.issues.append(
            Issue(
                f"not readable as CSV from here on: {exc}",
                file=raw.name,
                line=line,
                index=len(raw.records),
                code="not_csv",
            )
        )
        return
    if not raw.records:
        raw.issues.append(Issue("the file has a header line but no records", file=raw.name, line=1, code="empty_file"))


def _read_parquet(path: Path, raw: RawSource, limits: ReadLimits) -> RawSource:
    """Read 16 rows at a time while the decoded size fits the byte budget and the rows the row budget.

    pyarrow directly rather than ``datasets.Dataset.from_parquet``: that one decodes every row and copies the
    file into the datasets cache first, which is what a small, highly compressed file exploits.
    """
    try:
        parquet = pq.ParquetFile(path)
        meta = parquet.metadata
        declared = sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups))
        read, index = 0, 0
        # Small batches with a running size: the footer's sizes are those of the encoded pages, and a dictionary
        # page (one long string, repeated) expands far beyond them once decoded.
        for batch in parquet.iter_batches(batch_size=16):
            read += batch.nbytes
            if read > limits.max_bytes:
                raw.issues.append(
                    Issue(
                        f"the data expands to more than {limits.max_bytes / 2**20:g} MB (the limit here; "
                        f"{meta.num_rows} rows, {declared / 2**20:.1f} MB declared): only the records before it are "
                        "read",
                        file=raw.file,
                        severity="warning" if raw.records else "error",
                        code="too_large",
                    )
                )
                break
            for value in batch.to_pylist():
                if _row_limit_reached(raw, index, limits):
                    return raw
                _add(raw, value, index, None, limits)
                index += 1
    except Exception as exc:  # pyarrow raises several kinds for a file that is not Parquet
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raw.issues.append(
            Issue(
                f"not a readable Parquet file: {first.replace(str(path), path.name)}", file=raw.file, code="not_parquet"
            )
        )
        return raw
    if not raw.records and not raw.issues:
        raw.issues.append(Issue("the file holds no records", file=raw.name, code="empty_file"))
    return raw


def _read_hub(name: str, limits: ReadLimits) -> RawSource:
    try:
        dataset = load_dataset(name, split="train")
    except Exception as exc:  # offline, unknown ID, private: the user needs the reason, whatever its type
        raise WorkbenchError(
            f"{name!r} is not a local file, and loading it from the Hugging Face Hub failed: {exc}"
        ) from exc
    raw = RawSource(name)
    for i, value in enumerate(dataset):
        if _row_limit_reached(raw, i, limits):
            break
        _add(raw, value, i, None, limits)
    return raw
