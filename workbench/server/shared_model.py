"""The one base model the app serves, loaded once per server and shared by every visitor.

A 135M model fits many times over in memory, but loading it per visitor would waste seconds and RAM;
module-level state in Gradio is shared across sessions, which is exactly what is wanted here.
"""

from __future__ import annotations

import threading

from workbench.models import LoadedModel, load_model

_lock = threading.Lock()
_loaded: dict[str, LoadedModel] = {}


def get_model(name: str) -> LoadedModel:
    """Load ``name`` on first call (thread-safe), then return the same object."""
    with _lock:
        if name not in _loaded:
            _loaded[name] = load_model(name)
        return _loaded[name]
