"""The loss curve of a run as a PNG (train and eval loss against the step)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from workbench.atomic import atomic_write_bytes
from workbench.workspace.runs import LOSS_PLOT, read_metrics


def loss_figure(records: list[dict[str, Any]], title: str = ""):
    import matplotlib  # noqa: PLC0415  (matplotlib, loaded when a plot is drawn)

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # noqa: PLC0415  (matplotlib, loaded when a plot is drawn)

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    draw_loss(ax, records, title)
    fig.tight_layout()
    return fig


def draw_loss(ax, records: list[dict[str, Any]], title: str = "") -> None:
    """Draw train and eval loss on ``ax`` (shared by the PNG, the notebook helper and the app)."""
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415  (matplotlib, loaded when a plot is drawn)

    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    evals = [(r["step"], r["eval_loss"]) for r in records if "eval_loss" in r]
    ax.clear()
    if train:
        ax.plot(*zip(*train), label="train loss", color="tab:blue")
    if evals:
        ax.plot(*zip(*evals), "o-", label="eval loss", color="tab:orange")
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers: no 0.25 ticks on short runs
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title)
    if train or evals:
        ax.legend()
    ax.grid(alpha=0.3)


def save_loss_plot(run_dir: str | Path) -> Path:
    import matplotlib.pyplot as plt  # noqa: PLC0415  (matplotlib, loaded when a plot is drawn)

    run_dir = Path(run_dir)
    fig = loss_figure(read_metrics(run_dir), title=run_dir.name)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(run_dir / LOSS_PLOT, buffer.getvalue())
    return run_dir / LOSS_PLOT
