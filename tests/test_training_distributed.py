"""The same `workbench train` command, data-parallel: 2 CPU processes under torchrun (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from workbench.training import read_metrics


def test_two_process_data_parallel_cli(tiny_model_dir, tmp_path):
    rows = [
        {"messages": [{"role": "user", "content": f"Label {i}"}, {"role": "assistant", "content": '{"label": 1}'}]}
        for i in range(16)
    ]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "c.yaml").write_text(
        f"model: {tiny_model_dir}\ndata: {tmp_path / 'data.jsonl'}\nname: ddp\noutput_dir: {tmp_path / 'runs'}\n"
        "max_steps: 3\nbatch_size: 2\nmax_length: 64\nlearning_rate: 1e-2\neval_fraction: 0\nprecision: fp32\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29517",
        "-m",
        "workbench.cli",
        "train",
        str(tmp_path / "c.yaml"),
        "--set",
        "seed=3",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    run_dir = tmp_path / "runs" / "ddp"
    losses = [r for r in read_metrics(run_dir) if "loss" in r]
    assert [r["step"] for r in losses] == [1, 2, 3], "rank 0 alone writes metrics, once per step"
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((run_dir / "estimate.json").read_text())["processes"] == 2
    assert "completed after 3 steps" in proc.stdout
