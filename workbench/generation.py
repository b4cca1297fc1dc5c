"""Chat generation with the model's own chat template, streamed token by token.

One function serves the CLI, the lessons' before/after cells, the app's chat and the evaluation, so a
learner sees the same answer wherever they ask.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch

Message = dict[str, str]


@dataclass
class GenerationSettings:
    """Sampling settings. The defaults keep the 135M model from looping, which greedy decoding often does."""

    max_new_tokens: int = 160
    temperature: float = 0.3  # 0 means greedy
    top_p: float = 0.9
    repetition_penalty: float = 1.15
    seed: int = 0

    def generate_kwargs(self) -> dict[str, object]:
        kwargs: dict[str, object] = {
            "max_new_tokens": self.max_new_tokens,
            "repetition_penalty": self.repetition_penalty,
        }
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature, top_p=self.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def as_messages(prompt: str | list[Message], system: str | None = None) -> list[Message]:
    """A prompt string or a chat history as a message list, with an optional system prompt in front."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if system and (not messages or messages[0]["role"] != "system"):
        messages.insert(0, {"role": "system", "content": system})
    return messages


def chat_inputs(tokenizer, messages: list[Message], device: str | torch.device) -> dict[str, torch.Tensor]:
    """Token ids of a conversation under the model's chat template, ending where the assistant speaks next."""
    encoded = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    return {k: v.to(device) for k, v in encoded.items()}


def stream_chat(
    model,
    tokenizer,
    prompt: str | list[Message],
    settings: GenerationSettings | None = None,
    system: str | None = None,
) -> Iterator[str]:
    """Yield the answer's text piece by piece as the model writes it.

    Example:
        >>> lm = load_model("default")
        >>> for piece in stream_chat(lm.model, lm.tokenizer, "What is the capital of France?"):
        ...     print(piece, end="")
    """
    from transformers import TextIteratorStreamer

    settings = settings or GenerationSettings()
    inputs = chat_inputs(tokenizer, as_messages(prompt, system), model.device)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            torch.manual_seed(settings.seed)
            with torch.inference_mode():
                model.generate(
                    **inputs, streamer=streamer, pad_token_id=tokenizer.pad_token_id, **settings.generate_kwargs()
                )
        except BaseException as exc:  # re-raised in the caller's thread below
            errors.append(exc)
            streamer.end()

    # generate() blocks until done; running it in a thread lets the caller consume tokens as they come.
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield from streamer
    thread.join()
    if errors:
        raise errors[0]


def chat(model, tokenizer, prompt: str | list[Message], settings: GenerationSettings | None = None, system: str | None = None) -> str:
    """The whole answer as one string (see :func:`stream_chat`)."""
    return "".join(stream_chat(model, tokenizer, prompt, settings, system)).strip()
