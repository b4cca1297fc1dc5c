"""Where a training run's memory goes: RSS by phase, and the bytes autograd saves for backward.

Runs ``workbench.training.train`` on a YAML config and records, in JSON: the RSS (anonymous and file-backed)
and ru_maxrss at each mark (imports, model loaded, trainer built, each step, each evaluation), the highest
RSS sampled every millisecond in each phase (forward, backward, optimizer, evaluation), the shapes of the
batches, and the first training step's saved_tensors_hooks total by dtype (weights of the model apart).
Used for docs/estimate.md:

    uv run python benchmarks/estimate_probe.py configs/sft_lora.yaml /tmp/est/sft_lora.json \\
        output_dir=/tmp/est/runs max_steps=3 eval_steps=100 save_steps=100 name=p overwrite=true
"""

import json
import os
import resource
import sys
import threading
import time

T0 = time.time()
phase = ["start"]
peaks: dict[str, float] = {}
marks: list = []
shapes: list = []
saved: dict[str, float] = {}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_kinds() -> dict[str, int]:
    with open("/proc/self/status") as f:
        return {
            k: round(int(v.split()[0]) / 1024)
            for k, v in (line.split(":") for line in f)
            if k in ("RssAnon", "RssFile")
        }


def mark(name: str) -> None:
    t = os.times()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    marks.append(
        (name, round(rss_mb()), round(maxrss), round(time.time() - T0, 1), round(t.user + t.system, 1), rss_kinds())
    )
    print("MARK", marks[-1], flush=True)


def sample() -> None:
    while True:
        current, now = phase[0], rss_mb()
        peaks[current] = max(peaks.get(current, 0), now)
        time.sleep(0.001)


def count_saved(model, forward):
    """Run ``forward`` under saved_tensors_hooks and total the distinct storages autograd keeps, by dtype."""
    import torch

    seen = {}

    def pack(t):
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = (storage.nbytes(), str(t.dtype), t.dim())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    totals: dict[str, int] = {}
    for ptr, (nbytes, dtype, dim) in seen.items():
        key = ("param " if ptr in params else "") + dtype + (" 2-d" if dim == 2 and ptr not in params else "")
        totals[key] = totals.get(key, 0) + nbytes
    saved.update({key: round(nbytes / 2**20, 1) for key, nbytes in totals.items()})
    print("SAVED", saved, flush=True)
    return out


def instrument(trainer) -> None:
    from transformers import TrainerCallback

    compute_loss, evaluate = trainer.compute_loss, trainer.evaluate

    def timed_loss(model, inputs, *args, **kwargs):
        ids = inputs.get("input_ids")
        training = model.training
        if ids is not None:
            shapes.append(("train" if training else "eval", tuple(ids.shape)))
        if not training:
            return compute_loss(model, inputs, *args, **kwargs)
        phase[0] = f"forward{trainer.state.global_step}"
        forward = lambda: compute_loss(model, inputs, *args, **kwargs)  # noqa: E731
        out = forward() if saved else count_saved(model, forward)
        phase[0] = f"backward{trainer.state.global_step}"
        return out

    def timed_evaluate(*args, **kwargs):
        before, phase[0] = phase[0], f"eval{trainer.state.global_step}"
        out = evaluate(*args, **kwargs)
        mark(f"eval done {trainer.state.global_step}")
        phase[0] = before
        return out

    class Marks(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            phase[0] = f"optimizer{state.global_step}"

        def on_step_end(self, args, state, control, **kwargs):
            mark(f"step {state.global_step}")
            phase[0] = "between"

    trainer.compute_loss, trainer.evaluate = timed_loss, timed_evaluate
    trainer.add_callback(Marks())


def main() -> None:
    threading.Thread(target=sample, daemon=True).start()
    mark("python")
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401
    import trl  # noqa: F401

    mark("imports")
    from workbench.training import pipeline
    from workbench.training.config import TrainConfig

    load_model = pipeline.load_model

    def load(*args, **kwargs):
        phase[0] = "load"
        lm = load_model(*args, **kwargs)
        mark("loaded")
        return lm

    pipeline.load_model = load
    for method in pipeline.METHODS.values():

        def build(*args, _build=method.build_trainer, **kwargs):
            phase[0] = "build"
            trainer = _build(*args, **kwargs)
            mark("trainer built")
            instrument(trainer)
            return trainer

        method.build_trainer = build
    result = pipeline.train(TrainConfig.from_yaml(sys.argv[1], sys.argv[3:]))
    mark("end")
    report = {
        "marks": marks,
        "phase_peaks": {k: round(v) for k, v in peaks.items()},
        "shapes": shapes,
        "saved_mb": saved,
        "estimate": result.estimate,
        "measured": result.measured,
    }
    with open(sys.argv[2], "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
