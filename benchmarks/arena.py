"""Arena: one turn of four sides (base, two adapters, one adapter at LoRA scale 0.5) against four ``generate`` calls.

The arena answers every side in one batch, each row through its own adapter at its own scale (``ArenaChat.ask``
on the embedded model); the plain user calls ``generate`` four times on a PeftModel, switching adapters and
using PEFT's ``rescale_adapter_scale`` for the scaled side. The plain side loads the model as a plain user
would (``from_pretrained(folder)``, fp32); the arena in the precision the workbench chooses, as in
``benchmarks/generation.py``. Also: the time to first token of an arena turn after a six-turn history (every
side re-reads its whole conversation), next to that of a first turn. One process, cases alternating:
``python -m benchmarks.arena '{"repeats": 3, "max_new_tokens": 64}'``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.generation import PROMPT, FirstTokenClock, make_adapters, time_cases
from benchmarks.harness import emit, process_peak_rss_mb

# Six earlier turns, each answer about as long as a 64-token reply, so the seventh turn's prompt is long.
HISTORY = [
    (
        "Tell me about the history of Paris.",
        "Paris grew from a Gallic settlement on the Seine into a Roman town, then the capital of the Franks and of "
        "France. "
        "Its medieval university, its cathedral and its walls made it the largest city in Europe by the 1300s.",
    ),
    (
        "What happened there in 1789?",
        "The storming of the Bastille on 14 July 1789 opened the French Revolution; the monarchy fell three years "
        "later "
        "and the city became the stage of the Republic, the Terror and finally Napoleon's empire.",
    ),
    (
        "And in the 19th century?",
        "Haussmann rebuilt the centre with wide boulevards, parks and sewers under Napoleon III; the city hosted world "
        "fairs, "
        "and the Eiffel Tower was built for the one of 1889.",
    ),
    (
        "Name three museums.",
        "The Louvre, the Musée d'Orsay and the Centre Pompidou: old masters, impressionists and modern art, in that "
        "order, "
        "each one a day's visit on its own.",
    ),
    (
        "Which one would you pick first?",
        "The Musée d'Orsay: it is smaller than the Louvre, its building is a former railway station, and its "
        "impressionist rooms are the best known in the world.",
    ),
    (
        "How do I get there?",
        "Take the RER C to the Musée d'Orsay station, or the metro line 12 to Solférino and walk five minutes along "
        "the "
        "river; buy the ticket online to skip the queue.",
    ),
]


def make_runs(root: Path) -> None:
    """Two run folders with random LoRA adapters (speed does not depend on what they learned)."""
    bare = make_adapters(Path(tempfile.mkdtemp(prefix="bench-arena-adapters-")))
    for name, path in zip(("run-a", "run-b"), bare):
        (root / name).mkdir(parents=True)
        shutil.move(str(path), root / name / "adapter")


def trial(spec: dict) -> dict:
    import torch
    from peft import PeftModel
    from peft.helpers import rescale_adapter_scale
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.inference.arena import Arena, ArenaChat, Side, Turn
    from workbench.inference.generation import GenerationSettings
    from workbench.models import ensure_default_model

    max_new = spec["max_new_tokens"]
    root = Path(tempfile.mkdtemp(prefix="bench-arena-runs-"))
    make_runs(root)
    folder = ensure_default_model()

    tokenizer = AutoTokenizer.from_pretrained(folder)
    plain = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(folder), str(root / "run-a" / "adapter"), adapter_name="a"
    )
    plain.load_adapter(str(root / "run-b" / "adapter"), adapter_name="b")
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    prompt_len = inputs["input_ids"].shape[1]

    def plain_generate() -> tuple[int, float]:
        clock = FirstTokenClock()
        start = time.perf_counter()
        out = plain.generate(**inputs, max_new_tokens=max_new, streamer=clock)
        return out.shape[1] - prompt_len, clock.first - start

    def plain_four() -> tuple[int, float, float]:
        start = time.perf_counter()
        with plain.disable_adapter():
            tokens, first = plain_generate()
        for name, scale in (("a", 1.0), ("b", 1.0), ("a", 0.5)):
            plain.set_adapter(name)
            with rescale_adapter_scale(plain, scale):
                tokens += plain_generate()[0]
        return tokens, first, time.perf_counter() - start

    arena = Arena("default", root)
    sides = [Side("base"), Side("run-a"), Side("run-b"), Side("run-a", 0.5)]
    settings = GenerationSettings(max_new_tokens=max_new)

    def count(text: str) -> int:
        return min(len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 1, max_new)  # + the end token, if any

    def arena_turn(history: int) -> tuple[int, float, float]:
        chat = ArenaChat(sides)
        chat.turns = [Turn(user, [answer] * len(sides), settings, done=True) for user, answer in HISTORY[:history]]
        start, first, texts = time.perf_counter(), None, []
        for texts in chat.ask(arena, PROMPT, settings):
            if first is None and any(texts):
                first = time.perf_counter()
        return sum(count(t) for t in texts), first - start, time.perf_counter() - start

    cases = {
        "plain_generate_x4": plain_four,
        "arena_turn_4_sides": lambda: arena_turn(0),
        "arena_turn_after_6_turns": lambda: arena_turn(6),
    }
    with torch.inference_mode():
        plain_generate()  # warm-up: thread pools, first-call allocations
    arena.prepare(sides)
    trials, summary = time_cases(cases, spec["repeats"])
    s = summary
    summary["ratios"] = {
        "turn_speedup_vs_plain_x4": round(s["plain_generate_x4"]["seconds"] / s["arena_turn_4_sides"]["seconds"], 2),
        "turn_tokens_per_second_vs_plain_x4": round(
            s["arena_turn_4_sides"]["tokens_per_second"] / s["plain_generate_x4"]["tokens_per_second"], 2
        ),
        "ttft_after_6_turns_vs_first_turn": round(
            s["arena_turn_after_6_turns"]["ttft_s"] / s["arena_turn_4_sides"]["ttft_s"], 2
        ),
    }
    history_tokens = len(
        tokenizer.apply_chat_template(
            ArenaChat(sides[:1], turns=[Turn(u, [a], settings, True) for u, a in HISTORY]).conversation(0)
            + [{"role": "user", "content": PROMPT}],
            add_generation_prompt=True,
            return_dict=True,
        )["input_ids"]
    )
    return {
        "summary": summary,
        "trials": trials,
        "prompt": PROMPT,
        "max_new_tokens": max_new,
        "history_prompt_tokens": history_tokens,
        "sides": [s.label for s in sides],
        "peak_rss_mb": process_peak_rss_mb(),
        "arena_dtype": arena.bench.base.precision.dtype_name,
        "plain_dtype": str(plain.dtype).removeprefix("torch."),
    }


def run(repeats: int, max_new_tokens: int, log=print) -> dict:
    """The arena trial in a fresh process."""
    from benchmarks.harness import run_trial

    log(f"arena: 3 cases x {repeats}, up to {max_new_tokens} new tokens")
    result = run_trial("arena", {"repeats": repeats, "max_new_tokens": max_new_tokens})
    log(result.get("log_tail") or f"  {json.dumps(result['summary']['ratios'])}")
    return result


if __name__ == "__main__":
    emit(trial(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {"repeats": 3, "max_new_tokens": 64}))
