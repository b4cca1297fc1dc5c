"""Data for fine-tuning: load any supported source into TRL's columns, validate it, preview and measure it.

Example:
    >>> from workbench.data import load_data, preview_record, length_stats
    >>> bundle = load_data("data_samples/sentiment_json.train.jsonl", tokenizer=tokenizer, max_length=256)
    >>> print(bundle.report)
    >>> preview_record(bundle, tokenizer, index=0)
"""

from workbench.data.chat_template import training_chat_template
from workbench.data.formats import FORMATS, prompt_and_reference
from workbench.data.loading import DataBundle, load_data
from workbench.data.masking import LossSettings, loss_labels, loss_settings, tokenize_for_training
from workbench.data.preview import COLOR_MAP, TokenPreview, preview_record
from workbench.data.report import Issue, ValidationReport
from workbench.data.samples import SAMPLES, Sample, sentiment_json_metric
from workbench.data.stats import LengthStats, length_histogram, length_stats, train_eval_split

__all__ = [
    "COLOR_MAP",
    "FORMATS",
    "SAMPLES",
    "DataBundle",
    "Issue",
    "LengthStats",
    "LossSettings",
    "Sample",
    "TokenPreview",
    "ValidationReport",
    "length_histogram",
    "length_stats",
    "load_data",
    "loss_labels",
    "loss_settings",
    "preview_record",
    "prompt_and_reference",
    "sentiment_json_metric",
    "tokenize_for_training",
    "train_eval_split",
    "training_chat_template",
]
