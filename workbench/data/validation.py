"""Check raw records one by one, keep the good ones normalized, and report every problem with its place.

A bad record never stops the load: it goes into the report with its file, line (or record index) and
field, and the rest carry on. Only records with errors are left out; warnings keep the record.
"""

from __future__ import annotations

import json
import re

from workbench.data.formats import (
    FORMATS,
    Format,
    Problems,
    apply_column_map,
    detect_format,
    kto_label,
    record_kind,
    short,
)
from workbench.data.masking import tokenize_for_training
from workbench.data.readers import RawRecord, RawSource
from workbench.data.report import Issue, ValidationReport


def validate(
    raw: RawSource,
    fmt: Format | None,
    column_map: dict[str, str] | None = None,
    tokenizer=None,
    max_length: int | None = None,
) -> tuple[list[dict], list[RawRecord], ValidationReport]:
    """Normalize every record of ``raw``; return the good records, where each came from, and the report."""
    report = ValidationReport(source=raw.name, issues=list(raw.issues))
    report.records_read = len(raw.records) + sum(1 for i in raw.issues if i.index is not None)

    def issue(where: RawRecord, field: str | None, message: str, code: str, severity="error") -> None:
        report.issues.append(
            Issue(message, file=raw.file, line=where.line, index=where.index, field=field, severity=severity, code=code)
        )

    values = [apply_column_map(r.value, column_map) for r in raw.records]
    fmt = fmt or detect_format(values)
    if fmt is None:
        if raw.records:
            columns = sorted({short(k, 40) for v in values if isinstance(v, dict) for k in v})
            columns = columns[:20] + ([f"... {len(columns) - 20} more"] if len(columns) > 20 else [])
            expected = "; ".join(f"{f.name}: {', '.join(f.columns)}" for f in FORMATS.values())
            report.issues.append(
                Issue(
                    f"no known format fits the columns {columns}. Expected one of: {expected}. "
                    "Map your columns with column_map (CLI: --map yours=role)",
                    file=raw.file,
                    code="unknown_format",
                )
            )
        return [], [], report
    report.source_format, report.kind = fmt.name, fmt.kind

    control = _control_pattern(tokenizer)
    good: list[dict] = []
    origins: list[RawRecord] = []
    for where, value in zip(raw.records, values):
        if not isinstance(value, dict):
            issue(
                where, None, f"a record must be an object with named fields, got {type(value).__name__}", "wrong_type"
            )
            continue
        problems = Problems()
        _unused_fields(value, fmt, problems)
        normalized = None if problems.errors else fmt.normalize(value, problems)
        if normalized is not None:
            _control_tokens(normalized, control, problems)
        for field, message, code in problems.errors:
            issue(where, field, message, code)
        for field, message, code in problems.warnings:
            issue(where, field, message, code, severity="warning")
        if normalized is not None and not problems.errors:
            good.append(normalized)
            origins.append(where)

    good = _one_form(good)
    if good:  # chat-like prompt/completion records train as conversations
        report.kind = record_kind(good[0])
    good, origins = _drop_duplicates(good, origins, issue)
    if tokenizer is not None and max_length is not None:
        _check_lengths(good, origins, tokenizer, max_length, issue)
    report.usable = len(good)
    # Problems with the whole source first, then in file order, whichever check found them.
    report.issues.sort(key=lambda i: -1 if i.index is None else i.index)
    return good, origins, report


def _unused_fields(record: dict, fmt: Format, problems: Problems) -> None:
    """Say which fields the format does not read, rather than drop their meaning silently."""
    for key in record:
        if key in fmt.columns or key in fmt.optional:
            continue
        if key == "label":
            _kto_label(record[key], problems)
            continue
        problems.warn(str(key), f"field {short(key)} is not used by the {fmt.name} format: ignored", "unused_field")


