"""Arena votes into a leaderboard: Bradley-Terry ratings with bootstrap intervals, a win-rate matrix, vote counts.

Bradley-Terry says side i beats side j with probability p_i / (p_i + p_j). The strengths are fitted by
Hunter's MM iteration (2004), p_i <- W_i / sum_j n_ij / (p_i + p_j), written here in numpy: scipy, scikit-learn
and choix (which implements it) are not dependencies, and the loop is a few lines. A tie or "both bad" counts
half a win to each side, as FastChat's arena counts ties. Ratings are shown on the Elo scale FastChat uses
(1000 + 400 log10 p, geometric mean 1000), so 100 points mean about 64% expected wins.

Example:
    >>> board = leaderboard(read_votes("runs/arena"))
    >>> print(board.table())
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Half a virtual tie between every two sides: keeps a side that never lost finite and the ratings defined when
# the vote graph is not connected; a handful of votes outweighs it.
PRIOR_TIES = 0.5
SCALE, BASE_RATING = 400.0, 1000.0


@dataclass
class Leaderboard:
    """Sides sorted by rating (best first), with 95% bootstrap intervals and the counts behind them."""

    sides: list[str]
    ratings: list[float]
    low: list[float]
    high: list[float]
    votes: list[int]  # votes each side took part in
    win_rate: np.ndarray  # win_rate[i, j]: share of i's votes against j that i won (ties half); NaN if they never met
    choices: dict[str, int]  # how many votes of each kind ("a", "b", "tie", "both_bad")

    def rows(self) -> list[dict]:
        """One dict per side, best first: rank, side, rating, interval, votes (what ``--json`` prints)."""
        return [
            {"rank": i + 1, "side": s, "rating": round(r, 1), "low": round(lo, 1), "high": round(hi, 1), "votes": n}
            for i, (s, r, lo, hi, n) in enumerate(zip(self.sides, self.ratings, self.low, self.high, self.votes))
        ]

    def table(self) -> str:
        """The leaderboard as a Markdown table."""
        lines = ["| rank | side | rating | 95% interval | votes |", "| --- | --- | --- | --- | --- |"]
        lines += [
            f"| {r['rank']} | {r['side']} | {r['rating']:.0f} | {r['low']:.0f} to {r['high']:.0f} | {r['votes']} |"
            for r in self.rows()
        ]
        return "\n".join(lines)

    def heatmap(self):
        """The win-rate matrix as a matplotlib figure (rows: the side, columns: its opponent)."""
        # Matplotlib, loaded when a chart is drawn; not pyplot: a server draws one per vote, pyplot would keep them all.
        from matplotlib.figure import Figure  # noqa: PLC0415

        n = len(self.sides)
        fig = Figure(figsize=(1.6 + 0.9 * n, 1.2 + 0.8 * n))
        ax = fig.subplots()
        image = ax.imshow(np.ma.masked_invalid(self.win_rate), cmap="RdYlGn", vmin=0, vmax=1)
        ax.set_xticks(range(n), self.sides, rotation=30, ha="right")
        ax.set_yticks(range(n), self.sides)
        for i in range(n):
            for j in range(n):
                if not np.isnan(self.win_rate[i, j]):
                    ax.text(j, i, f"{self.win_rate[i, j]:.2f}", ha="center", va="center", fontsize=9)
        ax.set(xlabel="against", ylabel="side", title="Win rate (ties count half)")
        fig.colorbar(image, ax=ax, fraction=0.046)
        fig.tight_layout()
        return fig


def _outcomes(votes: Sequence[dict]) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, int]]:
    """Side names, (a index, b index) per usable vote, A's score per vote (1, 0 or 0.5), counts per choice."""
    choices: dict[str, int] = {}
    pairs, scores = [], []
    names: dict[str, int] = {}
    for vote in votes:
        sides, choice = vote.get("sides"), vote.get("choice")
        if not isinstance(sides, dict) or choice not in ("a", "b", "tie", "both_bad"):
            continue
        a, b = sides.get("a"), sides.get("b")
        if not (isinstance(a, str) and isinstance(b, str)) or a == b:
            continue
        choices[choice] = choices.get(choice, 0) + 1
        pairs.append((names.setdefault(a, len(names)), names.setdefault(b, len(names))))
        scores.append({"a": 1.0, "b": 0.0}.get(choice, 0.5))
    return list(names), np.array(pairs, dtype=int).reshape(-1, 2), np.array(scores, dtype=float), choices


def _counts(
    n: int, pairs: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """wins[i, j]: i's score against j; games[i, j]: their votes (both symmetric in games)."""
    w = np.ones(len(pairs)) if weights is None else weights
    wins = np.zeros((n, n))
    np.add.at(wins, (pairs[:, 0], pairs[:, 1]), w * scores)
    np.add.at(wins, (pairs[:, 1], pairs[:, 0]), w * (1 - scores))
    return wins, wins + wins.T


def fit_bradley_terry(wins: np.ndarray, iterations: int = 500, tol: float = 1e-9) -> np.ndarray:
    """Strengths p (geometric mean 1) from a matrix of wins[i, j] (ties already split), by MM iterations."""
    n = len(wins)
    wins = wins + PRIOR_TIES / 2 * (1 - np.eye(n))
    games = wins + wins.T
    total = wins.sum(axis=1)
    p = np.ones(n)
    for _ in range(iterations):
        updated = total / (games / (p[:, None] + p[None, :])).sum(axis=1)
        updated /= np.exp(np.log(updated).mean())
        done = np.abs(updated - p).max() < tol
        p = updated
        if done:
            break
    return p


def leaderboard(votes: Sequence[dict], rounds: int = 200, seed: int = 0) -> Leaderboard:
    """Fit Bradley-Terry on the votes and bootstrap them ``rounds`` times (votes drawn with replacement).

    Raises ValueError when no vote names two different sides.
    """
    names, pairs, scores, choices = _outcomes(votes)
    if not names:
        raise ValueError("no votes between two different sides yet")
    n = len(names)
    wins, games = _counts(n, pairs, scores)
    ratings = _elo(fit_bradley_terry(wins))
    rng = np.random.default_rng(seed)
    samples = np.array(
        [
            _elo(
                fit_bradley_terry(
                    _counts(
                        n, pairs, scores, np.bincount(rng.integers(0, len(pairs), len(pairs)), minlength=len(pairs))
                    )[0]
                )
            )
            for _ in range(rounds)
        ]
    ).reshape(-1, n)
    low, high = np.percentile(samples, [2.5, 97.5], axis=0) if rounds else (ratings, ratings)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(games > 0, wins / games, np.nan)
    order = np.argsort(-ratings, kind="stable")
    return Leaderboard(
        sides=[names[i] for i in order],
        ratings=[float(ratings[i]) for i in order],
        low=[float(low[i]) for i in order],
        high=[float(high[i]) for i in order],
        votes=[int(games[i].sum()) for i in order],
        win_rate=rate[np.ix_(order, order)],
        choices=choices,
    )


def _elo(p: np.ndarray) -> np.ndarray:
    return BASE_RATING + SCALE * np.log10(p)
