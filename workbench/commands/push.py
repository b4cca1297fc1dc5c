"""`workbench push`: upload a run's adapter (or merged model) with its model card to the Hugging Face Hub."""

from __future__ import annotations

from workbench.export.hub import push_run


def run(args) -> int:
    plan = push_run(args.run_dir, args.repo_id, merged=args.merged, private=not args.public, dry_run=args.dry_run)
    for note in plan.notes:
        print(f"note: {note}")
    verb = "would upload" if args.dry_run else "uploaded"
    print(f"{verb} to https://huggingface.co/{plan.repo_id}:\n{plan.listing()}")
    if args.dry_run:
        print(f"\n--- {plan.files[-1][1]} (the model card) ---\n{plan.card}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "push", help="upload a run (adapter or merged model + model card) to the Hugging Face Hub"
    )
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("repo_id", metavar="REPO_ID", help="owner/name on the Hub (created if missing)")
    parser.add_argument(
        "--merged", action="store_true", help="upload the adapter merged into its base (a standalone model)"
    )
    parser.add_argument("--public", action="store_true", help="make a new repository public (default: private)")
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be uploaded and show the card; no network"
    )
    parser.set_defaults(func=run)
