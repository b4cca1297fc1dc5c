"""Every exercise check of the lessons (lessons/checks.py) fails a wrong answer with a hint and passes the right one,
in English and in Korean; an answer still None shows nothing."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("checks", ROOT / "lessons" / "checks.py")
checks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(checks)

RUNS = {"a": {0: 2.78, 10: 0.61, 20: 0.15, 30: 0.12}, "b": {0: 2.78, 10: 0.48, 20: 0.31, 30: 0.44}}
GUIDE = [("up to 8 GB", 8, 7, "qlora"), ("16-24 GB", 24, 13, "lora"), ("80 GB and more", 80, 70, "full")]
RIGHT_BYTES = {"full": 16, "lora": 2, "qlora": 0.62}
RATING = {"sentiment": "negative", "stars": 1}

# check name -> (arguments of a wrong answer, arguments of the right one)
CASES = {
    "seeds": ((True, True, "Apple", "Apple", "Pear"), (True, False, "Apple", "Apple", "Pear")),
    "lora_count": ((2_442_240, 1_221_120), (1_221_120, 1_221_120)),
    "qv_count": ((1_000, 368_640, 4_884_480), (368_640, 368_640, 4_884_480)),
    "overfit": (("a", 30, RUNS), ("b", 20, RUNS)),
    "own_review": (("positive", RATING, '{"sentiment": "negative", "stars": 1}'), ("negative", RATING, "")),
    "lower_loss_on": (("all", {"answer": 1.387, "all": 2.221}), ("answer", {"answer": 1.387, "all": 2.221})),
    "rank_ratio": ((4, {4: 1000, 64: 16000}), (16, {4: 1000, 64: 16000})),
    "lower_loss_rank": ((64, {4: 0.9, 64: 2.5}), (4, {4: 0.9, 64: 2.5})),
    "double_quant_bits": ((0.5, 0.25), (0.5, 0.127)),
    "nf4_footprint": ((67, 300), (290, 300)),
    "seven_b_sizes": ((14, 3.5), (14, 4.35)),
    "memory_rules": ((RIGHT_BYTES, {"up to 8 GB"}, GUIDE), (RIGHT_BYTES, {"16-24 GB", "80 GB and more"}, GUIDE)),
    "first_dpo_loss": ((0.5, 0.6931), (0.693, 0.6931)),
    "dpo_pair": ((0.7, 0.7), (0.7, 0.403)),
    "tighter_leash": (("higher",), ("lower",)),
    "beta_largest_margin": ((0.01, {0.01: 0.02, 0.1: 0.25, 1.0: 1.79}), (1.0, {0.01: 0.02, 0.1: 0.25, 1.0: 1.79})),
    "beta_furthest_at_optimum": ((1.0, {0.01: 2.14, 0.1: 2.48, 1.0: 1.79}), (0.01, {0.01: 2.14, 0.1: 2.48, 1.0: 1.79})),
    "usable_records": ((4, 2, 4), (2, 2, 4)),
    "leak_share": ((0.25, 0.52), (0.5, 0.52)),
    "own_system_prompt": (
        (1, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>"),
        (1, "<|im_start|>system\nYou are Pip.<|im_end|>"),
    ),
    "advantage": ((1.0, 1.13, [1.13, 0.2, 0.2, -1.53]), (1.13, 1.13, [1.13, 0.2, 0.2, -1.53])),
    "methods_for_data": (({"a": "DPO", "b": "GRPO", "c": "KTO"},), ({"a": "KTO", "b": "GRPO", "c": "DPO"},)),
    "merge_changes": ((0.06, 1.0, 0.055), (1.0, 1.0, 0.055)),
}
HANGUL = re.compile(r"[가-힣]")


def public_checks() -> set[str]:
    """Every check a lesson calls: the public functions that grade an answer (not the helpers beside them)."""
    helpers = {"language", "filled", "seven_b_gb", "bytes_per_parameter", "dpo_margin_and_loss"}
    functions = inspect.getmembers(checks, inspect.isfunction)
    return {name for name, f in functions if not name.startswith("_") and f.__module__ == "checks"} - helpers


def test_every_check_has_a_wrong_and_a_right_case():
    assert public_checks() == set(CASES)


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_wrong_answer_fails_with_a_hint_and_the_right_one_passes(name, language, monkeypatch, capsys):
    monkeypatch.setenv(checks.LANGUAGE_VARIABLE, language)
    wrong, right = CASES[name]
    assert getattr(checks, name)(*wrong) is False
    hint = capsys.readouterr().out
    assert hint.startswith("Not yet." if language == "en" else "아직 아닙니다.")
    assert bool(HANGUL.search(hint)) == (language == "ko")
    assert getattr(checks, name)(*right) is True
    assert capsys.readouterr().out.startswith("Correct!" if language == "en" else "정답입니다!")


@pytest.mark.parametrize("name", sorted(set(CASES) - {"own_system_prompt"}))
def test_an_answer_left_as_none_is_not_graded(name, capsys):
    """The cells run top to bottom in CI with every answer None: nothing is graded and the cell says what to do."""
    args = list(CASES[name][0])
    if name == "methods_for_data":  # answers in a dict, as the notebook leaves them
        args[0] = {"a": None, "b": "GRPO", "c": "DPO"}
    elif name == "memory_rules":
        args[0] = {"full": None, "lora": 2, "qlora": 0.62}
    else:
        args[0] = None
    assert getattr(checks, name)(*args) is None
    assert capsys.readouterr().out.startswith("Fill in your answer")


def test_a_measured_comparison_closer_than_the_noise_accepts_either_answer(capsys):
    close = {4: 1.00, 64: 1.05}
    assert checks.lower_loss_rank(4, close) is True and checks.lower_loss_rank(64, close) is True
    assert "cannot tell them apart" in capsys.readouterr().out
    level = {0.01: 0.0, 0.1: 0.0, 1.0: 0.0}  # a fast-mode sweep: one step at a warm-up learning rate of 0
    assert checks.beta_largest_margin(0.01, level) is True


def test_the_theory_check_shows_the_run_beside_it_and_says_when_the_run_disagrees(capsys):
    assert checks.beta_furthest_at_optimum(0.01, {0.01: 2.14, 0.1: 2.48, 1.0: 1.79}) is True
    said = capsys.readouterr().out
    assert "beta 0.1: 2.48 nats" in said and "moved furthest at beta 0.1" in said
