"""Show one record as the trainer sees it: the text after the chat template, token by token, trained or not.

The token ids and loss masks come from :mod:`workbench.data.masking`, the rule the trainers are configured
with, so the preview shows what training does. One :class:`TokenPreview` feeds an HTML view for notebooks and
the value of a ``gr.HighlightedText`` in the app.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from workbench.data.formats import record_kind
from workbench.data.loading import DataBundle, load_data
from workbench.data.masking import loss_settings, tokenize_for_training
from workbench.errors import WorkbenchError

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
    loss_on: str = "answer",
) -> TokenPreview:
    """Preview one record: a ``DataBundle`` with ``index``, or a record dict in any supported format.

    ``loss_on`` is the training config's field: "answer" (the default) or "all" tokens.

    Example:
        >>> bundle = load_data("data_samples/sentiment_json.train.jsonl")
        >>> preview_record(bundle, tokenizer, index=0).to_highlighted()[:2]
    """
    if isinstance(source, dict):
        bundle = load_data([source])
        if not bundle.report.usable:
            raise WorkbenchError(f"this record cannot be used:\n{bundle.report}")
        source, index = bundle, 0
    if not isinstance(source, DataBundle):
        raise WorkbenchError(f"preview a record dict or a DataBundle, not a {type(source).__name__}")
    if not 0 <= index < len(source.dataset):
        raise WorkbenchError(
            f"record index {index} is out of range: the data has {len(source.dataset)} usable records "
            f"(0-{len(source.dataset) - 1})"
        )
    record = source.dataset[index]
    kind = record_kind(record)
    settings = loss_settings(kind, loss_on, tokenizer)
    loss = {
        "conversational": "assistant turns only" if settings.assistant_only_loss else "every token",
        "prompt_completion": "completion only" if settings.completion_only_loss else "every token",
        "text": "every token",
        "preference": "DPO scores the chosen and rejected answers, not the prompt",
        "kto": "KTO scores the answer, marked good or bad, not the prompt",
    }[kind]
    preview = TokenPreview(kind=kind, loss=loss)
    for name, text, ids, mask in tokenize_for_training(record, tokenizer, settings):
        add_special = kind in ("text", "prompt_completion") or (
            kind in ("preference", "kto") and isinstance(record["prompt"], str)
        )
        pieces = _token_texts(tokenizer, text, ids, add_special_tokens=add_special)
        tokens = [
            PreviewToken(piece, token_id, bool(m), cut=max_length is not None and i >= max_length)
            for i, (piece, token_id, m) in enumerate(zip(pieces, ids, mask))
        ]
        preview.sequences.append(TokenSequence(name, tokens))
    return preview
