"""`workbench arena leaderboard`: Bradley-Terry ratings with 95% bootstrap intervals from an arena votes log's
blind votes (named votes are counted apart, never ranked)."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.inference.votes import VOTES_FILE, VoteLog
from workbench.workspace.learners import single_user, votes_dir


def default_votes_file() -> Path:
    """The app's log on one person's server: ``$WORKBENCH_RUNS/.votes/votes.jsonl`` (``runs/`` when unset)."""
    return votes_dir(single_user()) / VOTES_FILE


def run_leaderboard(args) -> int:
    path = Path(args.votes_file) if args.votes_file else default_votes_file()
    if not path.is_file():
        raise WorkbenchError(f"no votes log at {path}: vote in the app's Arena tab, or name a votes.jsonl")
    log = VoteLog(path)  # counted line by line, never held whole
    try:
        board = log.leaderboard(rounds=args.rounds, seed=args.seed)
    except ValueError:
        raise WorkbenchError(
            f"{path}: no blind votes yet ({sum(log.named.values())} named): only blind rounds rank the sides"
        ) from None
    if args.json:
        print(
            json.dumps(
                {
                    "votes": sum(board.choices.values()),
                    "choices": board.choices,
                    "sides": board.rows(),
                    "win_rate": {
                        a: {b: None if v != v else round(float(v), 3) for b, v in zip(board.sides, row)}
                        for a, row in zip(board.sides, board.win_rate)
                    },
                },
                indent=2,
            )
        )
    else:
        print(board.table())
        print(
            f"\n{sum(board.choices.values())} blind votes: "
            + ", ".join(f"{k} {v}" for k, v in sorted(board.choices.items()))
            + f"; {sum(log.named.values())} named votes, not ranked"
        )
    if args.plot:
        board.heatmap().savefig(args.plot, dpi=120)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("arena", help="the adapter arena's votes: leaderboard")
    verbs = parser.add_subparsers(dest="arena_command", required=True, metavar="ACTION")
    board = verbs.add_parser("leaderboard", help="Bradley-Terry ratings with bootstrap intervals, best first")
    board.add_argument(
        "votes_file", nargs="?", metavar="VOTES_FILE", help="a votes.jsonl; default: runs/.votes/votes.jsonl"
    )
    board.add_argument("--json", action="store_true", help="print JSON: ratings, intervals, votes, win-rate matrix")
    board.add_argument("--rounds", type=int, default=200, help="bootstrap rounds for the intervals")
    board.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws")
    board.add_argument("--plot", metavar="PNG", default=None, help="also save the win-rate heatmap")
    board.set_defaults(func=run_leaderboard)
