"""`workbench data check|preview FILE`: validate a data file, or show how one record is tokenized and trained."""

from __future__ import annotations

import sys

from workbench.errors import WorkbenchError
from workbench.models import ensure_default_model


def _column_map(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    mapping = {}
    for pair in pairs:
        yours, sep, ours = pair.partition("=")
        if not sep or not yours or not ours:
            raise WorkbenchError(f"--map {pair!r}: write it as YOUR_COLUMN=ROLE, e.g. --map question=prompt")
        mapping[yours] = ours
    return mapping


def _tokenizer():
    # The tokenizer stack of transformers, kept off the CLI's start path.
    from transformers import AutoTokenizer  # noqa: PLC0415

    return AutoTokenizer.from_pretrained(ensure_default_model(progress=lambda m: print(m, file=sys.stderr)))


def check(args) -> int:
    """Print every problem and a summary; exit 1 when no usable record remains."""
    # Heavy import (datasets, TRL), kept off the CLI's start path.
    from workbench.data import length_stats, load_data  # noqa: PLC0415

    tokenizer = _tokenizer() if args.max_length else None
    bundle = load_data(
        args.file, format=args.format, column_map=_column_map(args.map), tokenizer=tokenizer, max_length=args.max_length
    )
    print(bundle.report)
    if tokenizer is not None and bundle.report.usable:
        print(f"token lengths: {length_stats(bundle, tokenizer, args.max_length)}")
    return 0 if bundle.report.usable else 1


def preview(args) -> int:
    """Print record N as the trainer sees it, trained tokens in colour (or in [[brackets]] without a terminal)."""
    # Heavy import (datasets, TRL), kept off the CLI's start path.
    from workbench.data import load_data, preview_record  # noqa: PLC0415

    tokenizer = _tokenizer()
    bundle = load_data(args.file, format=args.format, column_map=_column_map(args.map))
    if not bundle.report.usable:
        raise WorkbenchError(f"{args.file} has no usable record:\n{bundle.report}")
    result = preview_record(
        bundle, tokenizer, index=args.index, max_length=args.max_length, loss_on="all" if args.all_tokens else "answer"
    )
    colour = sys.stdout.isatty()
    print(f"record {args.index} ({bundle.where(args.index)}), {result.kind}: the loss counts {result.loss}.")
    for text, label in result.to_highlighted():
        if label is None:
            print(text, end="")
        elif colour:
            print(f"\033[{'42;30' if label == 'trained' else '41;30'}m{text}\033[0m", end="")
        else:
            print(f"[[{text}]]" if label == "trained" else f"~~{text}~~", end="")
    print(
        f"\n{result.trained_token_count} of {result.token_count} tokens trained"
        + ("" if colour else "  ([[trained]], ~~cut by max_length~~)")
    )
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="check a data file, or preview how a record is trained")
    verbs = parser.add_subparsers(dest="data_command", required=True, metavar="VERB")
    for name, func, help_text in (
        ("check", check, "report every problem with its line and field"),
        ("preview", preview, "show one record's tokens, marked trained or not"),
    ):
        verb = verbs.add_parser(name, help=help_text)
        verb.add_argument("file", help="a .jsonl, .json, .csv or .parquet file, or a Hub dataset ID")
        verb.add_argument(
            "--format",
            default=None,
            help="skip detection: alpaca, messages, sharegpt, prompt_completion, text, preference, "
            "preference_sharegpt, preference_implicit, kto, kto_messages, kto_sharegpt",
        )
        verb.add_argument(
            "--map",
            nargs="*",
            metavar="YOURS=ROLE",
            help="map your column names, e.g. --map question=prompt answer=completion",
        )
        verb.add_argument("--max-length", type=int, default=None, help="report records longer than this many tokens")
        verb.set_defaults(func=func)
        if name == "preview":
            verb.add_argument("--index", type=int, default=0, help="which usable record (0-based)")
            verb.add_argument("--all-tokens", action="store_true", help="train on every token, not only the answers")
