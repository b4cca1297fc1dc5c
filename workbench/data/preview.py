"""Show one record as the trainer sees it: the text after the chat template, token by token, trained or not.

The token ids and loss masks are built the way TRL's trainers build them (SFTTrainer's tokenize step and
DPOTrainer's prompt/completion split, both read from trl 1.16), and the tests compare them with the labels
the real trainers produce. One :class:`TokenPreview` feeds an HTML view for notebooks and the value of a
``gr.HighlightedText`` in the app.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from trl.data_utils import common_prefix_length

from workbench.data.chat_template import training_chat_template
from workbench.data.formats import record_kind

TRAINED, NOT_TRAINED, CUT = "trained", None, "cut by max_length"
# For gr.HighlightedText(color_map=COLOR_MAP): unlabelled (not trained) text stays plain.
COLOR_MAP = {TRAINED: "#22c55e", CUT: "#ef4444"}


@dataclass
class PreviewToken:
    text: str
    token_id: int
    trained: bool  # counted by the loss (before truncation)
    cut: bool = False  # past max_length: truncation removes it, trained or not

    @property
    def label(self) -> str | None:
        return CUT if self.cut else (TRAINED if self.trained else NOT_TRAINED)


@dataclass
class TokenSequence:
    """One sequence the model is trained on; preference records have two (chosen, rejected)."""

    name: str
    tokens: list[PreviewToken]

    @property
    def text(self) -> str:
        return "".join(t.text for t in self.tokens)

    @property
    def trained_mask(self) -> list[bool]:
        """True where the trainer's label is the token id, False where it is -100 (after truncation)."""
        return [t.trained and not t.cut for t in self.tokens]

    @property
    def trained_token_count(self) -> int:
        return sum(self.trained_mask)

    @property
    def cut_count(self) -> int:
        return sum(t.cut for t in self.tokens)


@dataclass
class TokenPreview:
    """A record rendered for training, with each token marked trained or not."""

    kind: str
    loss: str  # which tokens the loss counts, in words
    sequences: list[TokenSequence] = field(default_factory=list)

    @property
    def trained_token_count(self) -> int:
        return sum(s.trained_token_count for s in self.sequences)

    @property
    def token_count(self) -> int:
        return sum(len(s.tokens) for s in self.sequences)

    def to_highlighted(self) -> list[tuple[str, str | None]]:
        """``[(text, label)]`` for ``gr.HighlightedText``; neighbouring tokens with one label are merged."""
        out: list[tuple[str, str | None]] = []
        for sequence in self.sequences:
            if len(self.sequences) > 1:
                out.append((f"{'' if not out else chr(10) * 2}── {sequence.name} ──\n", None))
            for token in sequence.tokens:
                if out and out[-1][1] == token.label:
                    out[-1] = (out[-1][0] + token.text, token.label)
                else:
                    out.append((token.text, token.label))
        return out

    def to_html(self) -> str:
        """Coloured HTML for notebooks; dataset text is escaped, so markup in the data shows as text."""
        parts = [
            "<div style='font-family:monospace;white-space:pre-wrap;line-height:1.6'>",
            f"<div><b>{html.escape(self.kind)}</b>: {html.escape(self.loss)}. "
            f"<span style='background:{COLOR_MAP[TRAINED]}55'>trained</span> "
            f"<span style='color:#6b7280'>not trained</span> "
            f"<span style='background:{COLOR_MAP[CUT]}55;text-decoration:line-through'>cut by max_length</span>"
            f" &middot; {self.trained_token_count} of {self.token_count} tokens trained</div>",
        ]
        for sequence in self.sequences:
            if len(self.sequences) > 1:
                parts.append(f"<div style='margin-top:.6em'><b>{html.escape(sequence.name)}</b></div>")
            parts.append("<div>")
            for token in sequence.tokens:
                style = {
                    TRAINED: f"background:{COLOR_MAP[TRAINED]}55",
                    CUT: f"background:{COLOR_MAP[CUT]}55;text-decoration:line-through",
                    NOT_TRAINED: "color:#6b7280",
                }[token.label]
                title = html.escape(f"id {token.token_id}: {token.label or 'not trained'}", quote=True)
                parts.append(f"<span style='{style}' title='{title}'>{html.escape(token.text)}</span>")
            parts.append("</div>")
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self) -> str:  # Jupyter shows the coloured view when a preview is a cell's value
        return self.to_html()


def _with_eos(text: str, eos: str) -> str:
    # TRL appends EOS to non-conversational completions and text, so the model learns to stop.
    return text if text.endswith(eos) else text + eos


