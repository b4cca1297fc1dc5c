"""`workbench export`: merge a run's adapter into its base and save a model plain transformers loads."""

from __future__ import annotations


def run(args) -> int:
    from workbench.export import export_merged

    for note in export_merged(args.run_dir, args.out_dir, overwrite=args.overwrite):
        print(f"note: {note}")
    print(f"saved a standalone model in {args.out_dir} (AutoModelForCausalLM.from_pretrained loads it)")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("export", help="merge a LoRA run into its base and save safetensors + tokenizer")
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("out_dir", metavar="OUT_DIR")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it exists")
    parser.set_defaults(func=run)
