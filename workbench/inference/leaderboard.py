"""Arena votes into a leaderboard: Bradley-Terry ratings with bootstrap intervals, a win-rate matrix, vote counts.

Bradley-Terry says side i beats side j with probability p_i / (p_i + p_j). The strengths are fitted by Newton's
method on their logarithms, written here in numpy: scipy, scikit-learn and choix are not dependencies, and the
loop is a few lines. (Hunter's MM iteration, the textbook choice, crawls when a side wins or loses nearly every
vote, which an arena sees often: hundreds of steps against Newton's few.) A tie or "both bad" counts
half a win to each side, as FastChat's arena counts ties. Ratings are shown on the Elo scale FastChat uses
(1000 + 400 log10 p, geometric mean 1000), so 100 points mean about 64% expected wins.

Example:
    >>> board = leaderboard(read_votes("runs/.votes"))
    >>> print(board.table())
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

# Half a virtual tie between every two sides: keeps a side that never lost finite and the ratings defined when
# the vote graph is not connected; a handful of votes outweighs it.
PRIOR_TIES = 0.5
SCALE, BASE_RATING = 400.0, 1000.0
MANY_VOTES = 10_000  # beyond this, "many more votes": the sides may not differ at all
# Below this many votes a side's bootstrap interval is too narrow to trust (one vote has none at all).
MIN_VOTES = 10


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
        """The leaderboard as a Markdown table, with a line under it for each two neighbours it cannot tell apart."""
        lines = ["| rank | side | rating | 95% interval | votes |", "| --- | --- | --- | --- | --- |"]
        lines += [
            f"| {r['rank']} | {r['side']} | {r['rating']:.0f} | {r['low']:.0f} to {r['high']:.0f} | {r['votes']} |"
            for r in self.rows()
        ]
        notes = self.too_close()
        return "\n".join(lines + ([""] + [f"- {note}" for note in notes] if notes else []))

    def too_close(self) -> list[str]:
        """For each two sides next in the ranking that the votes cannot tell apart (intervals that overlap, or fewer
        than MIN_VOTES votes, whose bootstrap intervals are too narrow to trust): how many more votes would usually
        separate them (an interval narrows with the square root of the votes)."""
        notes = []
        for i in range(len(self.sides) - 1):
            pair = f"{self.sides[i]} and {self.sides[i + 1]}: too few votes to tell"
            votes = min(self.votes[i], self.votes[i + 1])
            if votes < MIN_VOTES:
                notes.append(f"{pair}; at least {MIN_VOTES - votes} more votes each before their intervals mean much")
                continue
            if self.low[i] > self.high[i + 1]:
                continue
            gap = self.ratings[i] - self.ratings[i + 1]
            widths = (self.high[i] - self.low[i] + self.high[i + 1] - self.low[i + 1]) / 2
            more = votes * ((widths / gap) ** 2 - 1) if gap > 0 else float("inf")
            needed = f"about {_round_up(more)} more votes each" if more < MANY_VOTES else "many more votes"
            notes.append(f"{pair}; {needed} would usually separate them, if they differ as much as they seem to")
        return notes

    def heatmap(self):
        """The win-rate matrix as a matplotlib figure (rows: the side, columns: its opponent)."""
        # Imported here: matplotlib is slow to import and only a drawn board needs it. Not pyplot: a server draws
        # many boards, pyplot would keep them all.
        from matplotlib.figure import Figure  # noqa: PLC0415

        n = len(self.sides)
        fig = Figure(figsize=(4.6 + 0.9 * n, 1.2 + 0.8 * n))
        ax, intervals = fig.subplots(1, 2, width_ratios=[1.6 + 0.9 * n, 3])
        image = ax.imshow(np.ma.masked_invalid(self.win_rate), cmap="RdYlGn", vmin=0, vmax=1)
        ax.set_xticks(range(n), self.sides, rotation=30, ha="right")
        ax.set_yticks(range(n), self.sides)
        for i in range(n):
            for j in range(n):
                if not np.isnan(self.win_rate[i, j]):
                    ax.text(j, i, f"{self.win_rate[i, j]:.2f}", ha="center", va="center", fontsize=9)
        ax.set(xlabel="against", ylabel="side", title="Win rate (ties count half)")
        fig.colorbar(image, ax=ax, fraction=0.046)
        # Beside it, each rating with its 95% interval: overlapping bars are sides the votes cannot tell apart yet.
        rows = np.arange(n)
        errors = [np.subtract(self.ratings, self.low), np.subtract(self.high, self.ratings)]
        intervals.errorbar(self.ratings, rows, xerr=errors, fmt="o", capsize=4)
        intervals.set_yticks(rows, self.sides)
        intervals.invert_yaxis()
        intervals.set(xlabel="rating (95% interval)", title="Ratings")
        intervals.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        return fig


Outcome = tuple[str, str, str]  # (side A, side B, choice)


def outcome(vote: dict) -> Outcome | None:
    """What a vote says to the leaderboard, or None for one it cannot use (malformed, or a side against itself)."""
    sides, choice = vote.get("sides"), vote.get("choice")
    if not isinstance(sides, dict) or choice not in ("a", "b", "tie", "both_bad"):
        return None
    a, b = sides.get("a"), sides.get("b")
    if not (isinstance(a, str) and isinstance(b, str)) or a == b:
        return None
    return a, b, choice


def count_outcomes(votes: Iterable[dict]) -> Counter[Outcome]:
    """How many votes said each (side A, side B, choice), in the order first seen."""
    return Counter(o for o in map(outcome, votes) if o is not None)


def fit_bradley_terry(wins: np.ndarray, iterations: int = 100, tol: float = 1e-9) -> np.ndarray:
    """Strengths p (geometric mean 1) from a matrix of wins[i, j] (ties already split), by Newton's method.

    ``wins`` may hold a stack of matrices (shape ``(..., n, n)``): they are fitted together, one p each.
    """
    n = wins.shape[-1]
    wins = wins + PRIOR_TIES / 2 * (1 - np.eye(n))
    games = wins + np.swapaxes(wins, -1, -2)
    total = wins.sum(axis=-1)
    theta = np.zeros(wins.shape[:-1])  # log strengths, mean 0
    for _ in range(iterations):
        beats = 1 / (1 + np.exp(theta[..., None, :] - theta[..., :, None]))  # beats[i, j]: P(i beats j)
        gradient = total - (games * beats).sum(axis=-1)
        curvature = games * beats * np.swapaxes(beats, -1, -2)
        # The Hessian is minus a graph Laplacian (singular along "all sides alike"); adding 1/n everywhere makes
        # it solvable and keeps the step's mean 0, since the gradient's entries sum to 0.
        laplacian = np.eye(n) * curvature.sum(axis=-1)[..., None] - curvature + 1 / n
        step = np.linalg.solve(laplacian, gradient[..., None])[..., 0]
        largest = np.abs(step).max()
        theta = theta + step / max(1.0, largest)  # at most a factor e per step: no overshoot far from the optimum
        if largest < tol:
            break
    return np.exp(theta)


def leaderboard(votes: Iterable[dict], rounds: int = 200, seed: int = 0) -> Leaderboard:
    """Fit Bradley-Terry on the votes and bootstrap them ``rounds`` times (votes drawn with replacement).

    Raises ValueError when no vote names two different sides.
    """
    return leaderboard_from_counts(count_outcomes(votes), rounds, seed)


def leaderboard_from_counts(counts: Mapping[Outcome, int], rounds: int = 200, seed: int = 0) -> Leaderboard:
    """The leaderboard of votes given as counts per outcome (``count_outcomes``, or a log's running tally).

    Its cost depends on the number of sides, not of votes: drawing N votes with replacement from K kinds of
    outcome is one multinomial draw of K counts, so each bootstrap round is a draw and a fit, all rounds at once.
    """
    kinds = [(k, n) for k, n in counts.items() if n > 0]
    if not kinds:
        raise ValueError("no votes between two different sides yet")
    names: dict[str, int] = {}
    for (a, b, _), _n in kinds:
        names.setdefault(a, len(names))
        names.setdefault(b, len(names))
    n = len(names)
    # One matrix per kind of outcome: A's score in wins[a, b], B's in wins[b, a] (a tie or "both bad" half each).
    per_vote = np.zeros((len(kinds), n, n))
    for k, ((a, b, choice), _n) in enumerate(kinds):
        score = {"a": 1.0, "b": 0.0}.get(choice, 0.5)
        per_vote[k, names[a], names[b]] += score
        per_vote[k, names[b], names[a]] += 1 - score
    number = np.array([c for _, c in kinds], dtype=float)
    wins = np.einsum("k,kij->ij", number, per_vote)
    games = wins + wins.T
    ratings = _elo(fit_bradley_terry(wins))
    if rounds:
        draws = np.random.default_rng(seed).multinomial(int(number.sum()), number / number.sum(), size=rounds)
        samples = _elo(fit_bradley_terry(np.einsum("rk,kij->rij", draws.astype(float), per_vote)))
        low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    else:
        low, high = ratings, ratings
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(games > 0, wins / games, np.nan)
    order = np.argsort(-ratings, kind="stable")
    side_names = list(names)
    choices: Counter[str] = Counter()
    for (_, _, choice), count in kinds:
        choices[choice] += count
    return Leaderboard(
        sides=[side_names[i] for i in order],
        ratings=[float(ratings[i]) for i in order],
        low=[float(low[i]) for i in order],
        high=[float(high[i]) for i in order],
        votes=[int(games[i].sum()) for i in order],
        win_rate=rate[np.ix_(order, order)],
        choices=dict(choices),
    )


def _round_up(votes: float) -> int:
    """A vote count to two significant figures, rounded up (never fewer than 1)."""
    votes = max(1, math.ceil(votes))
    step = 10 ** max(0, len(str(votes)) - 2)
    return -(-votes // step) * step


def _elo(p: np.ndarray) -> np.ndarray:
    return BASE_RATING + SCALE * np.log10(p)
