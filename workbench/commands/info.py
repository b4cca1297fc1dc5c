"""`workbench info`: the hardware, the precision chosen from it, and the model cache."""

from __future__ import annotations

from workbench.hardware import describe
from workbench.models import (
    cache_dir,
    default_model_dir,
    default_model_source,
    default_model_status,
    describe_default_model,
)


def run(args) -> int:
    for key, value in describe().items():
        print(f"{key:>16}: {value}")
    print(f"{'cache':>16}: {cache_dir()}  (set WORKBENCH_CACHE to move it)")
    print(f"{'default model':>16}: {describe_default_model()}")
    where = f"  [{default_model_dir()}]" if default_model_source() == "embedded" else ""
    print(f"{'':>16}  {default_model_status()}{where}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("info", help="show hardware, chosen precision and the model cache")
    parser.set_defaults(func=run)
