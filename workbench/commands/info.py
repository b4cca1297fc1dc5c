"""`workbench info`: the hardware, the precision chosen from it, and the model cache."""

from __future__ import annotations


def run(args) -> int:
    from workbench.hardware import describe
    from workbench.models import cache_dir, default_model_dir, default_model_status

    for key, value in describe().items():
        print(f"{key:>16}: {value}")
    print(f"{'cache':>16}: {cache_dir()}  (set WORKBENCH_CACHE to move it)")
    print(f"{'default model':>16}: {default_model_status()}  [{default_model_dir()}]")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("info", help="show hardware, chosen precision and the model cache")
    parser.set_defaults(func=run)
