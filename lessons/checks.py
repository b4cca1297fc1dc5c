"""The lessons' exercise checks, in one place: each compares a learner's answer with the truth and says, in the
lesson's language, that it is right or where to look again.

A notebook imports this file from the lessons folder it runs in (``import checks``). Every check prints one
verdict and returns True (right), False (wrong, with a hint) or None (an answer is still ``None``: nothing is
computed or shown yet). The Korean notebooks set ``WORKBENCH_LESSON_LANGUAGE=ko`` in their first cell, and the
verdicts follow. Where a check grades a measurement, it grades against what this run measured, and only where the
gap is larger than the run's noise; a question about theory is graded against the theory, with the run beside it.
``tests/test_lesson_checks.py`` calls every check with a wrong answer and with the right one.
"""

from __future__ import annotations

import math
import os

LANGUAGE_VARIABLE = "WORKBENCH_LESSON_LANGUAGE"
# A measured comparison is graded only where the two values differ by more than this share of the larger: closer
# than that, another seed or machine can swap them.
CLEAR_GAP = 0.10


def language() -> str:
    """ "ko" in the Korean notebooks, "en" otherwise."""
    return "ko" if os.environ.get(LANGUAGE_VARIABLE) == "ko" else "en"


def _say(en: str, ko: str) -> None:
    print(ko if language() == "ko" else en)


def filled(*answers) -> bool:
    """True when every answer is filled in; otherwise says what to do and returns False."""
    if any(answer is None for answer in answers):
        _say(
            "Fill in your answer above (replace each None), then run this cell again.",
            "위의 답을 채우고 (None을 모두 바꾸고) 이 셀을 다시 실행하세요.",
        )
        return False
    return True


def _verdict(ok: bool, right: tuple[str, str], hint: tuple[str, str]) -> bool:
    en, ko = right if ok else hint
    _say(("Correct! " if ok else "Not yet. ") + en, ("정답입니다! " if ok else "아직 아닙니다. ") + ko)
    return ok


def _clear(a: float, b: float) -> bool:
    """Whether two measured values differ by more than the noise a rerun brings (CLEAR_GAP of the larger)."""
    return abs(a - b) > CLEAR_GAP * max(abs(a), abs(b))


# ---- Lesson 0 ---------------------------------------------------------------------------------------------------


def seeds(same_seed_same_answer, different_seeds_same_answer, first: str, again: str, other: str) -> bool | None:
    """Lesson 0: two calls with seed 1 (``first``, ``again``) and one with seed 2 (``other``), temperature 0.8."""
    if not filled(same_seed_same_answer, different_seeds_same_answer):
        return None
    ok = same_seed_same_answer == (first == again) and different_seeds_same_answer == (first == other)
    return _verdict(
        ok,
        (
            "The same seed draws the same random numbers, so the answer repeats; another seed draws others.",
            "같은 시드는 같은 난수를 뽑으므로 답이 되풀이되고, 다른 시드는 다른 난수를 뽑습니다.",
        ),
        (
            "Compare the three answers printed above: which pairs are identical?",
            "위에 출력된 세 답을 비교해 보세요. 어느 쌍이 똑같나요?",
        ),
    )


# ---- Lesson 1 ---------------------------------------------------------------------------------------------------


def lora_count(prediction, truth: int) -> bool | None:
    """Lesson 1, exercise 1: LoRA's trainable parameters at r=8 on all linear layers (``truth``: PEFT's count)."""
    if not filled(prediction):
        return None
    return _verdict(
        prediction == truth,
        (f"{truth:,} trainable parameters.", f"학습하는 파라미터 {truth:,}개."),
        (
            "The count is r * (d_in + d_out) summed over the layers: what happens to it when r halves?",
            "개수는 층마다 r * (d_in + d_out)을 더한 것입니다. r이 절반이 되면 어떻게 될까요?",
        ),
    )


