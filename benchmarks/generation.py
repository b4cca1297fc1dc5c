"""Generation: the workbench's streaming generation against plain ``model.generate`` with default settings.

Single stream: tokens/s and time to first token for one short prompt, against plain ``generate`` in fp32 (the
dtype a plain ``from_pretrained(folder)`` gives) and in bf16, and against the memory-bandwidth bound: decoding
reads every weight once a token, so bandwidth / bytes of weights as loaded is the most tokens/s one stream can
reach (bandwidth measured in the same run). Side by side: base and adapters answering one prompt, as the
workbench does it (ModelBench: one batch, each row through its own adapter), with 3 and with 4 sides, against
as many plain ``generate`` calls one after another. The workbench loads the model in the precision it chooses
for the hardware. Runs in one process (``python -m benchmarks.generation '<spec>'``), alternating.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from transformers.generation.streamers import BaseStreamer

from benchmarks.harness import emit, process_peak_rss_mb

PROMPT = "Tell me about the history of Paris."


class FirstTokenClock(BaseStreamer):
    """A streamer that only notes when generate hands out its first new token."""

    def __init__(self):
        self.prompt_seen = False
        self.first: float | None = None

    def put(self, value):
        if not self.prompt_seen:
            self.prompt_seen = True
        elif self.first is None:
            self.first = time.perf_counter()

    def end(self):
        pass


def memory_bandwidth_gbs(gib: float = 1.0, repeats: int = 5) -> float:
    """Best-of read rate of one large tensor in GB/s with torch's threads: what a decode step is bound by."""
    import torch

    from benchmarks.machine import best_seconds

    x = torch.ones(int(gib * 2**30 / 4), dtype=torch.float32)
    return round(x.numel() * 4 / best_seconds(x.sum, repeats) / 1e9, 1)  # the untimed call touches the pages


def weight_bytes(model) -> int:
    """Bytes of the weights a decode step reads, tied weights counted once (as loaded: bf16, fp32 or 4-bit)."""
    unique = {p.data_ptr(): p for p in model.parameters()}
    return sum(p.numel() * p.element_size() for p in unique.values())


def matvec_tokens_per_second(model, repeats: int = 5) -> float:
    """Tokens/s if a decode step did nothing but its matrix-vector products: every linear layer's weight (as
    loaded) times one token's activations, with torch's kernels. The ceiling those kernels put on one stream."""
    import torch
    import torch.nn.functional as F

    from benchmarks.machine import best_seconds

    weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]
    inputs = [torch.randn(1, w.shape[1], dtype=w.dtype) for w in weights]

    def decode_step_matvecs():
        for w, x in zip(weights, inputs):
            F.linear(x, w)

    with torch.inference_mode():
        return round(1 / best_seconds(decode_step_matvecs, repeats), 1)


def compiled_decode(folder, inputs, max_new: int, repeats: int = 3) -> dict:
    """Greedy decoding in bf16 with ``torch.compile`` and a static cache (transformers' own compile path, which it
    turns on for GPUs only), against the same model eager: compile time, tokens/s, and where the answers part."""
    import torch
    from transformers import AutoModelForCausalLM, CompileConfig

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).eval()
    compile_config = CompileConfig(fullgraph=False, dynamic=False, mode="default")  # no CUDA graphs on a CPU
    compile_config._compile_all_devices = True  # transformers' switch for compiling on a CPU

    def greedy(**kwargs) -> tuple[float, list[int]]:
        start = time.perf_counter()
        out = model.generate(**inputs, max_new_tokens=max_new, min_new_tokens=max_new, do_sample=False, **kwargs)
        return time.perf_counter() - start, out[0, inputs["input_ids"].shape[1] :].tolist()

    static = {"cache_implementation": "static", "compile_config": compile_config}
    with torch.inference_mode():
        greedy()  # warm-up
        eager_s, eager = min(greedy() for _ in range(repeats))
        compile_s, _ = greedy(**static)  # the first call compiles
        compiled_s, compiled = min(greedy(**static) for _ in range(repeats))
    return {
        "compile_seconds": round(compile_s, 1),
        "eager_tokens_per_second": round(max_new / eager_s, 1),
        "compiled_tokens_per_second": round(max_new / compiled_s, 1),
        "speedup": round(eager_s / compiled_s, 2),
        "first_difference_at": next((i for i, (a, b) in enumerate(zip(eager, compiled)) if a != b), None),
    }


