"""`workbench export`: a run as a standalone safetensors model, or as a GGUF file with an Ollama Modelfile."""

from __future__ import annotations

from workbench.export.gguf_export import QUANTS
from workbench.export.merge import FORMATS, export_run


def run(args) -> int:
    result = export_run(args.run_dir, args.out_dir, format=args.format, quant=args.quant, overwrite=args.overwrite)
    for note in result.notes:
        print(f"note: {note}")
    if args.format == "gguf":
        size = result.main_file.stat().st_size / 1e6
        print(f"saved {result.main_file} ({size:.1f} MB) and {result.modelfile}")
        print(
            f"run it with llama.cpp (llama-cli -m {result.main_file}) or Ollama (cd {result.out_dir} && ollama create "
            "NAME -f Modelfile)"
        )
    else:
        print(f"saved a standalone model in {args.out_dir} (AutoModelForCausalLM.from_pretrained loads it)")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="save a run as a standalone model: safetensors, or GGUF + Ollama Modelfile"
    )
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("out_dir", metavar="OUT_DIR")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="safetensors",
        help="safetensors (transformers) or gguf (llama.cpp, Ollama)",
    )
    parser.add_argument(
        "--quant",
        choices=QUANTS,
        default="q8_0",
        help="GGUF weights: f16, q8_0 (near-lossless, half of f16) or q4_0 (smallest)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if an earlier export wrote it")
    parser.set_defaults(func=run)