def qv_count(prediction, truth: int, all_linear: int) -> bool | None:
    """Lesson 1, exercise 2: r=16 on q_proj and v_proj only (``truth``: PEFT's count; ``all_linear``: r=16 on all)."""
    if not filled(prediction):
        return None
    return _verdict(
        prediction == truth,
        (
            f"{truth:,}, {truth / all_linear:.0%} of the all-linear adapter.",
            f"{truth:,}개, all-linear 어댑터의 {truth / all_linear:.0%}입니다.",
        ),
        (
            "r * (d_in + d_out) for q_proj and for v_proj (their sizes are printed in section 5), times the number "
            "of blocks.",
            "q_proj와 v_proj 각각의 r * (d_in + d_out)에 (크기는 5절에 출력되어 있습니다) 블록 수를 곱하세요.",
        ),
    )


def overfit(run, step, runs: dict[str, dict[int, float]]) -> bool | None:
    """Lesson 1, exercise 3: which run's eval loss turned back up, and the step to keep (its lowest eval loss)."""
    if not filled(run, step):
        return None
    losses = {name: list(curve.values()) for name, curve in runs.items()}
    truth = next(name for name, values in losses.items() if values[-1] > min(values))
    best = min(runs[truth], key=runs[truth].get)
    if run != truth:
        return _verdict(
            False,
            ("", ""),
            (
                "Look for an eval loss that rises again while the training loss keeps falling.",
                "학습 손실은 계속 내려가는데 평가 손실이 다시 오르는 실행을 찾으세요.",
            ),
        )
    return _verdict(
        step == best,
        (
            f"Run {truth} got worse on held-out data after step {best}. Keep step {best}'s adapter: that needs a "
            f"checkpoint saved at step {best} (section 9).",
            f"실행 {truth}는 {best} 스텝 뒤로 평가용 데이터에서 나빠졌습니다. {best} 스텝의 어댑터를 남기세요. "
            f"그러려면 {best} 스텝에 체크포인트가 저장되어 있어야 합니다 (9절).",
        ),
        (
            "Keep the checkpoint with the lowest eval loss.",
            "평가 손실이 가장 낮은 체크포인트를 남기세요.",
        ),
    )


def own_review(expected_sentiment, rating: dict | None, answer: str) -> bool | None:
    """Lesson 1, exercise 4: the sentiment the learner predicted against the tuned model's rating of their review."""
    if not filled(expected_sentiment):
        return None
    if rating is None:
        return _verdict(
            False,
            ("", ""),
            (
                f"The tuned model's answer is not the JSON object: {answer!r}. A review unlike the training data, or "
                "a fast-mode run, can do that: try another review.",
                f"튜닝한 모델의 답이 JSON 객체가 아닙니다: {answer!r}. 학습 데이터와 다른 리뷰이거나 빠른 모드의 "
                "실행이면 그럴 수 있습니다. 다른 리뷰로 해 보세요.",
            ),
        )
    got = rating["sentiment"]
    return _verdict(
        got == expected_sentiment,
        (f"The model also says {got!r}.", f"모델도 {got!r}라고 합니다."),
        (
            f"The model says {got!r}. Who is right? Read the review again as the training data's labels would.",
            f"모델은 {got!r}라고 합니다. 누가 맞을까요? 학습 데이터의 레이블처럼 리뷰를 다시 읽어 보세요.",
        ),
    )


def lower_loss_on(prediction, losses: dict[str, float]) -> bool | None:
    """Lesson 1, experiment A: "answer" or "all", the run with the lower held-out loss on the answer tokens."""
    return _measured_winner(
        prediction,
        losses,
        lower=True,
        what=("loss_on", "loss_on"),
        why=(
            "Section 3 printed how few of a record's tokens are the answer: with 'all', that is the answer's share "
            "of each update.",
            "3절에서 레코드의 토큰 가운데 답이 얼마나 적은지 보았습니다. "
            "'all'이면 업데이트마다 답의 몫이 그만큼입니다.",
        ),
    )


