"""Train/eval overlap (leakage): how much of a held-out set's prompts the training set already contains.

A held-out score means something only if the model never read the held-out text. This measures two things on
what each record asks (its prompt; the answers of a task like JSON ratings come from a small label set and
are meant to repeat): the share of the eval set's distinct sentences found verbatim in the training set, and
the share of its distinct word 8-grams found there (near-copies that differ in a word or two share most of
their 8-grams). Sentences that most records of both sets carry (the task's fixed instruction, a system prompt)
(in 90% of the records or more) define the task rather than leak an answer, and are left out of both counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from workbench.data.formats import prompt_and_reference, record_kind

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"\w+")
NGRAM = 8


@dataclass(frozen=True)
class Overlap:
    sentences: float  # share of the eval file's distinct sentences that appear in the training file
    ngrams: float  # share of its distinct word 8-grams that appear there
    task_sentences: tuple[str, ...]  # sentences shared by most records of both files, not counted

    def __str__(self) -> str:
        return (
            f"{self.sentences:.1%} of eval sentences and {self.ngrams:.1%} of eval 8-grams appear in the training data"
        )


def prompt_text(record: dict) -> str:
    """What a normalized record asks the model: its prompt's text (the whole text for plain-text records)."""
    if record_kind(record) == "text":
        return record["text"]
    prompt, _ = prompt_and_reference(record)
    return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)


def _sentences(text: str) -> set[str]:
    return {" ".join(s.lower().split()) for s in _SENTENCE_END.split(text) if s.strip()}


def _ngrams(sentences: Iterable[str]) -> set[tuple[str, ...]]:
    grams = set()
    for sentence in sentences:
        words = _WORD.findall(sentence)
        grams.update(tuple(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1))
    return grams


def measure_overlap(train: Iterable[dict], evaluation: Iterable[dict]) -> Overlap:
    """Sentence and 8-gram overlap of the ``evaluation`` records' prompts with the ``train`` records' prompts.

    Records are normalized (``load_data(...).dataset``).

    Example:
        >>> print(measure_overlap(load_data("a.train.jsonl").dataset, load_data("a.eval.jsonl").dataset))
        0.0% of eval sentences and 0.3% of eval 8-grams appear in the training data
    """
    train_sets = [_sentences(prompt_text(r)) for r in train]
    eval_sets = [_sentences(prompt_text(r)) for r in evaluation]

    def common(sets: list[set[str]]) -> set[str]:
        counts: dict[str, int] = {}
        for s in sets:
            for sentence in s:
                counts[sentence] = counts.get(sentence, 0) + 1
        return {s for s, n in counts.items() if n >= 0.9 * len(sets)}

    task = common(train_sets) & common(eval_sets)
    train_sentences = set().union(*train_sets) - task
    eval_sentences = set().union(*eval_sets) - task
    eval_grams, train_grams = _ngrams(eval_sentences), _ngrams(train_sentences)
    return Overlap(
        sentences=len(eval_sentences & train_sentences) / max(1, len(eval_sentences)),
        ngrams=len(eval_grams & train_grams) / max(1, len(eval_grams)),
        task_sentences=tuple(sorted(task)),
    )
