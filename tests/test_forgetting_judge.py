"""The forgetting probe's rules and questions, and the pairwise judge's position swap."""

from __future__ import annotations

import pytest

from workbench.evaluation import judge
from workbench.evaluation.forgetting import load_probe, passes, score_probe


def test_checks_accept_right_answers_and_refuse_wrong_or_refusing_ones():
    assert passes("The capital of France is Paris.", {"any": ["paris"]})
    assert not passes("The capital of France is Lyon.", {"any": ["paris"]})
    assert not passes("I'm sorry, I cannot answer that. Paris.", {"any": ["paris"]})  # a refusal is a regression
    assert passes("The answer is: 4", {"regex": r"\b4\b"}) and not passes("The answer is 14", {"regex": r"\b4\b"})
    assert passes("The answer is the cat.", {"any": ["cat"], "max_words": 6})
    assert not passes('{"sentiment": "positive", "stars": 5} cat cat cat cat cat', {"any": ["cat"], "max_words": 6})
    assert not passes("", {})


def test_probe_covers_four_kinds_of_question():
    items = load_probe()
    assert {i.category for i in items} == {"facts", "arithmetic", "format", "helpful"}
    for item in items:
        assert item.prompt and set(item.check) <= {"any", "regex", "max_words"}, item


def test_score_lists_what_the_tuned_model_lost():
    items = load_probe()[:3]
    right = ["Paris.", "Tokyo.", "Rome."]
    json_only = ['{"sentiment": "positive", "stars": 5}', "Tokyo.", '{"sentiment": "neutral", "stars": 3}']
    scored = score_probe(items, {"base": right, "tuned": json_only})
    assert scored["sides"]["base"]["score"] == 1.0
    assert scored["sides"]["tuned"]["score"] == pytest.approx(1 / 3)
    assert scored["sides"]["tuned"]["lost"] == [items[0].prompt, items[2].prompt]
    assert scored["items"][1]["passed"] == {"base": True, "tuned": True}


@pytest.mark.embedded
def test_the_base_model_answers_the_probe(default_model_dir):
    """The probe measures what a fine-tune breaks only if the base gets its questions right to begin with."""
    from workbench.evaluation.evaluate import PROBE_SETTINGS
    from workbench.inference.generation import finished, stream_batch
    from workbench.models import load_model

    lm = load_model("default")
    items = load_probe()
    answers = []
    for start in range(0, len(items), 11):
        batch = [[{"role": "user", "content": i.prompt}] for i in items[start : start + 11]]
        answers += finished(stream_batch(lm.model, lm.tokenizer, batch, PROBE_SETTINGS))
    assert score_probe(items, {"base": answers})["sides"]["base"]["score"] >= 0.9


def test_position_swap_turns_a_position_bias_into_ties(monkeypatch):
    # A judge that always picks the second answer says nothing about the answers: every pair is a tie.
    monkeypatch.setattr(judge, "_prefers_second", lambda model, tok, prompt, first, second: True)
    assert judge.judge_pairs(None, None, ["q"] * 3, ["a1", "a2", "a3"], ["b1", "b2", "b3"]) == [0.5, 0.5, 0.5]
    # A judge that sees quality decides the same way in both orders.
    monkeypatch.setattr(judge, "_prefers_second", lambda model, tok, prompt, first, second: "good" in second)
    verdicts = judge.judge_pairs(None, None, ["q"] * 3, ["good", "bad", "bad"], ["bad", "good", "bad"])
    assert verdicts == [0.0, 1.0, 0.5]
    assert judge.agreement(verdicts, [-1.0, 0.5, 0.0]) == 1.0
    assert judge.agreement(verdicts, [1.0, -0.5, 0.0]) == 0.0
    assert judge.agreement([0.5], [1.0]) is None


def test_a_local_model_judges_real_pairs(tiny_model_dir):
    from workbench.models import load_model

    lm = load_model(str(tiny_model_dir))
    verdicts = judge.judge_pairs(lm.model, lm.tokenizer, ["Rate: great kettle."], ['{"stars": 5}'], ["It is a kettle."])
    assert verdicts[0] in (0.0, 0.5, 1.0)