def rank_ratio(prediction, counts: dict[int, int]) -> bool | None:
    """Lesson 1, experiment B: how many times as many parameters r=64 trains as r=4 (``counts``: PEFT's)."""
    if not filled(prediction):
        return None
    truth = counts[64] // counts[4]
    return _verdict(
        prediction == truth,
        (f"{truth} times: the count is linear in r.", f"{truth}배입니다. 개수는 r에 비례합니다."),
        (
            "The count is r * (d_in + d_out) per layer: linear in r.",
            "개수는 층마다 r * (d_in + d_out)입니다. r에 비례합니다.",
        ),
    )


def lower_loss_rank(prediction, losses: dict[int, float]) -> bool | None:
    """Lesson 1, experiment B: 4 or 64, the rank (alpha fixed) that ends the same steps with the lower loss."""
    return _measured_winner(
        prediction,
        losses,
        lower=True,
        what=("r", "r"),
        why=(
            "With alpha fixed, the scale alpha / r shrinks as r grows: read the table above.",
            "alpha를 고정하면 r이 커질수록 배율 alpha / r이 작아집니다. 위의 표를 읽어 보세요.",
        ),
    )


def _measured_winner(prediction, values: dict, lower: bool, what: tuple[str, str], why: tuple[str, str]):
    """Grade a prediction of which key has the lower (or higher) measured value, where the gap is clear."""
    if not filled(prediction):
        return None
    ranked = sorted(values, key=values.get, reverse=not lower)
    winner, runner_up = ranked[0], ranked[1]
    shown = ", ".join(f"{k}: {v:.3f}" for k, v in values.items())
    if not _clear(values[winner], values[runner_up]):
        _say(
            f"This run cannot tell them apart ({shown}): closer than the noise of a rerun, so either answer "
            "stands. A longer run (full mode) separates them.",
            f"이 실행으로는 둘을 가를 수 없습니다 ({shown}). 다시 실행할 때의 잡음보다 가까우므로 어느 답이든 "
            "인정합니다. 더 긴 실행(전체 모드)이면 갈립니다.",
        )
        return True
    return _verdict(
        prediction == winner,
        (f"{what[0]}={winner!r} ({shown}).", f"{what[1]}={winner!r} ({shown})."),
        (f"This run measured {shown}. {why[0]}", f"이 실행에서 잰 값은 {shown}입니다. {why[1]}"),
    )


# ---- Lesson 2 ---------------------------------------------------------------------------------------------------

BLOCK, SUPER_BLOCK = 64, 256  # NF4 weights per scale; 8-bit scales per 32-bit scale under double quantization
SCALE_BITS_DQ = 8 / BLOCK + 32 / (BLOCK * SUPER_BLOCK)
# The 7B model of lesson 2: parameters in its blocks' linear layers, and elsewhere (embedding, output head, norms).
SEVEN_B_LINEAR, SEVEN_B_OTHER = 6.5e9, 0.5e9


def double_quant_bits(without_dq, with_dq) -> bool | None:
    """Lesson 2: bits of scale per weight, plain NF4 and with double quantization."""
    if not filled(without_dq, with_dq):
        return None
    if not math.isclose(without_dq, 32 / BLOCK, rel_tol=0.01):
        return _verdict(
            False, ("", ""), ("One 32-bit number shared by 64 weights.", "32비트 수 하나를 가중치 64개가 나눠 씁니다.")
        )
    saved_gb = (32 / BLOCK - SCALE_BITS_DQ) * 65e9 / 8 / 1e9
    return _verdict(
        math.isclose(with_dq, SCALE_BITS_DQ, rel_tol=0.01),
        (
            f"{32 / BLOCK} and {SCALE_BITS_DQ:.3f} bits. On a 65B model that saves {saved_gb:.1f} GB.",
            f"{32 / BLOCK}비트와 {SCALE_BITS_DQ:.3f}비트. 65B 모델이면 {saved_gb:.1f} GB를 아낍니다.",
        ),
        (
            "An 8-bit scale per 64 weights, plus one 32-bit scale per 64 * 256 weights.",
            "가중치 64개마다 8비트 스케일 하나, 그리고 가중치 64 * 256개마다 32비트 스케일 하나.",
        ),
    )