def _kto_label(value, problems: Problems) -> None:
    """A KTO label on a record of another format (a file mostly without labels): false (an answer to avoid) is left
    out, since the format would train it as a good answer."""
    label = kto_label(value, problems)
    if label is False:
        problems.error(
            "label",
            f"label {short(value)} (KTO: an answer to avoid) would be trained as a good answer: left out. "
            "Give every record a label to train them all with method: kto",
            "kto_label",
        )


# Chat-template control tokens written as text; inside content they forge turns the tokenizer then treats as real.
_GENERIC_CONTROL = r"<\|[A-Za-z0-9_]{1,40}\|>|\[/?INST\]|<</?SYS>>"


def _control_pattern(tokenizer) -> re.Pattern:
    specials = getattr(tokenizer, "all_special_tokens", None) or []
    names = [re.escape(t) for t in specials if len(t) > 2]  # a one-character special would match ordinary text
    return re.compile("|".join([_GENERIC_CONTROL, *names]))


def _control_tokens(record: dict, pattern: re.Pattern, problems: Problems) -> None:
    for field, text in _texts(record):
        found = pattern.search(text)
        if found:
            problems.warn(
                field,
                f"contains the control token {short(found.group())}: the chat template reads it as "
                "a real turn boundary, so the model learns a forged turn; remove it",
                "control_token",
            )


def _texts(record: dict):
    """(field, text) for every string of a normalized record."""
    for key, value in record.items():
        if isinstance(value, str):
            yield key, value
        elif isinstance(value, list):
            for i, message in enumerate(value):
                yield f"{key}[{i}].content", message["content"]


def _one_form(records: list[dict]) -> list[dict]:
    """Give every record the same columns and types, since a datasets.Dataset has one schema.

    Where some records of a format are chat-like (message lists) and others plain strings, the strings
    become messages: a prompt is the user's turn, an answer the assistant's.
    """
    if any("messages" in r for r in records) and any("messages" not in r for r in records):
        records = [
            r
            if "messages" in r
            else {
                "messages": [
                    {"role": "user", "content": r["prompt"]},
                    {"role": "assistant", "content": r["completion"]},
                ]
            }
            for r in records
        ]
    for answers in (("chosen", "rejected"), ("completion",)):  # preference pairs, KTO's single answers
        if any(isinstance(r.get("prompt"), list) for r in records if answers[0] in r):
            records = [
                r
                | {
                    "prompt": r["prompt"]
                    if isinstance(r["prompt"], list)
                    else [{"role": "user", "content": r["prompt"]}],
                    **{
                        k: r[k] if isinstance(r[k], list) else [{"role": "assistant", "content": r[k]}] for k in answers
                    },
                }
                for r in records
            ]
    return records


def _drop_duplicates(records, origins, issue):
    """Keep the first copy of each record; a repeat trains the same thing twice and skews the eval split."""
    seen: dict[str, RawRecord] = {}
    kept, kept_origins = [], []
    for record, where in zip(records, origins):
        key = json.dumps(record, sort_keys=True, ensure_ascii=False)
        if key in seen:
            first = seen[key]
            at = f"line {first.line}" if first.line is not None else f"record {first.index}"
            issue(where, None, f"duplicate of {at}: only the first copy is kept", "duplicate")
            continue
        seen[key] = where
        kept.append(record)
        kept_origins.append(where)
    return kept, kept_origins


def _check_lengths(records, origins, tokenizer, max_length: int, issue) -> None:
    """Warn about records longer than ``max_length`` tokens, with how many tokens truncation cuts."""
    for record, where in zip(records, origins):
        for name, _text, ids, mask in tokenize_for_training(record, tokenizer):
            if len(ids) <= max_length:
                continue
            cut = len(ids) - max_length
            cut_trained = sum(mask[max_length:])
            left = sum(mask[:max_length])
            field = name if name != "sequence" else None
            message = (
                f"{len(ids)} tokens, over max_length {max_length}: truncation cuts the last {cut} "
                f"({cut_trained} of them trained)"
            )
            if not left:
                message += "; no trained token remains, so the trainer drops this record"
            issue(where, field, message, "too_long", severity="warning")
