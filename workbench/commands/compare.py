"""`workbench compare`: the base and one or more runs (or adapters) answer the same prompt side by side."""

from __future__ import annotations

import sys

from workbench.commands.generate import add_generation_options, settings_from_args
from workbench.workspace.runs import run_info


def run(args) -> int:
    # torch and transformers load only when a verb runs: `workbench --help` stays quick.
    from workbench.inference.answers import Side, answers, base_model  # noqa: PLC0415
    from workbench.inference.bench import BASE  # noqa: PLC0415
    from workbench.inference.generation import as_messages  # noqa: PLC0415

    runs = {run_info(path).name: path for path in args.adapter}
    model = args.base or run_info(args.adapter[0]).base
    sides = [Side(BASE), *(Side(name) for name in runs)]
    print(base_model(model).summary(), file=sys.stderr)
    # The sides stream together; a terminal shows the finished answers one under another.
    for n, prompt in enumerate(args.prompt, start=1):
        if len(args.prompt) > 1:
            print(f"##### prompt {n} of {len(args.prompt)}: {prompt}\n")
        conversation = as_messages(prompt, args.system)
        texts = answers(model, sides, [conversation] * len(sides), settings_from_args(args), runs)
        for side, text in zip(sides, texts):
            print(f"=== {side.label} ===\n{text}\n")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("compare", help="answer one prompt with the base and each run, side by side")
    parser.add_argument(
        "--adapter",
        action="append",
        required=True,
        metavar="RUN_DIR",
        help="a run folder (LoRA, QLoRA or full) or a PEFT adapter folder (repeatable)",
    )
    parser.add_argument(
        "--prompt", action="append", required=True, help="the prompt (repeatable: each is answered in turn)"
    )
    parser.add_argument("--system", default=None, help="optional system prompt")
    parser.add_argument("--base", default=None, help="base model; default: the one the first adapter was trained on")
    add_generation_options(parser)
    parser.set_defaults(func=run)
