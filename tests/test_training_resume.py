"""Resume after kill -9: the resumed run's loss curve matches an uninterrupted one, no metric line lost or repeated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from workbench.training import TrainConfig, read_metrics, resume, train

ROWS = [
    {"messages": [{"role": "user", "content": f"Label {i}"}, {"role": "assistant", "content": f'{{"label": {i % 3}}}'}]}
    for i in range(24)
]


def config(model_dir, root, name) -> dict:
    return dict(
        model=str(model_dir),
        output_dir=str(root),
        name=name,
        data=str(root / "data.jsonl"),
        max_steps=6,
        batch_size=4,
        max_length=64,
        learning_rate=5e-3,
        eval_fraction=0.0,
        save_steps=2,
        precision="fp32",
        lora_dropout=0.1,  # dropout uses the RNG, so resuming must restore its state too
    )


def test_kill_9_then_resume_matches_uninterrupted_run(tiny_model_dir, tmp_path):
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    reference = train(TrainConfig(**config(tiny_model_dir, tmp_path, "straight")))

    # A child process trains and is killed with SIGKILL right after logging step 5 (checkpoint at 4).
    script = textwrap.dedent(f"""
        import os, signal
        from workbench.training import TrainConfig, train
        def on_event(event):
            if event["type"] == "step" and event["step"] == 5:
                os.kill(os.getpid(), signal.SIGKILL)
        train(TrainConfig(**{config(tiny_model_dir, tmp_path, "killed")!r}), on_event=on_event)
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert child.returncode == -9, child.stderr[-2000:]
    run_dir = tmp_path / "killed"
    assert [r["step"] for r in read_metrics(run_dir) if "loss" in r] == [1, 2, 3, 4, 5]
    assert not (run_dir / "adapter").exists()

    result = resume(run_dir)
    assert result.status == "completed" and result.steps == 6
    resumed = [(r["step"], r["loss"]) for r in read_metrics(run_dir) if "loss" in r]
    straight = [(r["step"], r["loss"]) for r in read_metrics(reference.run_dir) if "loss" in r]
    assert [s for s, _ in resumed] == [1, 2, 3, 4, 5, 6], "no step lost or repeated"
    for (_, a), (_, b) in zip(resumed, straight):
        assert a == pytest.approx(b, rel=1e-3, abs=1e-3)
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file() and (run_dir / "loss.png").is_file()