def tokenize_for_training(
    record: dict,
    tokenizer,
    assistant_only_loss: bool = True,
    completion_only_loss: bool = True,
) -> list[tuple[str, str, list[int], list[int]]]:
    """``[(name, text, input_ids, loss_mask)]`` for a normalized record, as SFTTrainer/DPOTrainer tokenize it.

    ``assistant_only_loss`` and ``completion_only_loss`` mean what they mean in ``SFTConfig``; preference
    records follow DPOTrainer, which always scores only the completions.
    """
    kind = record_kind(record)
    if kind == "conversational":
        # SFTTrainer renders with the training template when assistant-only loss needs the markers.
        template = training_chat_template(tokenizer) if assistant_only_loss else None
        out = tokenizer.apply_chat_template(
            record["messages"], tokenize=True, return_dict=True,
            return_assistant_tokens_mask=assistant_only_loss, chat_template=template,
        )
        ids = list(out["input_ids"])
        mask = list(out["assistant_masks"]) if assistant_only_loss else [1] * len(ids)
        text = tokenizer.apply_chat_template(record["messages"], tokenize=False, chat_template=template)
        return [("sequence", text, ids, mask)]
    if kind == "text":
        text = _with_eos(record["text"], tokenizer.eos_token)
        ids = tokenizer(text=text)["input_ids"]
        return [("sequence", text, ids, [1] * len(ids))]
    if kind == "prompt_completion":
        text = record["prompt"] + _with_eos(record["completion"], tokenizer.eos_token)
        prompt_ids = tokenizer(text=record["prompt"])["input_ids"]
        ids = tokenizer(text=text)["input_ids"]
        n = common_prefix_length(prompt_ids, ids) if completion_only_loss else 0
        return [("sequence", text, ids, [0] * n + [1] * (len(ids) - n))]
    return _tokenize_preference(record, tokenizer)


def _tokenize_preference(record: dict, tokenizer) -> list[tuple[str, str, list[int], list[int]]]:
    prompt = record["prompt"]
    chat = isinstance(prompt, list)
    if chat:
        # DPOTrainer renders with the tokenizer's own template (no training template: no masks needed).
        prompt_ids = tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
        texts = {k: tokenizer.apply_chat_template(prompt + record[k], tokenize=False) for k in ("chosen", "rejected")}
        full = {k: list(tokenizer.apply_chat_template(prompt + record[k], tokenize=True, return_dict=True)["input_ids"])
                for k in texts}
    else:
        prompt_ids = tokenizer(text=prompt)["input_ids"]
        texts = {k: prompt + _with_eos(record[k], tokenizer.eos_token) for k in ("chosen", "rejected")}
        full = {k: tokenizer(text=t)["input_ids"] for k, t in texts.items()}
    # As in DPOTrainer: the completion starts where prompt and prompt+answer diverge, for both answers.
    n = min(common_prefix_length(prompt_ids, ids) for ids in full.values())
    return [(k, texts[k], full[k], [0] * n + [1] * (len(full[k]) - n)) for k in ("chosen", "rejected")]


def _token_texts(tokenizer, text: str, ids: list[int], add_special_tokens: bool) -> list[str]:
    """The exact piece of ``text`` behind each token, so the pieces join back into the text.

    Offsets from the tokenizer give exact spans (decoding tokens one by one would garble multi-byte
    characters split across tokens). Where re-tokenizing does not reproduce ``ids``, decode instead.
    """
    encoded = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    if encoded["input_ids"] != ids:
        return [tokenizer.decode([i]) for i in ids]
    starts = [start for start, _ in encoded["offset_mapping"]]
    ends = starts[1:] + [len(text)]
    return [text[s:e] for s, e in zip(starts, ends)]


def preview_record(
    source,
    tokenizer,
    index: int = 0,
    max_length: int | None = None,
    assistant_only_loss: bool = True,
    completion_only_loss: bool = True,
) -> TokenPreview:
    """Preview one record: a ``DataBundle`` with ``index``, or a record dict in any supported format.

    Example:
        >>> bundle = load_data("data_samples/sentiment_json.train.jsonl")
        >>> preview_record(bundle, tokenizer, index=0).to_highlighted()[:2]
    """
    from workbench.data.loading import DataBundle, load_data
    from workbench.errors import WorkbenchError

    if isinstance(source, dict):
        bundle = load_data([source])
        if not bundle.report.usable:
            raise WorkbenchError(f"this record cannot be used:\n{bundle.report}")
        source, index = bundle, 0
    if not isinstance(source, DataBundle):
        raise WorkbenchError(f"preview a record dict or a DataBundle, not a {type(source).__name__}")
    if not 0 <= index < len(source.dataset):
        raise WorkbenchError(f"record index {index} is out of range: the data has {len(source.dataset)} usable records (0-{len(source.dataset) - 1})")
    record = source.dataset[index]
    kind = record_kind(record)
    loss = {
        "conversational": "assistant turns only" if assistant_only_loss else "every token",
        "prompt_completion": "completion only" if completion_only_loss else "every token",
        "text": "every token",
        "preference": "DPO scores the chosen and rejected answers, not the prompt",
    }[kind]
    preview = TokenPreview(kind=kind, loss=loss)
    for name, text, ids, mask in tokenize_for_training(record, tokenizer, assistant_only_loss, completion_only_loss):
        add_special = kind in ("text", "prompt_completion") or (kind == "preference" and isinstance(record["prompt"], str))
        pieces = _token_texts(tokenizer, text, ids, add_special_tokens=add_special)
        tokens = [
            PreviewToken(piece, token_id, bool(m), cut=max_length is not None and i >= max_length)
            for i, (piece, token_id, m) in enumerate(zip(pieces, ids, mask))
        ]
        preview.sequences.append(TokenSequence(name, tokens))
    return preview
