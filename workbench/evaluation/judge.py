"""An optional pairwise judge: a local model the user names says which of two answers to a prompt is better.

Off unless a judge model is given (`workbench eval RUN --judge MODEL`). A small judge prefers whichever answer
it reads first or second (position bias), so every pair is judged twice with the answers swapped: a verdict
counts only when both orders agree, and a disagreement is a tie. The judge reads the next-token scores of
"1" and "2" instead of generating text, so it always answers and costs one forward pass per order.
"""

from __future__ import annotations

import torch

from workbench.inference.generation import chat_inputs

JUDGE_PROMPT = (
    "Here is a request and two answers to it.\n\nRequest:\n{prompt}\n\nAnswer 1:\n{first}\n\nAnswer 2:\n{second}\n\n"
    "Which answer is better: more correct, more helpful and closer to what was asked? Reply with 1 or 2 only."
)


def _prefers_second(model, tokenizer, prompt: str, first: str, second: str) -> bool:
    messages = [{"role": "user", "content": JUDGE_PROMPT.format(prompt=prompt, first=first, second=second)}]
    inputs = chat_inputs(tokenizer, messages, model.device)
    with torch.inference_mode():
        logits = model(**inputs).logits[0, -1]
    one, two = (tokenizer.encode(digit, add_special_tokens=False)[0] for digit in ("1", "2"))
    return bool(logits[two] > logits[one])


def judge_pairs(model, tokenizer, prompts: list[str], answers_a: list[str], answers_b: list[str]) -> list[float]:
    """For each prompt, 1.0 where B is better in both orders, 0.0 where A is, 0.5 where the orders disagree."""
    verdicts = []
    for prompt, a, b in zip(prompts, answers_a, answers_b):
        b_second = _prefers_second(model, tokenizer, prompt, a, b)
        b_first = not _prefers_second(model, tokenizer, prompt, b, a)
        verdicts.append(1.0 if b_second and b_first else 0.0 if not (b_second or b_first) else 0.5)
    return verdicts


def agreement(verdicts: list[float], score_changes: list[float]) -> float | None:
    """Share of decided verdicts that point the way the task metric moved (None where nothing can be compared)."""
    pairs = [(v, c) for v, c in zip(verdicts, score_changes) if v != 0.5 and c != 0]
    if not pairs:
        return None
    return sum((v == 1.0) == (c > 0) for v, c in pairs) / len(pairs)
