"""The Fine-tuning Workbench app: `python app.py` serves it on the embedded default model.

Environment: WORKBENCH_MODEL (default "default"), WORKBENCH_RUNS (run folders, default runs/),
WORKBENCH_PUBLIC=1 (public-Space caps; on by itself where SPACE_ID is set), GRADIO_SERVER_NAME / GRADIO_SERVER_PORT.
Workshop mode (docs/workshop.md): WORKBENCH_WORKSHOP=1, WORKBENCH_TEACHER_PASSWORD, WORKBENCH_AUTH="ana:pw1,ben:pw2",
WORKBENCH_CONCURRENT_RUNS.
"""

from __future__ import annotations

import os

from workbench.server import zerogpu  # noqa: F401  (first: on ZeroGPU, `spaces` must be imported before CUDA starts)

# isort: split
import gradio as gr

from workbench.inference.answers import base_model
from workbench.inference.threads import release_idle_workers
from workbench.models import DEFAULT_MODEL, describe_default_model
from workbench.server import public, request_limits
from workbench.server.run_manager import MANAGER, QUEUE_FILE
from workbench.ui.arena_tab import build_arena_tab
from workbench.ui.chat_tab import build_chat_tab
from workbench.ui.data_tab import build_data_tab
from workbench.ui.evaluate_tab import build_evaluate_tab
from workbench.ui.export_tab import build_export_tab
from workbench.ui.gate import GuardedBlocks
from workbench.ui.i18n import localize, translations
from workbench.ui.identity import build_identity_bar
from workbench.ui.method_tab import build_method_tab
from workbench.ui.runs_tab import build_runs_tab
from workbench.ui.teacher_tab import build_teacher_tab, teacher_password
from workbench.ui.train_tab import build_train_tab
from workbench.workspace.learners import (
    feedback_file,
    is_public,
    runs_root,
    single_user,
    votes_dir,
    workshop_enabled,
)


def build_app(model_name: str = DEFAULT_MODEL) -> gr.Blocks:
    with GuardedBlocks(title="Fine-tuning Workbench") as app:  # numbers checked, refusals logged in one line
        gr.Markdown(
            "# Fine-tuning Workbench\nSee a real model change its behaviour in minutes, on your own CPU: "
            "look at the data, train, compare the answers, evaluate."
        )
        gr.Markdown(f"Serving **{describe_default_model() if model_name == DEFAULT_MODEL else model_name}**.")
        who = build_identity_bar(app)
        with gr.Tabs() as tabs:
            data_source, upload_path = build_data_tab(app, model_name)
            train = build_train_tab(app, model_name, data_source, upload_path, who)
            build_runs_tab(app, who)
            build_arena_tab(app, model_name, who)
            build_evaluate_tab(app, who)
            build_export_tab(app, who)
            build_method_tab(train, tabs)
            build_chat_tab(model_name, who)
            if teacher_password():
                build_teacher_tab()
    return localize(app)


def launch_options() -> dict:
    """What launch() needs beyond the defaults: the interface's Korean (where the browser asks for it); the run
    folders may be served on one person's own server only (in workshop and public mode each person's files go out
    as copies; never the votes and Chat thumbs, which hold the conversations, nor a dot-file); uploads and request
    bodies are capped in public mode; logins where the teacher set them."""
    blocked = [votes_dir(single_user()), feedback_file(single_user()).parent]  # both hold conversations
    options: dict = {"blocked_paths": [str(p.resolve()) for p in blocked], "i18n": translations()}
    middleware = []
    if not workshop_enabled() and not is_public():
        options["allowed_paths"] = [str(runs_root().resolve())]
        middleware.append(request_limits.hidden_files_middleware(options["allowed_paths"]))
    logins = os.environ.get("WORKBENCH_AUTH")
    if logins:  # "ana:pw1,ben:pw2": Gradio's own login page; each user name becomes a learner
        options["auth"] = [tuple(pair.split(":", 1)) for pair in logins.split(",") if ":" in pair]
    limit = public.caps().max_upload_mb
    if limit is not None:
        options["max_file_size"] = f"{limit:g}mb"
        middleware.append(request_limits.middleware())  # every API call's body, too
    if middleware:
        options["app_kwargs"] = {"middleware": middleware}
    return options


def queue_options() -> dict:
    """Four quick events (data, estimate, polls) at once; generation has its own pool (public.caps().generations).

    In public mode the queue is bounded too: a crowd beyond it is told the server is full rather than waiting
    in a queue that only grows.
    """
    return {"default_concurrency_limit": 4, "max_size": public.caps().queue_size}


def main() -> None:
    model_name = os.environ.get("WORKBENCH_MODEL", DEFAULT_MODEL)
    # Load (and on first run convert) the model before serving, so the first visitor does not wait.
    print(base_model(model_name).summary(), flush=True)
    release_idle_workers()  # from here on this thread only serves pages; training and answers compute elsewhere
    dropped = MANAGER.restore(runs_root() / QUEUE_FILE)
    if dropped:
        print(f"{len(dropped)} run(s) waiting when the server stopped are marked dropped: {', '.join(dropped)}")
    build_app(model_name).queue(**queue_options()).launch(**launch_options())


if __name__ == "__main__":
    main()
