"""`workbench generate`: stream a chat answer from a model."""

from __future__ import annotations

import sys

from workbench.inference.generation import GenerationSettings, stream_chat
from workbench.models import load_model


def add_generation_options(parser) -> None:
    """Sampling options shared by the verbs that generate."""
    d = GenerationSettings()
    parser.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens)
    parser.add_argument("--temperature", type=float, default=d.temperature, help="0 = greedy")
    parser.add_argument("--top-p", type=float, default=d.top_p)
    parser.add_argument("--repetition-penalty", type=float, default=d.repetition_penalty)
    parser.add_argument("--seed", type=int, default=d.seed)


def settings_from_args(args):
    return GenerationSettings(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        repetition_penalty=args.repetition_penalty,
        seed=args.seed,
    )


def run(args) -> int:
    lm = load_model(args.model, quantization=args.quantize)
    print(lm.summary(), file=sys.stderr)
    for piece in stream_chat(lm.model, lm.tokenizer, args.prompt, settings_from_args(args), system=args.system):
        print(piece, end="", flush=True)
    print()
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("generate", help="chat with a model (streams the answer)")
    parser.add_argument(
        "--model", default="default", help='"default" (embedded SmolLM2-135M-Instruct), a folder or a Hub ID'
    )
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--system", default=None, help="optional system prompt")
    parser.add_argument("--quantize", choices=["4bit", "8bit"], default=None, help="load through bitsandbytes")
    add_generation_options(parser)
    parser.set_defaults(func=run)
