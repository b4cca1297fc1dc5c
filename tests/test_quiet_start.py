"""The CLI starts quietly: no library warning, failure line or progress bar a learner cannot act on (issue #23)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

# What the noise looked like: bitsandbytes' "Failed to load CPU gemm_4bit_forward from kernels-community", PEFT's
# FutureWarning about `is_gradient_checkpointing`, tqdm bars ("Loading weights: 100%|####| 20/20").
NOISE = re.compile(r"warning|warn\(|failed to load|kernels-community|\d+%\|", re.IGNORECASE)


def _stderr(*argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "workbench.cli", *argv], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_commands_print_no_warnings(tmp_path, tiny_model_dir, make_adapter_run):
    run = make_adapter_run(tmp_path / "run-a", tiny_model_dir, seed=1)
    for argv in (["info"], ["compare", "--adapter", str(run), "--prompt", "hi", "--max-new-tokens", "4"]):
        noise = [line for line in _stderr(*argv).splitlines() if NOISE.search(line)]
        assert noise == [], f"workbench {argv[0]} printed: {noise}"


def test_training_prints_no_bars_for_small_data(tmp_path, tiny_model_dir):
    from conftest import sft_rows

    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in sft_rows(24)))
    config = tmp_path / "c.yaml"
    config.write_text(
        f"model: {tiny_model_dir}\ndata: {data}\nmax_steps: 1\nbatch_size: 4\nmax_length: 128\n"
        f"output_dir: {tmp_path / 'runs'}\nname: q\nprecision: fp32\neval_fraction: 0.2\n"
    )
    noise = [line for line in _stderr("train", str(config)).splitlines() if NOISE.search(line)]
    assert noise == [], noise
