"""Training data for a run: loaded through workbench.data, checked against the method, split for evaluation.

The data module normalises files to TRL's columns; this module only decides whether the data fits the
method (SFT wants demonstrations, DPO chosen/rejected pairs, KTO answers labelled good or bad, GRPO prompts with a
reference answer) and holds out an evaluation split.
"""

from __future__ import annotations

import hashlib

from workbench.data import load_data, train_eval_split
from workbench.errors import WorkbenchError


def load(source: str):
    """(dataset, kind) for a path or sample name, through workbench.data.load_data."""
    if not source:
        raise WorkbenchError(
            "no training data: set `data` to a data file or Hub dataset ID (e.g. --set "
            "data=data_samples/sentiment_json.train.jsonl)"
        )
    bundle = load_data(source)
    if bundle.kind is None or len(bundle.dataset) == 0:
        first = "".join(f"{issue}\n" for issue in bundle.report.errors[:3])  # file:line: what, for the first few
        raise WorkbenchError(f"no usable training examples in {source}:\n{first}{bundle.report.summary()}")
    return bundle.dataset, bundle.kind


def check_fits(method: str, kind: str) -> None:
    """Refuse data of the wrong kind for the method, saying what to use instead."""
    if method == "sft" and kind == "preference":
        raise WorkbenchError(
            "this is preference data (prompt, chosen, rejected), which DPO learns from: set method: dpo, "
            "or give SFT demonstrations (messages, prompt+completion or text)"
        )
    if method == "sft" and kind == "kto":
        raise WorkbenchError(
            "this is KTO data (prompt, completion, label: answers marked good or bad), which KTO learns from: set "
            "method: kto (SFT would learn the answers marked bad as good ones)"
        )
    if method == "dpo" and kind != "preference":
        raise WorkbenchError(
            f"DPO needs preference pairs (prompt, chosen, rejected) but this data is {kind}: set method: "
            f"{'kto' if kind == 'kto' else 'sft'}, or give a preference dataset"
        )
    if method == "kto" and kind != "kto":
        raise WorkbenchError(
            f"KTO needs answers marked good or bad (prompt, completion, label) but this data is {kind}: set method: "
            f"{'dpo' if kind == 'preference' else 'sft'}, or give KTO data (a thumbs file from the Chat tab)"
        )
    if method == "grpo" and kind == "text":
        raise WorkbenchError(
            "GRPO samples answers to prompts and scores them against the data's answer, but plain text has neither: "
            "give demonstrations (messages or prompt+completion)"
        )


def split(dataset, eval_fraction: float, seed: int):
    """(train, eval or None): ``eval_fraction`` of the records held out, none for tiny datasets."""
    if eval_fraction <= 0 or len(dataset) < 4:
        return dataset, None
    return train_eval_split(dataset, eval_fraction, seed)


def fingerprint(dataset) -> str:
    """A short content hash of the data, for the model card (same data -> same hash)."""
    digest = hashlib.sha256()
    for shard in dataset.data.to_batches():
        digest.update(shard.to_pandas().to_json(orient="records", lines=True).encode())
    return digest.hexdigest()[:16]