def make_adapters(folder: Path, names=("adapter_a", "adapter_b", "adapter_c")) -> list[Path]:
    """LoRA adapters with random (non-zero) weights, one per name: speed does not depend on what they learned."""
    import json as json_

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from workbench.models import ensure_default_model

    paths = []
    for seed, name in enumerate(names):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(ensure_default_model())
        config = LoraConfig(
            r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM"
        )
        peft = get_peft_model(model, config)
        for p in peft.parameters():
            if p.requires_grad:
                p.data *= 0.1  # small enough to keep the answers readable
        out = folder / name
        peft.save_pretrained(out)
        saved = json_.loads((out / "adapter_config.json").read_text())
        saved["base_model_name_or_path"] = "default"
        (out / "adapter_config.json").write_text(json_.dumps(saved))
        paths.append(out)
    return paths


def trial(spec: dict) -> dict:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.inference.bench import ModelBench
    from workbench.inference.generation import GenerationSettings, stream_chat
    from workbench.models import ensure_default_model, load_model

    max_new = spec["max_new_tokens"]
    adapters = make_adapters(Path(tempfile.mkdtemp(prefix="bench-adapters-")))
    folder = ensure_default_model()

    # The plain user's model and tokenizer (fp32, and bf16 as a user who asks for it), and the same with the
    # three adapters for the sequential baselines.
    tokenizer = AutoTokenizer.from_pretrained(folder)
    plain = AutoModelForCausalLM.from_pretrained(folder)
    plain_bf16 = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
    plain_peft = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(folder), str(adapters[0]), adapter_name="a"
    )
    for name, path in zip("bc", adapters[1:]):
        plain_peft.load_adapter(str(path), adapter_name=name)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    prompt_len = inputs["input_ids"].shape[1]

    def plain_generate(model) -> tuple[int, float, float]:
        clock = FirstTokenClock()
        start = time.perf_counter()
        out = model.generate(**inputs, max_new_tokens=max_new, streamer=clock)
        return out.shape[1] - prompt_len, clock.first - start, time.perf_counter() - start

    lm = load_model("default")
    bench = ModelBench(load_model("default"))
    for path in adapters:
        bench.add_adapter(path)
    settings = GenerationSettings(max_new_tokens=max_new)

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 1  # + the end-of-answer token, if any

    def workbench_single() -> tuple[int, float, float]:
        start, first, text = time.perf_counter(), None, ""
        for piece in stream_chat(lm.model, lm.tokenizer, PROMPT, settings):
            first = first or time.perf_counter()
            text += piece
        return min(count(text), max_new), first - start, time.perf_counter() - start

    def workbench_sides(batched: bool, n_sides: int = 3) -> tuple[int, float, float]:
        start, first, answers = time.perf_counter(), None, {}
        sides = bench.sides[:n_sides]
        finished = {}
        for group in [sides] if batched else [[side] for side in sides]:
            for answers in bench.stream_side_by_side(PROMPT, sides=group, settings=settings):
                if first is None and any(answers.values()):
                    first = time.perf_counter()
            finished.update(answers)
        return sum(min(count(t), max_new) for t in finished.values()), first - start, time.perf_counter() - start

    def plain_sequential(n_sides: int) -> tuple[int, float, float]:
        """The base, then each adapter, one plain ``generate`` after another (a plain user's arena turn)."""
        start, tokens, first = time.perf_counter(), 0, None
        with torch.inference_mode():
            with plain_peft.disable_adapter():
                n, ttft, _ = plain_generate(plain_peft)
            tokens, first = n, ttft
            for name in "abc"[: n_sides - 1]:
                plain_peft.set_adapter(name)
                tokens += plain_generate(plain_peft)[0]
        return tokens, first, time.perf_counter() - start

    cases = {
        "plain_generate": lambda: plain_generate(plain),
        "plain_generate_bf16": lambda: plain_generate(plain_bf16),
        "workbench_stream_chat": workbench_single,
        "plain_generate_x3": lambda: plain_sequential(3),
        "workbench_side_by_side": lambda: workbench_sides(True),
        "workbench_sides_one_by_one": lambda: workbench_sides(False),
        "plain_generate_x4": lambda: plain_sequential(4),
        "workbench_side_by_side_4": lambda: workbench_sides(True, 4),
    }
    with torch.inference_mode():
        plain_generate(plain)  # warm-up: thread pools, first-call allocations
        plain_generate(plain_bf16)
    bandwidth = memory_bandwidth_gbs()
    loaded_bytes = weight_bytes(lm.model)
    trials, summary = time_cases(cases, spec["repeats"])
    s = summary
    bound = bandwidth * 1e9 / loaded_bytes
    summary["bandwidth"] = {
        "read_gbs": bandwidth,
        "weights_mb_as_loaded": round(loaded_bytes / 1e6, 1),
        "tokens_per_second_bound": round(bound, 1),
        "matvec_only_tokens_per_second": matvec_tokens_per_second(lm.model),
    }
    if spec.get("compile"):
        summary["compiled_decode"] = compiled_decode(folder, inputs, max_new)
    summary["ratios"] = {
        "single_tokens_per_second_vs_plain": round(
            s["workbench_stream_chat"]["tokens_per_second"] / s["plain_generate"]["tokens_per_second"], 2
        ),
        "single_tokens_per_second_vs_plain_bf16": round(
            s["workbench_stream_chat"]["tokens_per_second"] / s["plain_generate_bf16"]["tokens_per_second"], 2
        ),
        "single_share_of_bandwidth_bound": round(s["workbench_stream_chat"]["tokens_per_second"] / bound, 2),
        "side_by_side_speedup_vs_plain_x3": round(
            s["plain_generate_x3"]["seconds"] / s["workbench_side_by_side"]["seconds"], 2
        ),
        "side_by_side_tokens_per_second_vs_plain_x3": round(
            s["workbench_side_by_side"]["tokens_per_second"] / s["plain_generate_x3"]["tokens_per_second"], 2
        ),
        "batching_speedup_vs_one_by_one": round(
            s["workbench_sides_one_by_one"]["seconds"] / s["workbench_side_by_side"]["seconds"], 2
        ),
        "four_sides_speedup_vs_plain_x4": round(
            s["plain_generate_x4"]["seconds"] / s["workbench_side_by_side_4"]["seconds"], 2
        ),
    }
    return {
        "summary": summary,
        "trials": trials,
        "prompt": PROMPT,
        "max_new_tokens": max_new,
        "peak_rss_mb": process_peak_rss_mb(),
        "workbench_dtype": lm.precision.dtype_name,
        "plain_dtype": str(plain.dtype).removeprefix("torch."),
    }