def nf4_footprint(prediction_mb, measured_mb: float) -> bool | None:
    """Lesson 2: the 4-bit model's memory footprint, predicted before it was measured; within 10% counts."""
    if not filled(prediction_mb):
        return None
    return _verdict(
        abs(prediction_mb - measured_mb) / measured_mb < 0.10,
        (f"Measured {measured_mb:.0f} MB.", f"잰 값은 {measured_mb:.0f} MB입니다."),
        (
            f"Measured {measured_mb:.0f} MB. Which part stays in fp32, and how big is it?",
            f"잰 값은 {measured_mb:.0f} MB입니다. 어느 부분이 fp32로 남고, 그 크기는 얼마일까요?",
        ),
    )


def seven_b_gb() -> tuple[float, float]:
    """(bf16 GB, NF4 GB) of lesson 2's 7B model: NF4 with double quantization, the rest in bf16."""
    bf16 = (SEVEN_B_LINEAR + SEVEN_B_OTHER) * 2 / 1e9
    nf4 = (SEVEN_B_LINEAR * (4 + SCALE_BITS_DQ) / 8 + SEVEN_B_OTHER * 2) / 1e9
    return bf16, nf4


def seven_b_sizes(bf16_gb, nf4_gb) -> bool | None:
    """Lesson 2: the 7B model's weights in bf16 and in NF4; within 10% counts."""
    if not filled(bf16_gb, nf4_gb):
        return None
    bf16, nf4 = seven_b_gb()
    if abs(bf16_gb - bf16) / bf16 >= 0.10:
        return _verdict(False, ("", ""), ("Every parameter in 2 bytes.", "모든 파라미터가 2바이트입니다."))
    return _verdict(
        abs(nf4_gb - nf4) / nf4 < 0.10,
        (
            f"{bf16:.0f} GB against {nf4:.2f} GB: in 4 bits the weights fit an 8 GB GPU with room for the adapter "
            "and the activations.",
            f"{bf16:.0f} GB 대 {nf4:.2f} GB. 4비트면 가중치가 8 GB GPU에 들어가고, 어댑터와 활성값을 위한 자리도 "
            "남습니다.",
        ),
        (
            f"The block weights in 4 bits plus {SCALE_BITS_DQ:.3f} bits of scale, the rest in 2 bytes.",
            f"블록의 가중치는 4비트에 스케일 {SCALE_BITS_DQ:.3f}비트를 더하고, 나머지는 2바이트입니다.",
        ),
    )


def bytes_per_parameter() -> dict[str, float]:
    """Bytes a method keeps per parameter of lesson 2's 7B model, before activations (the adapter left out)."""
    params = SEVEN_B_LINEAR + SEVEN_B_OTHER
    return {"full": 2 + 2 + 4 + 4 + 4, "lora": 2.0, "qlora": seven_b_gb()[1] * 1e9 / params}


def memory_rules(bytes_per_param: dict, rows_that_do_not_fit, guide: list[tuple]) -> bool | None:
    """Lesson 2: bytes per parameter of full, LoRA and QLoRA, then the guide's rows (row, GB, billions, method) that
    do not fit."""
    if not filled(rows_that_do_not_fit, *bytes_per_param.values()):
        return None
    truth = bytes_per_parameter()
    for method, value in truth.items():
        if abs(bytes_per_param[method] - value) > 0.1 * value:
            return _verdict(
                False,
                ("", ""),
                (
                    f"{method}: add up what the list keeps for each parameter, byte by byte.",
                    f"{method}: 목록이 파라미터마다 두는 것을 바이트 단위로 더해 보세요.",
                ),
            )
    needed = {row: billions * truth[method] for row, _gb, billions, method in guide}
    wrong_rows = {row for row, gb, *_ in guide if needed[row] > gb}
    lines = "; ".join(f"{row}: {needed[row]:.0f} GB of {gb}" for row, gb, *_ in guide)
    return _verdict(
        set(rows_that_do_not_fit) == wrong_rows,
        (f"{lines}.", f"{lines}."),
        (
            "Multiply each row's largest model by its method's bytes per parameter and compare with its memory.",
            "각 행의 가장 큰 모델에 그 방법의 파라미터당 바이트를 곱해 메모리와 비교하세요.",
        ),
    )


