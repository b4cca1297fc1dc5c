"""Live progress in a notebook: a tqdm bar and a loss plot that redraws as train() logs steps.

Example:
    >>> from workbench.training import TrainConfig, train
    >>> from workbench.training.notebook import live_progress
    >>> config = TrainConfig(data="data_samples/sentiment_json.train.jsonl", max_steps=30)
    >>> result = train(config, on_event=live_progress())
"""

from __future__ import annotations

from tqdm.auto import tqdm

from workbench.training.events import Event, OnEvent
from workbench.training.plots import draw_loss, loss_figure


def live_progress(plot: bool = True, every: int = 1) -> OnEvent:
    """An ``on_event`` callback: tqdm for steps and ETA, and (in IPython) a refreshing loss plot every ``every``
    steps."""
    state: dict = {"bar": None, "records": [], "handle": None, "fig": None}

    def redraw() -> None:
        try:
            from IPython.display import display  # noqa: PLC0415  (optional: a plot is drawn only inside IPython)
        except ImportError:
            return
        import matplotlib.pyplot as plt  # noqa: PLC0415  (matplotlib, only when a plot is drawn)

        if state["fig"] is None:
            state["fig"] = loss_figure(state["records"])
            plt.close(state["fig"])  # shown through the display handle, not inline twice
            state["handle"] = display(state["fig"], display_id=True)
        else:
            draw_loss(state["fig"].axes[0], state["records"])
            state["handle"].update(state["fig"])

    def on_event(event: Event) -> None:
        if event["type"] == "step":
            if state["bar"] is None:
                state["bar"] = tqdm(total=event["max_steps"], unit="step")
            bar = state["bar"]
            bar.total = event["max_steps"]
            bar.n = event["step"]
            metrics = event["metrics"]
            bar.set_postfix({k: f"{metrics[k]:.3f}" for k in ("loss", "eval_loss") if k in metrics}, refresh=True)
            state["records"].append({"step": event["step"], **metrics})
            if plot and event["step"] % every == 0:
                redraw()
        elif event["type"] == "log" and state["bar"] is not None:
            state["bar"].write(event["message"])
        elif event["type"] == "done" and state["bar"] is not None:
            state["bar"].close()
            if plot:
                redraw()

    return on_event
