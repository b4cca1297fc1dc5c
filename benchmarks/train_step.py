"""Training speed (issue #23): one SFT+LoRA step profiled, padding-free batching tried, against TRL's defaults.

    python -m benchmarks.train_step '{"repeats": 2, "steps": 4}'

In one run, alternated (each trial a fresh process, benchmarks/training.py): the workbench as it ships, the
workbench with TRL's ``padding_free`` (each batch flattened into one row with position ids, no pad tokens;
``max_length`` left to the data, whose examples are all shorter), and TRL's defaults; then one profiled trial
(torch.profiler over the steps after the first). The bf16 and fp32 matmul rates are measured at the start, so
the tokens/s can be read as a share of what the CPU multiplies.
"""

from __future__ import annotations

import json

from benchmarks.flops import flops_per_token
from benchmarks.harness import alternate, median, ratio


def run(repeats: int = 2, steps: int = 4, batch_size: int = 8, log=print) -> dict:
    from benchmarks import machine

    peaks = {dt: machine.matmul_gflops(dt) for dt in ("float32", "bfloat16")}
    log(f"matmul GFLOP/s {peaks}")
    base = {"suite": "sft-lora", "steps": steps, "batch_size": batch_size, "max_length": 256}
    specs = {
        "workbench": {**base, "variant": "workbench"},
        "workbench-padding-free": {**base, "variant": "workbench", "trl_args": {"padding_free": True, "max_length": None}},
        "trl-defaults": {**base, "variant": "trl-defaults"},
    }
    trials = alternate("training", specs, repeats, log)
    summary = {}
    for name, ts in trials.items():
        tps, seq = median(ts, "tokens_per_second"), median(ts, "mean_seq_len")
        summary[name] = {"tokens_per_second": tps, "tokens_per_cpu_second": median(ts, "tokens_per_cpu_second"),
                         "train_peak_rss_mb": median(ts, "train_peak_rss_mb"), "losses": [t.get("losses") for t in ts]}
        if tps and seq:
            summary[name]["share_of_bf16_matmul"] = round(tps * flops_per_token("sft-lora", seq) / 1e9 / peaks["bfloat16"], 3)
    wb = summary["workbench"]["tokens_per_second"]
    summary["padding_free_vs_workbench"] = ratio(summary["workbench-padding-free"]["tokens_per_second"], wb)
    summary["workbench_vs_trl_defaults"] = ratio(wb, summary["trl-defaults"]["tokens_per_second"])
    log(json.dumps(summary))
    profiled = alternate("training", {"profiled": {**base, "variant": "workbench", "profile": True}}, 1, log)["profiled"][0]
    log(json.dumps(profiled.get("profile")))
    return {"matmul_gflops": peaks, "summary": summary, "trials": trials, "profile": profiled}


if __name__ == "__main__":
    from benchmarks import machine

    machine.run_and_write(run, "train-step.json")
