"""Chat generation with the model's own chat template, streamed token by token, for one answer or a batch.

One function serves the CLI, the lessons' before/after cells, the app's chat, the side-by-side compare and
the evaluation, so a learner sees the same answer wherever they ask.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

import torch
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)
from transformers.generation.streamers import BaseStreamer

from workbench.inference.threads import start_compute_thread

Message = dict[str, str]


@dataclass
class GenerationSettings:
    """Sampling settings. The defaults keep the 135M model from looping, which greedy decoding often does."""

    # ``slider``: (low, high, step) of the usual values, the Chat and Arena tabs' sliders (workbench.ui.fields).
    max_new_tokens: int = field(default=160, metadata={"slider": (16, 512, 16)})
    temperature: float = field(default=0.3, metadata={"slider": (0, 1.5, 0.05)})  # 0 means greedy
    top_p: float = field(default=0.9, metadata={"slider": (0.1, 1.0, 0.05)})
    repetition_penalty: float = field(default=1.15, metadata={"slider": (1.0, 2.0, 0.05)})
    seed: int = 0

    def generate_kwargs(self, batch_size: int = 1) -> dict[str, object]:
        """Keyword arguments for ``model.generate``.

        Sampling is done by :class:`SeededSampling` rather than generate's own ``do_sample``: generate draws
        every row of a batch from one global random stream, so an answer would change with whatever else
        shares the batch. With one seeded stream per row, each side of a comparison gets the same answer
        alone or batched, and the same seed means the same random draws for every side.
        """
        kwargs: dict[str, object] = {
            "max_new_tokens": self.max_new_tokens,
            "repetition_penalty": self.repetition_penalty,
            "do_sample": False,
            "temperature": None,
            "top_p": None,
            "top_k": None,
        }
        if self.temperature > 0:
            kwargs["logits_processor"] = LogitsProcessorList(
                [
                    TemperatureLogitsWarper(self.temperature),
                    TopPLogitsWarper(self.top_p),
                    SeededSampling(self.seed, batch_size),
                ]
            )
        return kwargs

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class SeededSampling(LogitsProcessor):
    """Sample each row from its own seeded random stream (Gumbel-max: argmax of logits + Gumbel noise).

    Runs last, after temperature and top-p; generate then takes the argmax, which is a draw from the
    softmax of the processed logits. Tokens that top-p removed stay at -inf and are never drawn.
    """

    def __init__(self, seed: int, batch_size: int):
        self.generators = [torch.Generator().manual_seed(seed) for _ in range(batch_size)]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        uniform = torch.stack([torch.rand(scores.shape[-1], generator=g) for g in self.generators])
        gumbel = -torch.log(-torch.log(uniform.clamp_min(1e-20)))
        return scores + gumbel.to(scores.device, scores.dtype)


def finished(stream: Iterable[list[str]]) -> list[str]:
    """The last update of a stream of answers so far (:func:`stream_batch`, a bench's rows): the finished answers."""
    last = deque(stream, maxlen=1)
    return last[0] if last else []


def as_messages(prompt: str | list[Message], system: str | None = None) -> list[Message]:
    """A prompt string or a chat history as a message list, with an optional system prompt in front."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if system and (not messages or messages[0]["role"] != "system"):
        messages.insert(0, {"role": "system", "content": system})
    return messages


def chat_inputs(tokenizer, messages: list[Message], device: str | torch.device) -> dict[str, torch.Tensor]:
    """Token ids of a conversation under the model's chat template, ending where the assistant speaks next."""
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    return {k: v.to(device) for k, v in encoded.items()}


def batch_chat_inputs(
    tokenizer, conversations: Sequence[list[Message]], device: str | torch.device
) -> dict[str, torch.Tensor]:
    """Chat-template ids for several conversations, padded on the left so every row ends where its answer starts."""
    rows = [
        tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
        for c in conversations
    ]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.tensor([[pad] * (width - len(r)) + list(r) for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


class BatchTextStreamer(BaseStreamer):
    """Collect each row's new tokens as generate produces them and hand out the decoded texts.

    transformers' TextIteratorStreamer only accepts a batch of one; comparing sides in one batch needs a
    streamer that keeps one text per row. A row stops growing at its end-of-sequence token (generate keeps
    feeding finished rows padding until the longest one is done).
    """

    def __init__(self, tokenizer, batch_size: int, stop_ids: set[int]):
        self.tokenizer = tokenizer
        self.tokens: list[list[int]] = [[] for _ in range(batch_size)]
        self.done = [False] * batch_size
        self.stop_ids = stop_ids
        self.prompt_seen = False
        self.ended = False
        self.updates: list[list[str] | None] = []
        self.ready = threading.Condition()

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate's first call passes the prompt
            self.prompt_seen = True
            return
        for row, token in enumerate(value.reshape(len(self.tokens), -1)[:, -1].tolist()):
            if self.done[row]:
                continue
            if token in self.stop_ids:
                self.done[row] = True
            else:
                self.tokens[row].append(token)
        self._push([self._text(t) for t in self.tokens])

    def end(self) -> None:
        # generate calls end() itself; stream_batch calls it again in case generate failed before that.
        if not self.ended:
            self.ended = True
            self._push(None)

    def _text(self, tokens: list[int]) -> str:
        # A token can end inside a multi-byte character; hold the incomplete character back until it completes.
        return self.tokenizer.decode(tokens, skip_special_tokens=True).rstrip("\ufffd")

    def _push(self, item: list[str] | None) -> None:
        with self.ready:
            self.updates.append(item)
            self.ready.notify()

    def __iter__(self) -> Iterator[list[str]]:
        while True:
            with self.ready:
                self.ready.wait_for(lambda: self.updates)
                # Only the newest texts matter; a slow consumer skips intermediate states.
                items, self.updates = self.updates, []
            if items[-1] is None:
                if len(items) > 1:
                    yield items[-2]
                return
            yield items[-1]


class WhenCancelled(StoppingCriteria):
    """Stop every row once ``event`` is set: the reader of the stream went away."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def stream_batch(
    model,
    tokenizer,
    conversations: Sequence[list[Message]],
    settings: GenerationSettings | None = None,
) -> Iterator[list[str]]:
    """Generate answers to several conversations in one batch; yield every row's text so far after each step.

    Each row gets the same settings and seed (see :meth:`GenerationSettings.generate_kwargs`). Closing the
    iterator early stops the generation.
    """
    settings = settings or GenerationSettings()
    inputs = batch_chat_inputs(tokenizer, conversations, model.device)
    eos = model.generation_config.eos_token_id
    stop_ids = set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id}
    streamer = BatchTextStreamer(tokenizer, len(conversations), stop_ids - {None})
    cancelled = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with torch.inference_mode():
                model.generate(
                    **inputs,
                    streamer=streamer,
                    pad_token_id=tokenizer.pad_token_id,
                    stopping_criteria=StoppingCriteriaList([WhenCancelled(cancelled)]),
                    **settings.generate_kwargs(len(conversations)),
                )
        except BaseException as exc:  # re-raised in the caller's thread below
            errors.append(exc)
        finally:
            streamer.end()

    # generate() blocks until done; running it in a thread lets the caller consume tokens as they come.
    thread = start_compute_thread(run, name="generate")
    try:
        yield from streamer
    finally:
        # A reader that stops early (a closed page, a break) stops the generation after its current token,
        # instead of leaving it to use the cores up to max_new_tokens while the next request waits.
        cancelled.set()
        thread.join()
    if errors:
        raise errors[0]


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
    shown = ""
    for (text,) in stream_batch(model, tokenizer, [as_messages(prompt, system)], settings):
        if text.startswith(shown) and len(text) > len(shown):
            yield text[len(shown) :]
            shown = text


def chat(
    model, tokenizer, prompt: str | list[Message], settings: GenerationSettings | None = None, system: str | None = None
) -> str:
    """The whole answer as one string (see :func:`stream_chat`)."""
    return "".join(stream_chat(model, tokenizer, prompt, settings, system)).strip()
