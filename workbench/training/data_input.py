"""Training data for a run: loaded through workbench.data, checked against the method, split for evaluation.

The data module normalises files to TRL's columns; this module only decides whether the data fits the
method (SFT wants demonstrations, DPO wants chosen/rejected pairs) and holds out an evaluation split.
"""

from __future__ import annotations

from pathlib import Path

from workbench.errors import WorkbenchError

KINDS = ("conversational", "prompt_completion", "text", "preference")


def kind_of(dataset) -> str:
    """The TRL kind of a normalised dataset, from its columns."""
    columns = set(dataset.column_names)
    if {"chosen", "rejected"} <= columns:
        return "preference"
    if "messages" in columns:
        return "conversational"
    if {"prompt", "completion"} <= columns:
        return "prompt_completion"
    if "text" in columns:
        return "text"
    raise WorkbenchError(
        f"cannot tell what kind of data this is (columns: {', '.join(sorted(columns))}): expected messages, "
        "prompt+completion, text, or prompt+chosen+rejected"
    )


def load(source: str):
    """(dataset, kind) for a path or sample name, through workbench.data.load_data when it is available."""
    if not source:
        raise WorkbenchError("no training data: set `data` to a data file or Hub dataset ID (e.g. --set data=data_samples/sentiment_json.train.jsonl)")
    try:
        from workbench.data import load_data
    except ImportError:
        load_data = None
    if load_data is not None:
        bundle = load_data(source)
        if bundle.kind is None or len(bundle.dataset) == 0:
            first = "".join(f"{issue}\n" for issue in bundle.report.errors[:3])  # file:line: what, for the first few
            raise WorkbenchError(f"no usable training examples in {source}:\n{first}{bundle.report.summary()}")
        return bundle.dataset, bundle.kind
    # Fallback while workbench.data is not installed: JSON Lines already in TRL's columns.
    path = Path(source)
    if not path.is_file():
        raise WorkbenchError(f"training data {source!r} not found")
    from datasets import Dataset

    dataset = Dataset.from_json(str(path))
    return dataset, kind_of(dataset)


def check_fits(method: str, kind: str) -> None:
    """Refuse data of the wrong kind for the method, saying what to use instead."""
    if method == "sft" and kind == "preference":
        raise WorkbenchError(
            "this is preference data (prompt, chosen, rejected), which DPO learns from: set method: dpo, "
            "or give SFT demonstrations (messages, prompt+completion or text)"
        )
    if method == "dpo" and kind != "preference":
        raise WorkbenchError(
            f"DPO needs preference pairs (prompt, chosen, rejected) but this data is {kind}: set method: sft, "
            "or give a preference dataset"
        )


def split(dataset, eval_fraction: float, seed: int):
    """(train, eval or None), with the data module's splitter when present."""
    if eval_fraction <= 0 or len(dataset) < 4:
        return dataset, None
    try:
        from workbench.data import train_eval_split
    except ImportError:
        train_eval_split = None
    if train_eval_split is not None:
        return train_eval_split(dataset, eval_fraction, seed)
    parts = dataset.train_test_split(test_size=eval_fraction, seed=seed)
    return parts["train"], parts["test"]


def training_template(tokenizer) -> str | None:
    """The chat template with {% generation %} markers that assistant-only loss needs, or None where unavailable."""
    try:
        from workbench.data.chat_template import training_chat_template
    except ImportError:
        return None
    return training_chat_template(tokenizer)


def fingerprint(dataset) -> str:
    """A short content hash of the data, for the model card (same data -> same hash)."""
    import hashlib

    digest = hashlib.sha256()
    for shard in dataset.data.to_batches():
        digest.update(shard.to_pandas().to_json(orient="records", lines=True).encode())
    return digest.hexdigest()[:16]
