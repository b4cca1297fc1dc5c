"""`workbench eval`: evaluate a run against its base on held-out data; results go to RUN_DIR/eval/."""

from __future__ import annotations

from dataclasses import replace


def run(args) -> int:
    from workbench.evaluation import EVAL_SETTINGS, evaluate_run

    settings = replace(EVAL_SETTINGS, max_new_tokens=args.max_new_tokens)
    results = evaluate_run(args.run_dir, data=args.data, max_samples=args.max_samples, settings=settings)
    print(f"{results['samples']} held-out examples from {results['data']}\n")
    print(results["table"])
    print(f"\nsaved in {args.run_dir}/eval/ (eval.json, eval.md, before_after.png)")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluate a run vs its base (loss, ROUGE-L, BLEU, task and DPO metrics)")
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("--data", default=None, help="held-out data file; default: the run's eval data or its sample's eval split")
    parser.add_argument("--max-samples", type=int, default=32, help="evaluate at most this many records (generation is slow on a CPU)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.set_defaults(func=run)