# ---- Lesson 3 ---------------------------------------------------------------------------------------------------

# Lesson 3's pair: log-probabilities of the chosen and the rejected answer under the policy and the reference.
PAIR_POLICY, PAIR_REFERENCE, PAIR_BETA = (-10.0, -30.0), (-12.0, -25.0), 0.1


def dpo_margin_and_loss(beta: float) -> tuple[float, float]:
    """DPO's reward margin and loss for lesson 3's pair at ``beta``."""
    (pc, pr), (rc, rr) = PAIR_POLICY, PAIR_REFERENCE
    margin = beta * ((pc - rc) - (pr - rr))
    return margin, math.log1p(math.exp(-margin))


def first_dpo_loss(prediction, logged: float) -> bool | None:
    """Lesson 3: the DPO loss logged at step 1, predicted before training."""
    if not filled(prediction):
        return None
    return _verdict(
        math.isclose(prediction, logged, abs_tol=2e-3),
        (f"{logged:.4f} = log 2.", f"{logged:.4f} = log 2."),
        (
            f"The logged value is {logged:.4f}: every reward is 0 at the first step, and sigma(0) = 0.5.",
            f"기록된 값은 {logged:.4f}입니다. 첫 스텝에서는 모든 보상이 0이고, sigma(0) = 0.5입니다.",
        ),
    )


def dpo_pair(margin, loss) -> bool | None:
    """Lesson 3: the reward margin and the loss of the pair, by hand."""
    if not filled(margin, loss):
        return None
    true_margin, true_loss = dpo_margin_and_loss(PAIR_BETA)
    if not math.isclose(margin, true_margin, abs_tol=1e-3):
        return _verdict(
            False,
            ("", ""),
            (
                "Reward = beta * (policy log-probability - reference log-probability), for each answer.",
                "답마다 보상 = beta * (정책의 로그 확률 - 참조 모델의 로그 확률).",
            ),
        )
    return _verdict(
        math.isclose(loss, true_loss, abs_tol=1e-3),
        (f"Margin {true_margin:.2f}, loss {true_loss:.3f}.", f"마진 {true_margin:.2f}, 손실 {true_loss:.3f}."),
        ("Loss = -log(sigmoid(margin)) = log(1 + exp(-margin)).", "손실 = -log(sigmoid(마진)) = log(1 + exp(-마진))."),
    )


def tighter_leash(answer) -> bool | None:
    """Lesson 3: the same pair's loss at beta 0.5: "higher" or "lower" than at 0.1."""
    if not filled(answer):
        return None
    _, low = dpo_margin_and_loss(PAIR_BETA)
    _, high_beta = dpo_margin_and_loss(0.5)
    truth = "higher" if high_beta > low else "lower"
    return _verdict(
        answer == truth,
        (
            f"{low:.3f} at beta 0.1, {high_beta:.3f} at beta 0.5. For a pair the model already ranks right, a larger "
            "beta lowers the loss sooner, so training stops pushing earlier: the policy stays closer to the reference.",
            f"beta 0.1에서 {low:.3f}, 0.5에서 {high_beta:.3f}. 모델이 이미 바르게 매기는 쌍이라면 beta가 클수록 손실이 "
            "빨리 낮아져 학습이 일찍 밀기를 멈춥니다. 정책이 참조 모델 가까이에 머뭅니다.",
        ),
        (
            "beta multiplies the margin, and the loss falls as the margin grows.",
            "beta는 마진에 곱해지고, 손실은 마진이 커질수록 낮아집니다.",
        ),
    )


