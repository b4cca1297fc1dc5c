"""Serve the app on loopback for a test exactly as `python app.py` does: same queue and launch options.

The environment the app reads (WORKBENCH_RUNS, WORKBENCH_PUBLIC) is set for as long as it serves, since the
callbacks read it at call time, and restored afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def serve(model_dir: Path, runs_dir: Path, **env: str) -> Iterator:
    """Yield the launched gradio Blocks (its ``local_url`` is on 127.0.0.1); ``env`` holds extra variables."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBENCH_RUNS", str(runs_dir))
        patch.delenv("WORKBENCH_PUBLIC", raising=False)
        patch.delenv("SPACE_ID", raising=False)
        for key, value in env.items():
            patch.setenv(key, value)
        from app import build_app, launch_options, queue_options

        app = build_app(str(model_dir))
        app.queue(**queue_options()).launch(
            prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", **launch_options()
        )
        try:
            yield app
        finally:
            app.close()
