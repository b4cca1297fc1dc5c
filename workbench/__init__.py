"""The Fine-tuning Workbench core: load a model, prepare data, fine-tune it (SFT, DPO; full, LoRA, QLoRA),
generate, compare and evaluate. Lessons, the CLI and the Gradio app all call these functions."""

from workbench.errors import WorkbenchError
from workbench.hardware import choose_precision
from workbench.inference.generation import GenerationSettings, chat, stream_chat
from workbench.models import DEFAULT_MODEL, LoadedModel, load_model
from workbench.quiet import install as _install_quiet

_install_quiet()  # named start-up noise of bitsandbytes, PEFT and transformers (workbench/quiet.py)

__all__ = [
    "DEFAULT_MODEL",
    "GenerationSettings",
    "LoadedModel",
    "WorkbenchError",
    "chat",
    "choose_precision",
    "load_model",
    "stream_chat",
]