def beta_largest_margin(prediction, margins: dict[float, float]) -> bool | None:
    """Lesson 3, the beta sweep: the beta whose run ends with the largest held-out reward margin. Graded only where
    the largest margin is at least twice the next (a short run can leave them level)."""
    if not filled(prediction):
        return None
    ranked = sorted(margins, key=margins.get, reverse=True)
    shown = ", ".join(f"beta {b}: {m:.3f}" for b, m in margins.items())
    if not margins[ranked[0]] > 2 * max(margins[ranked[1]], 0.0) or margins[ranked[0]] <= 0:
        _say(
            f"This run cannot tell (margins {shown}): too few steps to move the policy. Either answer stands.",
            f"이 실행으로는 가를 수 없습니다 (마진 {shown}). 정책을 움직이기에는 스텝이 너무 적습니다. "
            "어느 답이든 인정합니다.",
        )
        return True
    return _verdict(
        prediction == ranked[0],
        (
            f"beta {ranked[0]} ({shown}): the margin is beta times the move, so the same move counts more.",
            f"beta {ranked[0]} ({shown}). 마진은 beta 곱하기 움직인 양이라, 같은 움직임도 더 크게 셉니다.",
        ),
        (
            f"This run measured {shown}. The margin is beta times the gap of the log-probability ratios.",
            f"이 실행에서 잰 값은 {shown}입니다. 마진은 beta 곱하기 로그 확률 비의 차이입니다.",
        ),
    )


def beta_furthest_at_optimum(prediction, moved: dict[float, float]) -> bool | None:
    """Lesson 3, the beta sweep, theory: the beta whose best policy lies furthest from the reference (the smallest);
    ``moved`` is what this run's policies moved (margin / beta, in nats), shown beside it."""
    if not filled(prediction):
        return None
    truth = min(moved)
    furthest = max(moved, key=moved.get)
    run = ", ".join(f"beta {b}: {m:.2f} nats" for b, m in moved.items())
    agrees = (
        ("This short run agrees.", "이 짧은 실행도 같은 쪽입니다.")
        if furthest == truth
        else (
            f"This short run moved furthest at beta {furthest}: a few steps are not the end of training.",
            f"이 짧은 실행에서는 beta {furthest}가 가장 멀리 움직였습니다. 몇 스텝은 학습의 끝이 아닙니다.",
        )
    )
    return _verdict(
        prediction == truth,
        (
            f"beta {truth}: the smaller beta, the weaker the KL penalty in the objective DPO optimises. "
            f"This run moved: {run}. {agrees[0]}",
            f"beta {truth}. beta가 작을수록 DPO가 최적화하는 목표에서 KL 벌칙이 약합니다. "
            f"이 실행이 움직인 양: {run}. {agrees[1]}",
        ),
        (
            "Think of the objective, reward minus beta times the KL divergence from the reference: which beta "
            f"penalises distance least? (This run moved: {run}.)",
            f"목표는 보상 빼기 beta 곱하기 참조 모델과의 KL 발산입니다. 어느 beta가 거리에 가장 작은 벌칙을 줄까요? "
            f"(이 실행이 움직인 양: {run}.)",
        ),
    )


# ---- Lesson 4 ---------------------------------------------------------------------------------------------------


def usable_records(prediction, usable: int, read: int) -> bool | None:
    """Lesson 4: how many records of missing_fields.jsonl are usable."""
    if not filled(prediction):
        return None
    return _verdict(
        prediction == usable,
        (f"{usable} of {read}.", f"{read}개 가운데 {usable}개."),
        (
            f"{read} records were read; how many have no problem at all?",
            f"레코드 {read}개를 읽었습니다. 문제가 하나도 없는 것은 몇 개일까요?",
        ),
    )


