"""`workbench train CONFIG.yaml [--set key=value ...]` and `workbench train --resume RUN_DIR`.

Runs as one process, or data-parallel under `torchrun --nproc_per_node N -m workbench.cli train ...`
or `accelerate launch --config_file configs/accelerate/<file>.yaml -m workbench.cli train ...`.
"""

from __future__ import annotations

import sys

from workbench.errors import WorkbenchError
from workbench.training.config import help_text
from workbench.training.distributed import is_main_process


def _printer():
    """Print one line per logged step (only on the main process when data-parallel)."""
    quiet = not is_main_process()

    def on_event(event: dict) -> None:
        if quiet:
            return
        if event["type"] == "step":
            m = event["metrics"]
            parts = [f"step {event['step']}/{event['max_steps']}"]
            for key in (
                "loss",
                "eval_loss",
                "learning_rate",
                "tokens_per_second",
                "rewards/accuracies",
                "rewards/margins",
            ):
                if key in m:
                    parts.append(f"{key} {m[key]:.4g}")
            if event.get("eta_seconds") is not None:
                parts.append(f"eta {event['eta_seconds']:.0f}s")
            print("  ".join(parts), flush=True)
        elif event["type"] == "log":
            print(event["message"], flush=True)
        elif event["type"] == "done":
            print(f"{event['status']} after {event['steps']} steps: {event['run_dir']}", flush=True)

    return on_event


def run(args) -> int:
    # Train and resume load TRL and PEFT: kept off the CLI's start path.
    from workbench.training import TrainConfig, resume, train  # noqa: PLC0415

    if args.help_config:
        print(help_text())
        return 0
    if args.resume:
        if args.config or args.set:
            raise WorkbenchError("--resume continues a run with its saved config: give no CONFIG or --set with it")
        result = resume(args.resume, on_event=_printer())
    else:
        if not args.config:
            raise WorkbenchError("give a config file (e.g. configs/sft_lora.yaml) or --resume RUN_DIR")
        config = TrainConfig.from_yaml(args.config, overrides=args.set)
        result = train(config, on_event=_printer())
    if is_main_process():
        m = result.measured
        print(
            f"trainable parameters {result.trainable_params:,} of {result.total_params:,}; "
            f"peak memory {m['peak_memory_mb']:.0f} MB (estimated {result.estimate['peak_memory_mb']:.0f}); "
            f"{m['seconds']:.0f} s (estimated {result.estimate['seconds']:.0f}); tokens/s {m['tokens_per_second']}",
            file=sys.stdout,
        )
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="fine-tune a model (SFT or DPO; full, LoRA or QLoRA) from a YAML config",
        description="Train from a YAML config (see configs/). "
        "Example: workbench train configs/sft_lora.yaml --set max_steps=20",
    )
    parser.add_argument("config", nargs="?", help="YAML training config, e.g. configs/sft_lora.yaml")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override one config field (repeatable)"
    )
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    parser.add_argument(
        "--help-config", action="store_true", help="list every config field with its default and meaning"
    )
    parser.set_defaults(func=run)
