"""Training: one config (TrainConfig), one function (train), a run folder per run, progress events, resume.

Example:
    >>> from workbench.training import TrainConfig, train
    >>> result = train(TrainConfig(data="data_samples/sentiment_json.train.jsonl", adaptation="lora", max_steps=30))
    >>> print(result.run_dir, result.final_metrics)
"""

from workbench.training.config import TrainConfig, load_run_config
from workbench.workspace.runs import list_runs, read_metrics

__all__ = ["RunResult", "TrainConfig", "list_runs", "load_run_config", "read_metrics", "resume", "train"]


def __getattr__(name: str):
    # train/resume load TRL, PEFT and the trainer stack (seconds, and bitsandbytes' start-up warnings): only when
    # asked for, so reading a run folder (compare, export, the CLI's parser) stays light.
    if name in ("RunResult", "resume", "train"):
        # Train and resume load TRL and PEFT: only when asked for.
        from workbench.training import pipeline  # noqa: PLC0415

        return getattr(pipeline, name)
    raise AttributeError(f"module 'workbench.training' has no attribute {name!r}")