def time_cases(cases: dict, repeats: int) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """Each case ``repeats`` times, alternating; (every trial, the median of each figure per case).

    A case returns (tokens, seconds to the first token, seconds in all).
    """
    import torch

    trials: dict[str, list[dict]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            with torch.inference_mode():
                tokens, ttft, seconds = fn()
            trials[name].append(
                {
                    "tokens": tokens,
                    "ttft_s": round(ttft, 3),
                    "seconds": round(seconds, 2),
                    "tokens_per_second": round(tokens / seconds, 1),
                }
            )
    summary = {
        name: {
            key: statistics.median(t[key] for t in ts) for key in ("tokens_per_second", "ttft_s", "seconds", "tokens")
        }
        for name, ts in trials.items()
    }
    return trials, summary


def run(repeats: int, max_new_tokens: int, log=print, before: str | None = None, compile: bool = False) -> dict:
    """The generation trial; with ``before`` (a checkout of an older commit) the same trial there too, after it;
    with ``compile`` also ``compiled_decode`` (a minute or more of compiling)."""
    from benchmarks.harness import run_trial

    log(
        f"generation: 8 cases x {repeats}, up to {max_new_tokens} new tokens"
        + (", and compiled decoding" if compile else "")
    )
    spec = {"repeats": repeats, "max_new_tokens": max_new_tokens, "compile": compile}
    result = run_trial("generation", spec)
    if "error" in result:
        log(result["log_tail"])
        return result
    log(f"  {json.dumps(result['summary']['ratios'])}")
    if before:
        log(f"generation, before: {before}")
        earlier = run_trial("generation", spec | {"checkout": before})
        result["before"] = {
            "checkout": before,
            **({"error": earlier["error"]} if "error" in earlier else {"summary": earlier["summary"]}),
        }
        log(f"  {json.dumps(earlier.get('summary', {}).get('ratios') or earlier.get('log_tail'))}")
    return result


if __name__ == "__main__":
    emit(trial(json.loads(sys.argv[1])))
