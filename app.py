"""The Fine-tuning Workbench app: `python app.py` serves it on the embedded default model.

Environment: WORKBENCH_MODEL (default "default"), GRADIO_SERVER_NAME / GRADIO_SERVER_PORT as usual.
"""

from __future__ import annotations

import os

import gradio as gr

from workbench.models import DEFAULT_MODEL
from workbench.ui.chat_tab import build_chat_tab
from workbench.ui.shared_model import get_model


def build_app(model_name: str = DEFAULT_MODEL) -> gr.Blocks:
    with gr.Blocks(title="Fine-tuning Workbench") as app:
        gr.Markdown("# Fine-tuning Workbench\nSee a real model change its behaviour in minutes, on your own CPU.")
        build_chat_tab(model_name)
    return app


def main() -> None:
    model_name = os.environ.get("WORKBENCH_MODEL", DEFAULT_MODEL)
    # Load (and on first run convert) the model before serving, so the first visitor does not wait.
    print(get_model(model_name).summary(), flush=True)
    build_app(model_name).queue(default_concurrency_limit=4).launch()


if __name__ == "__main__":
    main()
