"""Training throughput: the workbench against plain TRL (its defaults, and fp32 forced), alternated in one run.

Each trial is a fresh process (``python -m benchmarks.training '<spec>'``) that trains ``steps`` steps and
reports tokens/s of tokens actually trained (non-padding), steps/s, the loss of each step and peak memory.
The first step is left out of the rates: it pays for one-off set-up (thread pools, allocator growth).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

from benchmarks.harness import PeakRSS, alternate, emit, median, process_peak_rss_mb, ratio

# suite -> (method, adaptation, data)
SUITES = {
    "sft-lora": ("sft", "lora", "data_samples/sentiment_json.train.jsonl"),
    "sft-qlora": ("sft", "qlora", "data_samples/sentiment_json.train.jsonl"),
    "sft-full": ("sft", "full", "data_samples/sentiment_json.train.jsonl"),
    "dpo-lora": ("dpo", "lora", "data_samples/sentiment_preference.train.jsonl"),
}
VARIANTS = ("workbench", "trl-fp32", "trl-defaults")


class StepClock:
    """Wall time, CPU time and tokens seen at the end of every step.

    CPU time (all threads of the process) hardly moves when other work shares the cores, where wall time
    can double: tokens per CPU-second is the figure to compare across runs on a busy machine.
    """

    def __init__(self):
        self.started = time.perf_counter()
        self.marks: list[tuple[float, float, int]] = []
        self.losses: list[float] = []

    def mark(self, tokens: int) -> None:
        self.marks.append((time.perf_counter(), time.process_time(), tokens))

    def rates(self) -> dict:
        if len(self.marks) < 2:
            return {}
        (t0, c0, n0), (t1, c1, n1) = self.marks[0], self.marks[-1]
        steps = len(self.marks) - 1
        return {
            # Loading, set-up and the first step (where torch.compile compiles): what a run pays once.
            "seconds_to_first_step": round(t0 - self.started, 1),
            "tokens_per_second": round((n1 - n0) / (t1 - t0), 1),
            "tokens_per_cpu_second": round((n1 - n0) / (c1 - c0), 1),
            "steps_per_second": round(steps / (t1 - t0), 4),
            "timed_steps": steps,
            "timed_tokens": n1 - n0,
            "seconds": round(t1 - t0, 1),
        }


def _profiled(on_event, clock: StepClock, into: dict):
    """``on_event`` that also runs torch.profiler over the steps after the first (CPU time by op into ``into``)."""
    import torch.profiler

    profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])

    def handler(event):
        on_event(event)
        if event["type"] != "step" or "loss" not in event["metrics"]:
            return
        if len(clock.marks) == 1:
            profiler.start()
        elif len(clock.marks) > 1 and not into and event["step"] >= event["max_steps"]:
            profiler.stop()
            ops = sorted(profiler.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
            total = sum(e.self_cpu_time_total for e in ops) or 1
            into["steps"] = len(clock.marks) - 1
            into["self_cpu_share"] = {e.key: round(e.self_cpu_time_total / total, 3) for e in ops[:15]}
            into["calls"] = {e.key: e.count for e in ops[:15]}

    return handler


def trial(spec: dict) -> dict:
    """One training run as ``spec`` says; runs in its own process."""
    method, adaptation, data = SUITES[spec["suite"]]
    data = spec.get("data", data)  # another data file for the same suite (benchmarks/memory_fit.py)
    clock = StepClock()
    out = tempfile.mkdtemp(prefix="bench-train-")
    if spec["variant"] == "workbench":
        from workbench.training import TrainConfig, train
        from workbench.training.config import load_run_config

        def on_event(event):
            if event["type"] == "step" and "num_input_tokens_seen" in event["metrics"]:
                clock.mark(event["metrics"]["num_input_tokens_seen"])
                if "loss" in event["metrics"]:
                    clock.losses.append(round(event["metrics"]["loss"], 4))

        if spec.get("trl_args"):  # an experiment: extra SFTConfig/DPOConfig fields (benchmarks/train_step.py)
            from workbench.training import pipeline

            module = pipeline.METHODS[method]
            own = module.method_args
            module.method_args = lambda config, loss: {**own(config, loss), **spec["trl_args"]}
        if spec.get("profile"):
            on_event = _profiled(on_event, clock, profile := {})
        config = TrainConfig(
            name="bench",
            output_dir=out,
            data=data,
            eval_data=None,
            eval_fraction=0.0,
            method=method,
            adaptation=adaptation,
            max_steps=spec["steps"],
            batch_size=spec["batch_size"],
            max_length=spec["max_length"],
            save_steps=spec["steps"] + 1,
            **spec.get("config", {}),
        )
        with PeakRSS() as peak:
            ran = train(config, on_event=on_event)
        chosen = load_run_config(ran.run_dir)  # the layout after the memory fit (plan.fit_to_memory)
        layout = {k: getattr(chosen, k) for k in ("batch_size", "gradient_accumulation", "gradient_checkpointing")}
    else:
        from transformers import TrainerCallback

        from benchmarks.baselines import dpo_trl, sft_trl

        script = dpo_trl if method == "dpo" else sft_trl
        precision = spec["variant"].removeprefix("trl-")
        trainer = script.build_trainer(
            adaptation, precision, spec["steps"], spec["batch_size"], spec["max_length"], out
        )
        # Measurement only: count non-padding tokens as the workbench does (it does not change the training).
        trainer.args.include_num_input_tokens_seen = "non_padding"
        trainer.args.logging_steps = 1

        class Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                clock.mark(state.num_input_tokens_seen)

            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and "loss" in logs:
                    clock.losses.append(round(float(logs["loss"]), 4))

        trainer.add_callback(Clock())
        with PeakRSS() as peak:
            trainer.train()
    sequences_per_step = spec["batch_size"] * (2 if method == "dpo" else 1)
    result = {
        **clock.rates(),
        "losses": clock.losses,
        "peak_rss_mb": process_peak_rss_mb(),
        "train_peak_rss_mb": peak.mb,
    }
    if spec["variant"] == "workbench":
        result |= {"layout": layout, "estimate_mb": ran.estimate["peak_memory_mb"]}
        if spec.get("profile"):
            result["profile"] = profile
    if "timed_tokens" in result:
        result["mean_seq_len"] = round(result["timed_tokens"] / (result["timed_steps"] * sequences_per_step), 1)
    return result


def run(
    suites: list[str],
    repeats: int,
    steps: int,
    batch_size: int,
    max_length: int,
    peaks: dict,
    log=print,
    variants: list[str] = VARIANTS,
    before: str | None = None,
) -> dict:
    """Alternate the variants of each suite; medians, ratios and MFU against the measured matmul peaks.

    ``before`` (a checkout of an older commit) adds the variant "workbench-before": the same run on that code.
    """
    from benchmarks.flops import flops_per_token

    results = {}
    for suite in suites:
        specs = {
            v: {"suite": suite, "variant": v, "steps": steps, "batch_size": batch_size, "max_length": max_length}
            for v in variants
        }
        if before:
            specs["workbench-before"] = {
                **specs.get(
                    "workbench", {"suite": suite, "steps": steps, "batch_size": batch_size, "max_length": max_length}
                ),
                "variant": "workbench",
                "checkout": before,
            }
        log(f"training {suite}: {', '.join(specs)} x {repeats}, {steps} steps of batch {batch_size}")
        trials = alternate("training", specs, repeats, log)
        summary = {}
        for v, ts in trials.items():
            tps = median(ts, "tokens_per_second")
            seq = median(ts, "mean_seq_len")
            row = {
                "tokens_per_second": tps,
                # Other work on a shared machine only ever slows a trial down: the best trial is the least disturbed.
                "tokens_per_second_best": max(
                    (t["tokens_per_second"] for t in ts if "tokens_per_second" in t), default=None
                ),
                "tokens_per_cpu_second": median(ts, "tokens_per_cpu_second"),
                "steps_per_second": median(ts, "steps_per_second"),
                "peak_rss_mb": median(ts, "peak_rss_mb"),
                "train_peak_rss_mb": median(ts, "train_peak_rss_mb"),
                "mean_seq_len": seq,
            }
            if tps and seq:
                achieved = tps * flops_per_token(suite, seq) / 1e9
                row["gflops"] = round(achieved, 1)
                row["mfu_vs_fp32_matmul"] = round(achieved / peaks["float32"], 3)
                row["mfu_vs_bf16_matmul"] = round(achieved / peaks["bfloat16"], 3)
            summary[v] = row
        wb = summary.get("workbench", {}).get("tokens_per_second")
        for other in summary.copy():
            if other != "workbench":
                summary[f"ratio_vs_{other.replace('-', '_')}"] = ratio(wb, summary[other]["tokens_per_second"])
        results[suite] = {"summary": summary, "trials": trials}
        log(f"  {suite}: {json.dumps({k: v for k, v in summary.items() if k.startswith('ratio')})}")
    return results


if __name__ == "__main__":
    emit(trial(json.loads(sys.argv[1])))
