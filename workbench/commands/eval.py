"""`workbench eval`: evaluate a run against its base on held-out data; results go to RUN_DIR/eval/."""

from __future__ import annotations

from dataclasses import replace


def run(args) -> int:
    # Heavy import (datasets, TRL, evaluate), kept off the CLI's start path.
    from workbench.evaluation.evaluate import EVAL_SETTINGS, change_counts, evaluate_run, forgetting_markdown  # noqa: PLC0415

    settings = replace(EVAL_SETTINGS, max_new_tokens=args.max_new_tokens)
    results = evaluate_run(
        args.run_dir,
        data=args.data,
        max_samples=args.max_samples,
        settings=settings,
        probe=not args.no_probe,
        judge=args.judge,
    )
    print(f"{results['samples']} held-out examples from {results['data']}\n")
    print(results["table"])
    if "ood" in results:
        ood = results["ood"]
        print(f"\nout of distribution ({ood['samples']} examples of {ood['data']}):")
        for side, metrics in ood["sides"].items():
            print(f"  {side}: " + ", ".join(f"{k} {v:.3g}" for k, v in metrics.items()))
    for side, counts in change_counts(results).items():
        print(
            f"\nper example ({results['example_score']}), {side} vs base: "
            + ", ".join(f"{n} {c}" for c, n in counts.items())
        )
    if "forgetting" in results:
        print("\nforgetting probe (general questions the base answers):\n" + forgetting_markdown(results))
    if "judge" in results:
        judge = results["judge"]
        print(
            f"\njudge {judge['model']}: tuned win rate {judge['tuned_win_rate']:.2f}, "
            f"agreement with the per-example score {judge['agreement_with_score']}"
        )
    print(f"\nsaved in {args.run_dir}/eval/ (eval.json, eval.md with every example, before_after.png)")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="evaluate a run vs its base (loss, ROUGE-L, BLEU, task and DPO metrics, forgetting)"
    )
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument(
        "--data", default=None, help="held-out data file; default: the run's eval data or its sample's eval split"
    )
    parser.add_argument(
        "--max-samples", type=int, default=32, help="evaluate at most this many records (generation is slow on a CPU)"
    )
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--no-probe", action="store_true", help="skip the forgetting probe (22 general questions)")
    parser.add_argument(
        "--judge",
        metavar="MODEL",
        default=None,
        help="a local model (folder or Hub ID) that compares base and tuned answers pairwise (off by default)",
    )
    parser.set_defaults(func=run)
