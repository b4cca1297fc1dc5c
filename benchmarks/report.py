"""Render a results file as the markdown tables of docs/benchmarks.md, with each target of issue #8 checked.

python -m benchmarks.report benchmarks/results/<file>.json                 # print
python -m benchmarks.report benchmarks/results/<file>.json --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _fmt(value, spec: str = "g") -> str:
    return "–" if value is None else format(value, spec)


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def machine_line(r: dict) -> str:
    m = r["machine"]
    libs = ", ".join(f"{k} {m[k]}" for k in ("torch", "transformers", "trl", "peft", "bitsandbytes"))
    return (
        f"Measured {r['date']} on {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads), flags "
        f"{' '.join(m['flags'])}, {m['memory_gib']} GiB{', GPU ' + m['gpu'] if m.get('gpu') else ''}; {libs}. "
        f"Workbench precision: {m['workbench_precision']}. Matmul 2048³ in this run: fp32 "
        f"{r['matmul_gflops']['float32']} "
        f"GFLOP/s, bf16 {r['matmul_gflops']['bfloat16']} GFLOP/s. Load average {r['loadavg_start'][0]} at the start, "
        f"{r.get('loadavg_end', ['?'])[0]} at the end (2 cores: above 2 means other work shared them). "
        f"Settings: {json.dumps(r['settings'])}. Command: `{r['command'].strip()}` ({r.get('minutes', '?')} min)."
    )


def training_table(training: dict) -> list[str]:
    lines = [
        "| suite | variant | tokens/s (best) | tokens/CPU-s | steps/s | peak RSS MB (training / process) | MFU vs fp32 "
        "matmul | MFU vs bf16 matmul | workbench ÷ variant |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for suite, data in training.items():
        s = data["summary"]
        wb = s.get("workbench", {}).get("tokens_per_second")
        for variant in [k for k in s if not k.startswith("ratio")]:
            row = s[variant]
            r = (wb / row["tokens_per_second"]) if wb and row["tokens_per_second"] else None
            lines.append(
                f"| {suite} | {variant} | {_fmt(row['tokens_per_second'])} ({_fmt(row.get('tokens_per_second_best'))}) "
                f"| {_fmt(row.get('tokens_per_cpu_second'))} | {_fmt(row['steps_per_second'], '.3f')} | "
                f"{_fmt(row['train_peak_rss_mb'], '.0f')} / {_fmt(row['peak_rss_mb'], '.0f')} | "
                f"{_pct(row.get('mfu_vs_fp32_matmul'))} | "
                f"{_pct(row.get('mfu_vs_bf16_matmul'))} | {_fmt(r and round(r, 2))}x |"
            )
    return lines


def generation_table(g: dict) -> list[str]:
    if "summary" not in g:
        return [f"generation failed: {g.get('error')}"]
    lines = [
        f"Prompt {g['prompt']!r}, up to {g['max_new_tokens']} new tokens; workbench in {g['workbench_dtype']}, plain "
        f"in {g['plain_dtype']}.",
        "",
        "| case | tokens/s | first token s | seconds | tokens |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, row in g["summary"].items():
        if name not in ("ratios", "bandwidth", "compiled_decode"):
            lines.append(
                f"| {name} | {row['tokens_per_second']} | {row['ttft_s']} | {row['seconds']} | {row['tokens']} |"
            )
    bandwidth = g["summary"].get("bandwidth")
    if bandwidth:
        lines += [
            "",
            f"Memory read {bandwidth['read_gbs']} GB/s over {bandwidth['weights_mb_as_loaded']} MB of weights as "
            f"loaded: "
            f"at most {bandwidth['tokens_per_second_bound']} tokens/s a stream. A decode step's matrix-vector products "
            f"alone, with torch's kernels on the loaded weights, allow "
            f"{bandwidth.get('matvec_only_tokens_per_second', '–')} tokens/s.",
        ]
    compiled = g["summary"].get("compiled_decode")
    if compiled:
        lines += [
            "",
            f"Greedy decoding in bf16 under torch.compile (static cache): {compiled['compiled_tokens_per_second']} "
            f"tokens/s "
            f"against {compiled['eager_tokens_per_second']} eager ({compiled['speedup']}x), after "
            f"{compiled['compile_seconds']} s "
            f"of compiling; the answers part at token {compiled['first_difference_at']}.",
        ]
    before = g.get("before", {}).get("summary")
    if before:
        lines += [
            "",
            f"Before ({g['before']['checkout']}), the same trial right after:",
            "",
            "| case | seconds before | seconds now |",
            "| --- | ---: | ---: |",
        ]
        lines += [
            f"| {name} | {row['seconds']} | {g['summary'][name]['seconds']} |"
            for name, row in before.items()
            if name in g["summary"] and name not in ("ratios", "bandwidth", "compiled_decode")
        ]
        lines += [
            f"| ratio {name} | {value} | {g['summary']['ratios'][name]} |"
            for name, value in before["ratios"].items()
            if name in g["summary"]["ratios"]
        ]
    return lines


def targets(r: dict) -> list[str]:
    """Each target of issue #8 with the measured value and whether it is met."""
    rows = []

    def add(name, value, goal, met):
        rows.append(f"| {name} | {value} | {goal} | {'yes' if met else 'no' if met is not None else '–'} |")

    t = {
        suite: data
        for suite, data in r.get("training", {}).items()
        if "trl-fp32" in data["summary"] and "trl-defaults" in data["summary"]
    }
    if "sft-lora" in t:
        s = t["sft-lora"]["summary"]
        add(
            "SFT+LoRA vs plain TRL fp32",
            f"{_fmt(s['ratio_vs_trl_fp32'])}x",
            ">= 1.5x",
            s["ratio_vs_trl_fp32"] and s["ratio_vs_trl_fp32"] >= 1.5,
        )
        add(
            "SFT+LoRA vs TRL defaults",
            f"{_fmt(s['ratio_vs_trl_defaults'])}x",
            ">= 15x",
            s["ratio_vs_trl_defaults"] and s["ratio_vs_trl_defaults"] >= 15,
        )
        mfu = s["workbench"].get("mfu_vs_fp32_matmul")
        add(
            "SFT+LoRA MFU vs fp32 matmul (bf16 matmul)",
            f"{_pct(mfu)} ({_pct(s['workbench'].get('mfu_vs_bf16_matmul'))})",
            ">= 60% of fp32",
            mfu and mfu >= 0.6,
        )
    if "sft-qlora" in t and "sft-lora" in t:
        q, lo = t["sft-qlora"]["summary"]["workbench"], t["sft-lora"]["summary"]["workbench"]
        share = (
            q["train_peak_rss_mb"] / lo["train_peak_rss_mb"]
            if q["train_peak_rss_mb"] and lo["train_peak_rss_mb"]
            else None
        )
        add(
            "QLoRA peak RSS ÷ LoRA's",
            f"{_fmt(share and round(share, 2))} ({_fmt(q['train_peak_rss_mb'], '.0f')} / "
            f"{_fmt(lo['train_peak_rss_mb'], '.0f')} MB)",
            "<= 0.5",
            share and share <= 0.5,
        )
        tq = (
            q["tokens_per_second"] / lo["tokens_per_second"]
            if q["tokens_per_second"] and lo["tokens_per_second"]
            else None
        )
        add("QLoRA tokens/s ÷ LoRA's", _fmt(tq and round(tq, 2)), "reported", None)
    if "dpo-lora" in t:
        s = t["dpo-lora"]["summary"]
        add(
            "DPO+LoRA vs plain TRL fp32",
            f"{_fmt(s['ratio_vs_trl_fp32'])}x",
            ">= 1.2x",
            s["ratio_vs_trl_fp32"] and s["ratio_vs_trl_fp32"] >= 1.2,
        )
        add(
            "DPO+LoRA vs TRL defaults",
            f"{_fmt(s['ratio_vs_trl_defaults'])}x",
            ">= 15x",
            s["ratio_vs_trl_defaults"] and s["ratio_vs_trl_defaults"] >= 15,
        )
        if "sft-lora" in t:
            d, lo = s["workbench"]["train_peak_rss_mb"], t["sft-lora"]["summary"]["workbench"]["train_peak_rss_mb"]
            share = d / lo if d and lo else None
            add(
                "DPO+LoRA peak RSS ÷ SFT+LoRA's (same batch of 8: 16 vs 8 sequences)",
                _fmt(share and round(share, 2)),
                "<= 1.10",
                share and share <= 1.1,
            )
    g = r.get("generation", {}).get("summary")
    if g:
        ratios = g["ratios"]
        add(
            "side by side vs three plain generate calls (wall time)",
            f"{ratios['side_by_side_speedup_vs_plain_x3']}x",
            ">= 2x",
            ratios["side_by_side_speedup_vs_plain_x3"] >= 2,
        )
        add(
            "single stream tokens/s vs plain generate",
            f"{ratios['single_tokens_per_second_vs_plain']}x",
            ">= 1x",
            ratios["single_tokens_per_second_vs_plain"] >= 1,
        )
        if "single_share_of_bandwidth_bound" in ratios:  # issue #23's generation targets
            add(
                "single stream share of the memory-bandwidth bound",
                f"{ratios['single_share_of_bandwidth_bound']:.0%}",
                ">= 50%",
                ratios["single_share_of_bandwidth_bound"] >= 0.5,
            )
            add(
                "single stream tokens/s vs plain generate in bf16",
                f"{ratios['single_tokens_per_second_vs_plain_bf16']}x",
                ">= 1.5x",
                ratios["single_tokens_per_second_vs_plain_bf16"] >= 1.5,
            )
            add(
                "4-side arena turn vs four plain generate calls (wall time)",
                f"{ratios['four_sides_speedup_vs_plain_x4']}x",
                ">= 3x",
                ratios["four_sides_speedup_vs_plain_x4"] >= 3,
            )
        ttft = g["workbench_stream_chat"]["ttft_s"]
        add("first token, short prompt (s)", ttft, "< 1 s", ttft < 1)
    for name, lesson in r.get("lessons", {}).items():
        add(
            f"lesson {name} full mode (s)",
            lesson["seconds"],
            "<= 600 s",
            lesson["within_budget"] and not lesson["error"],
        )
    return ["| target | measured | goal | met |", "| --- | --- | --- | --- |", *rows]


def render(r: dict) -> str:
    parts = [machine_line(r), "", "**Targets (issue #8)**", "", *targets(r)]
    if "training" in r:
        parts += [
            "",
            "**Training** (medians; tokens/s counts non-padding tokens trained, first step untimed)",
            "",
            *training_table(r["training"]),
        ]
    if "generation" in r:
        parts += ["", "**Generation** (medians)", "", *generation_table(r["generation"])]
    if "app" in r:
        app = r["app"]
        parts += [
            "",
            f"**App cold start** to first served page: median {app.get('median_seconds', '–')} s (trials "
            f"{app.get('seconds')})",
        ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results")
    parser.add_argument("--write", help="markdown file whose results block (between the markers) is replaced")
    args = parser.parse_args()
    text = render(json.loads(Path(args.results).read_text()))
    if not args.write:
        print(text)
        return
    doc = Path(args.write)
    before, rest = doc.read_text().split(START, 1)
    after = rest.split(END, 1)[1]
    doc.write_text(f"{before}{START}\n{text}\n{END}{after}")


if __name__ == "__main__":
    main()