def leak_share(prediction, measured: float) -> bool | None:
    """Lesson 4: the share of a half-copied eval set's sentences found in the training file: 0.25, 0.5 or 0.75."""
    if not filled(prediction):
        return None
    closest = min([0.25, 0.5, 0.75], key=lambda s: abs(s - measured))
    return _verdict(
        prediction == closest,
        (
            f"{measured:.2f} of the eval sentences are in the training file.",
            f"평가 문장의 {measured:.2f}가 학습 파일에 있습니다.",
        ),
        (
            f"Measured {measured:.2f}: count the distinct sentences of each half.",
            f"잰 값은 {measured:.2f}입니다. 각 절반의 서로 다른 문장을 세어 보세요.",
        ),
    )


def own_system_prompt(usable: int, rendered: str) -> bool:
    """Lesson 4: the learner's record loads, and the template adds no SmolLM system prompt to it."""
    if usable != 1:
        return _verdict(
            False,
            ("", ""),
            (
                "The record did not load: give it a list of messages with a system, a user and an assistant turn.",
                "레코드를 읽지 못했습니다. system, user, assistant 차례가 든 메시지 목록을 주세요.",
            ),
        )
    return _verdict(
        "named SmolLM" not in rendered,
        ("Only your system prompt is there.", "내 시스템 프롬프트만 들어 있습니다."),
        (
            "The template still added its own system prompt: start the messages with a system message.",
            "템플릿이 여전히 자기 시스템 프롬프트를 넣었습니다. 메시지를 system 메시지로 시작하세요.",
        ),
    )


# ---- Lesson 5 ---------------------------------------------------------------------------------------------------


def advantage(prediction, truth: float, advantages: list[float]) -> bool | None:
    """Lesson 5: GRPO's advantage of the first answer of the group (``truth``: TRL's formula)."""
    if not filled(prediction):
        return None
    shown = [round(a, 2) for a in advantages]
    return _verdict(
        math.isclose(prediction, truth, abs_tol=0.01),
        (f"The advantages are {shown}: they sum to 0.", f"어드밴티지는 {shown}입니다. 합하면 0입니다."),
        (
            "Mean 7/12; subtract it, then divide by the standard deviation over G - 1.",
            "평균은 7/12입니다. 그것을 빼고, G - 1로 나눈 표준편차로 나누세요.",
        ),
    )


METHOD_FOR_DATA = {"a": "KTO", "b": "GRPO", "c": "DPO"}


def methods_for_data(answers: dict) -> bool | None:
    """Lesson 5: the method that fits each of three datasets."""
    if not filled(*answers.values()):
        return None
    wrong = sorted(k for k, method in METHOD_FOR_DATA.items() if answers.get(k) != method)
    return _verdict(
        not wrong,
        (
            "KTO learns from single labelled answers, GRPO from a reward it can compute, DPO from pairs.",
            "KTO는 레이블이 붙은 답 하나하나에서, GRPO는 계산할 수 있는 보상에서, DPO는 쌍에서 배웁니다.",
        ),
        (
            f"Look again at {wrong}: what does each method's data column ask for?",
            f"{wrong}을 다시 보세요. 각 방법의 데이터 열은 무엇을 요구하나요?",
        ),
    )


def merge_changes(prediction, measured: float, adapter_share: float) -> bool | None:
    """Lesson 5: the share of one merged layer's weights that differ from the base's (``adapter_share``: the
    adapter's own size as a share of that layer)."""
    if not filled(prediction):
        return None
    return _verdict(
        abs(prediction - measured) < 0.05,
        (
            f"{measured:.1%} of the weights changed: BA has rank r, but it is a full d_out x d_in matrix, and adding "
            f"it touches nearly every entry. The adapter itself was {adapter_share:.1%} of the layer's size.",
            f"가중치의 {measured:.1%}가 바뀌었습니다. BA는 랭크가 r이지만 d_out x d_in 크기의 꽉 찬 행렬이라, "
            f"더하면 거의 모든 칸이 바뀝니다. 어댑터 자체는 층 크기의 {adapter_share:.1%}였습니다.",
        ),
        (
            "What shape does B @ A have, and how many of its entries are zero?",
            "B @ A는 어떤 모양이고, 그 가운데 0인 칸은 몇 개일까요?",
        ),
    )
