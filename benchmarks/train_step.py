"""Training speed (issue #23): one SFT+LoRA step profiled, the knobs that might speed it up tried, against TRL's
defaults.

    python -m benchmarks.train_step '{"repeats": 2, "steps": 4}'

In one run, alternated (each trial a fresh process, benchmarks/training.py): the workbench as it ships (LoRA
dropout 0; on this short data, padded batches with eager attention: plan.batching), with padding-free batches
(SDPA attention), with LoRA dropout 0.05 (the hyperparameter guide's value: its random numbers cost a CPU step
the most), and TRL's defaults; with ``compile_steps``, also the workbench with ``torch_compile`` against the
same number of steps without (more steps than the others, so the compiled steps outnumber the compiling one;
its ``seconds_to_first_step`` against the other's is the compile time); then one profiled trial (torch.profiler over
the steps after the first). The bf16 and fp32 matmul rates
are measured at the start, so tokens/s can be read as a share of what the CPU multiplies; at the end the rate of
the step's own matmuls at its own shapes (``linear_matmul_gflops``), the ceiling for that share.
"""

from __future__ import annotations

import json

from benchmarks.flops import flops_per_token, model_shape
from benchmarks.harness import alternate, median, ratio


def run(repeats: int = 2, steps: int = 4, compile_steps: int = 12, batch_size: int = 8, log=print) -> dict:
    from benchmarks import machine

    peaks = {dt: machine.matmul_gflops(dt) for dt in ("float32", "bfloat16")}
    log(f"matmul GFLOP/s {peaks}")
    base = {"suite": "sft-lora", "steps": steps, "batch_size": batch_size, "max_length": 256}
    specs = {
        "workbench": {**base, "variant": "workbench"},
        "workbench-padding-free": {**base, "variant": "workbench", "config": {"padding_free": True}},
        "workbench-dropout-0.05": {**base, "variant": "workbench", "config": {"lora_dropout": 0.05}},
        "trl-defaults": {**base, "variant": "trl-defaults"},
    }
    trials = alternate("training", specs, repeats, log)
    if compile_steps:
        compiled = {**base, "variant": "workbench", "steps": compile_steps}
        trials |= alternate(
            "training",
            {"workbench-long": compiled, "workbench-torch-compile": {**compiled, "trl_args": {"torch_compile": True}}},
            1,
            log,
        )
    summary = {}
    for name, ts in trials.items():
        tps, seq = median(ts, "tokens_per_second"), median(ts, "mean_seq_len")
        summary[name] = {
            "tokens_per_second": tps,
            "tokens_per_cpu_second": median(ts, "tokens_per_cpu_second"),
            "train_peak_rss_mb": median(ts, "train_peak_rss_mb"),
            "seconds_to_first_step": median(ts, "seconds_to_first_step"),
            "losses": [t.get("losses") for t in ts],
        }
        if tps and seq:
            summary[name]["share_of_bf16_matmul"] = round(
                tps * flops_per_token("sft-lora", seq) / 1e9 / peaks["bfloat16"], 3
            )
    wb = summary["workbench"]["tokens_per_second"]
    for name in specs:
        if name != "workbench":
            summary[f"workbench_vs_{name.removeprefix('workbench-').replace('-', '_')}"] = ratio(
                wb, summary[name]["tokens_per_second"]
            )
    if compile_steps:
        summary["torch_compile_vs_workbench"] = ratio(
            summary["workbench-torch-compile"]["tokens_per_second"], summary["workbench-long"]["tokens_per_second"]
        )
    tokens = round(batch_size * median(trials["workbench"], "mean_seq_len"))
    at_shapes = machine.linear_matmul_gflops(model_shape()["linear_shapes"], tokens)
    summary["step_shapes"] = {
        "tokens": tokens,
        "bf16_gflops": at_shapes,
        "share_of_bf16_probe": round(at_shapes / peaks["bfloat16"], 3),
    }
    log(json.dumps(summary))
    profiled = alternate("training", {"profiled": {**base, "variant": "workbench", "profile": True}}, 1, log)[
        "profiled"
    ][0]
    log(json.dumps(profiled.get("profile")))
    return {"matmul_gflops": peaks, "summary": summary, "trials": trials, "profile": profiled}


if __name__ == "__main__":
    from benchmarks import machine

    machine.run_and_write(run, "train-step.json")
