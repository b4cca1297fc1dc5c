"""Memory fit (issue #23): peak RSS and tokens/s of runs fitted to a memory budget, alternated in one run.

    python -m benchmarks.memory_fit '{"repeats": 1, "steps": 3}'

Two parts, each trial a fresh process (benchmarks/training.py's trial):
- identity: an identity-like SFT+LoRA run (91 short chat records, half of them Chinese, so some batches pad to
  256 tokens; batch 8, max_length 256), as configured (``memory_budget_gb: 0``) against budgets of 3 and 2 GB;
- budgets: SFT+LoRA, QLoRA and DPO+LoRA on the sample data (batch 8) under budgets of 2, 4 and 8 GB: the layout
  the fit chose, its estimate and the measured peak RSS (``"parts": "budgets"`` runs this part alone).
The data imitates LLaMA-Factory's ``identity.json`` (same shape and mix of lengths; its text is not copied).
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from benchmarks.harness import alternate, median, ratio

_QUESTIONS_EN = [
    "hi",
    "hello",
    "Who are you?",
    "What is your name?",
    "Can you introduce yourself?",
    "Who built you?",
    "Are you ChatGPT?",
    "Thanks",
    "What can you do?",
    "Who trained you?",
    "Tell me about yourself",
    "Are you based on GPT-3?",
    "Do you have a name?",
    "What are you called?",
    "Who created you?",
]
_QUESTIONS_ZH = [
    "你好",
    "你是谁？",
    "请介绍一下你自己",
    "你叫什么名字？",
    "你能做什么？",
    "谁开发了你？",
    "你的目标是什么？",
    "你有什么特长？",
    "你会保护用户的隐私吗？",
    "你的回答可以信赖吗？",
    "你是人工智能吗？",
    "谢谢",
]
_PIECES_ZH = [
    "您好，我是 NAME，一个由 AUTHOR 开发的人工智能助手。",
    "我可以回答各种问题，提供实用的建议和帮助。",
    "很高兴认识您，请问有什么可以帮助您的吗？",
    "我的使命是为用户提供准确、有用的回答和解决方案。",
    "我可以解释概念、提供事实信息、帮助解决问题，还能创作诗歌、故事甚至代码。",
    "保护用户隐私是我的首要任务，我会遵循相关的隐私政策和法律法规。",
]


def identity_like(path: Path, n: int = 91, seed: int = 0) -> Path:
    """Write ``n`` alpaca records (instruction, input, output) of an assistant stating who it is."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        if i < 16:
            answer = (
                f"I am NAME, an AI assistant developed by AUTHOR. {rng.choice(['How can I assist you today?', ''])}"
            )
            rows.append({"instruction": _QUESTIONS_EN[i % len(_QUESTIONS_EN)], "input": "", "output": answer.strip()})
        else:
            answer = "".join(rng.sample(_PIECES_ZH, rng.randint(1, 4)))
            rows.append({"instruction": rng.choice(_QUESTIONS_ZH), "input": "", "output": answer})
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


_BUDGETS = {"sft-lora": (2, 8), "sft-qlora": (2, 8), "dpo-lora": (2, 4, 8)}


def identity(repeats: int, steps: int, log=print) -> dict:
    """The identity-like case as configured (memory_budget_gb: 0), at the issue's 3 GB budget and at 2 GB (an 8 GB
    laptop's share beside a browser and the OS), and at 3 GB with padded batches (this data pads ~30%), alternated."""
    data = str(identity_like(Path(tempfile.mkdtemp(prefix="bench-identity-")) / "identity_like.json"))
    base = {
        "suite": "sft-lora",
        "variant": "workbench",
        "steps": steps,
        "batch_size": 8,
        "max_length": 256,
        "data": data,
    }
    log(f"memory fit, identity-like: unfitted, 3 GB, 2 GB, 3 GB padded x {repeats}, {steps} steps of batch 8 x 256")
    trials = alternate(
        "training",
        {
            "unfitted": {**base, "config": {"memory_budget_gb": 0}},
            "budget_3gb": {**base, "config": {"memory_budget_gb": 3}},
            "budget_2gb": {**base, "config": {"memory_budget_gb": 2}},
            "budget_3gb_padded": {**base, "config": {"memory_budget_gb": 3, "padding_free": False}},
        },
        repeats,
        log,
    )
    keys = ("tokens_per_second", "tokens_per_cpu_second", "train_peak_rss_mb", "peak_rss_mb", "estimate_mb")
    summary = {
        v: {k: median(ts, k) for k in keys} | {"layout": ts[0].get("layout"), "losses": [t.get("losses") for t in ts]}
        for v, ts in trials.items()
    }
    for key in ("tokens_per_second", "tokens_per_cpu_second"):
        summary[f"{key}_ratio"] = ratio(summary["budget_3gb"][key], summary["unfitted"][key])
        summary[f"{key}_ratio_2gb"] = ratio(summary["budget_2gb"][key], summary["unfitted"][key])
        summary[f"{key}_padding_free_vs_padded"] = ratio(summary["budget_3gb"][key], summary["budget_3gb_padded"][key])
    log(f"  identity: {json.dumps(summary)}")
    return {"summary": summary, "trials": trials}


def budgets(steps: int, log=print) -> dict:
    """SFT+LoRA, QLoRA and DPO+LoRA on the sample data (batch 8) under each budget of ``_BUDGETS``: peak RSS.

    Only the budgets that bind or bound the range are run: a budget above the run's estimate leaves the layout as
    configured, so its peak is the unfitted one (the largest budget of each suite measures it).
    """
    specs = {
        f"{suite}@{gb}gb": {
            "suite": suite,
            "variant": "workbench",
            "steps": steps,
            "batch_size": 8,
            "max_length": 256,
            "config": {"memory_budget_gb": gb},
        }
        for suite, gbs in _BUDGETS.items()
        for gb in gbs
    }
    log(f"memory fit, budgets: {', '.join(specs)}, {steps} steps each")
    trials = alternate("training", specs, 1, log)
    keys = (
        "layout",
        "estimate_mb",
        "train_peak_rss_mb",
        "peak_rss_mb",
        "tokens_per_second",
        "losses",
        "loadavg",
        "error",
    )
    table = {
        name: {"budget_mb": specs[name]["config"]["memory_budget_gb"] * 1024} | {k: ts[0].get(k) for k in keys}
        for name, ts in trials.items()
    }
    for name, row in table.items():
        log(f"  {name}: {json.dumps(row)}")
    return table


def run(repeats: int = 1, steps: int = 3, parts: str = "identity,budgets", log=print) -> dict:
    out = {}
    if "identity" in parts:
        out["identity"] = identity(repeats, steps, log)
    if "budgets" in parts:
        out["budgets"] = budgets(max(2, steps - 1), log)
    return out


if __name__ == "__main__":
    from benchmarks import machine

    machine.run_and_write(run, "memory-fit.json")
