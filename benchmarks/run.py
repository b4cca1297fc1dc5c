"""Run the benchmark suite and write ``benchmarks/results/<date>-<machine>.json`` (see docs/benchmarks.md).

python benchmarks/run.py                  # everything but the lessons (about an hour on 2 CPU cores)
python benchmarks/run.py --quick          # one short round of each: minutes, for a first look
python benchmarks/run.py --only training --suites sft-lora,dpo-lora --repeats 5
python benchmarks/run.py --lessons        # also the lesson notebooks in full mode
python -m benchmarks.report benchmarks/results/<file>.json --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python benchmarks/run.py` from the checkout

from benchmarks import app_start, generation, lessons, machine, training  # noqa: E402
from benchmarks.report import render  # noqa: E402

PARTS = ("training", "generation", "app")


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one round, 3 training steps, 24 new tokens")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {PARTS}")
    parser.add_argument("--suites", default=",".join(training.SUITES), help="training suites to run")
    parser.add_argument("--repeats", type=int, help="rounds of alternation (default 3; 1 with --quick)")
    parser.add_argument(
        "--steps", type=int, help="training steps a trial (default 6, the first untimed; 3 with --quick)"
    )
    parser.add_argument("--variants", default=",".join(training.VARIANTS), help="training variants to run")
    parser.add_argument(
        "--before",
        help="a checkout of an older commit: adds its workbench as variant workbench-before, and its generation trial",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--max-new-tokens", type=int, help="generation length (default 64; 24 with --quick)")
    parser.add_argument(
        "--compile-decode",
        action="store_true",
        help="also time greedy decoding under torch.compile (a minute or more of compiling)",
    )
    parser.add_argument("--lessons", action="store_true", help="also run the lesson notebooks in full mode")
    parser.add_argument("--out", help="results file (default benchmarks/results/<date>-<machine>[-quick].json)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    steps = args.steps or (3 if args.quick else 6)
    max_new = args.max_new_tokens or (24 if args.quick else 64)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]

    started = time.time()
    results: dict = {
        "date": date.today().isoformat(),
        "command": "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine.describe(),
        "loadavg_start": machine.load(),
        "settings": {
            "repeats": repeats,
            "steps": steps,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "max_new_tokens": max_new,
        },
    }
    # The arithmetic ceiling, measured in this run, before anything else loads the machine.
    results["matmul_gflops"] = {dt: machine.matmul_gflops(dt) for dt in ("float32", "bfloat16")}
    print(
        f"machine: {json.dumps(results['machine'])}\nmatmul GFLOP/s: {results['matmul_gflops']} (load "
        f"{results['loadavg_start']})",
        flush=True,
    )
    log = lambda message: print(message, flush=True)  # noqa: E731
    suffix = "-quick" if args.quick else ""
    out = (
        Path(args.out)
        if args.out
        else Path(__file__).parent / "results" / f"{results['date']}-{machine.machine_name()}{suffix}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every part, so a run cut short still leaves what it measured
        results["loadavg_end"] = machine.load()
        results["minutes"] = round((time.time() - started) / 60, 1)
        out.write_text(json.dumps(results, indent=1) + "\n")

    if "training" in parts:
        results["training"] = {}
        variants = [v for v in args.variants.split(",") if v]
        for suite in [s.strip() for s in args.suites.split(",") if s.strip()]:
            results["training"].update(
                training.run(
                    [suite],
                    repeats,
                    steps,
                    args.batch_size,
                    args.max_length,
                    results["matmul_gflops"],
                    log,
                    variants,
                    args.before,
                )
            )
            save()
    if "generation" in parts:
        results["generation"] = generation.run(repeats, max_new, log, args.before, args.compile_decode)
        save()
    if "app" in parts:
        results["app"] = app_start.run(repeats, log)
        save()
    if args.lessons:
        results["lessons"] = lessons.run(log)
    save()
    print(render(results))
    print(f"\nwritten {out}")
    return out


if __name__ == "__main__":
    main()
