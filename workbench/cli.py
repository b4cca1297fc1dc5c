"""The `workbench` command line. Each module in `workbench/commands/` adds one verb (or verb group).

A command module defines ``register(subparsers)``, which adds its parser and sets ``func`` to a plain
function taking the parsed arguments. The verbs stay thin: the work happens in the core modules.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import workbench.commands
from workbench.errors import WorkbenchError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="Learn and try LLM fine-tuning on your own machine.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in sorted(pkgutil.iter_modules(workbench.commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"workbench.commands.{module.name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
