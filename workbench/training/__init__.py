"""Training: one config (TrainConfig), one function (train), a run folder per run, progress events, resume.

Example:
    >>> from workbench.training import TrainConfig, train
    >>> result = train(TrainConfig(data="data_samples/sentiment_json.train.jsonl", adaptation="lora", max_steps=30))
    >>> print(result.run_dir, result.final_metrics)
"""

from workbench.training.config import TrainConfig
from workbench.training.pipeline import RunResult, resume, train
from workbench.training.runs import list_runs, load_run_config, read_metrics

__all__ = ["RunResult", "TrainConfig", "list_runs", "load_run_config", "read_metrics", "resume", "train"]
