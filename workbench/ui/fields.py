"""Form inputs built from a settings dataclass's fields (TrainConfig, GenerationSettings), so no form re-types a
default, a bound or a help text: the field's default (or the value given), its ``help`` as the info line, and a
slider over the usual values its metadata names (``slider``: low, high, step), else a number box."""

from __future__ import annotations

import dataclasses
from typing import Any

import gradio as gr


def field_input(settings: type, name: str, label: str, value: Any = dataclasses.MISSING, **kwargs: Any):
    """The input for field ``name`` of the dataclass ``settings``; ``kwargs`` go to Gradio (``maximum`` lowers the
    slider's top, e.g. to a public server's cap)."""
    field = next(f for f in dataclasses.fields(settings) if f.name == name)
    value = field.default if value is dataclasses.MISSING else value
    info = field.metadata.get("help")
    if "slider" not in field.metadata:
        return gr.Number(value=value, label=label, info=info, **kwargs)
    low, high, step = field.metadata["slider"]
    high = min(high, kwargs.pop("maximum", high))
    return gr.Slider(low, high, value=value, step=step, label=label, info=info, **kwargs)
