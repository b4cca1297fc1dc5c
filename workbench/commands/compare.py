"""`workbench compare`: the base and one or more adapters answer the same prompt side by side."""

from __future__ import annotations

import sys

from workbench.commands.generate import add_generation_options, settings_from_args


def run(args) -> int:
    from workbench.inference.bench import ModelBench

    bench = ModelBench.from_adapters(args.adapter, base=args.base)
    print(bench.base.summary(), file=sys.stderr)
    # One batch streams every side at once; a terminal shows the finished answers one under another.
    for n, prompt in enumerate(args.prompt, start=1):
        if len(args.prompt) > 1:
            print(f"##### prompt {n} of {len(args.prompt)}: {prompt}\n")
        answers = bench.side_by_side(
            prompt, settings=settings_from_args(args), system=args.system, batched=not args.one_by_one
        )
        for side, text in answers.items():
            print(f"=== {side} ===\n{text}\n")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("compare", help="answer one prompt with the base and each adapter, side by side")
    parser.add_argument(
        "--adapter",
        action="append",
        required=True,
        metavar="RUN_DIR",
        help="a run folder or PEFT adapter folder (repeatable)",
    )
    parser.add_argument(
        "--prompt", action="append", required=True, help="the prompt (repeatable: each is answered in turn)"
    )
    parser.add_argument("--system", default=None, help="optional system prompt")
    parser.add_argument("--base", default=None, help="base model; default: the one the first adapter was trained on")
    parser.add_argument(
        "--one-by-one", action="store_true", help="generate the sides one after another instead of in one batch"
    )
    add_generation_options(parser)
    parser.set_defaults(func=run)
