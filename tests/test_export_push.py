"""`workbench push`: the dry run lists the upload and its model card offline; the upload is one commit.

Nothing here reaches the Hub: the dry run must not touch HfApi at all, and the real push is run against a
recording stand-in for HfApi's two calls.
"""

from __future__ import annotations

import json

import huggingface_hub
import pytest

from workbench import WorkbenchError
from workbench.cli import main
from workbench.evaluation.evaluate import write_report
from workbench.export.hub import EMBEDDED_HUB_ID, plan_push, push_run

RESULTS = {
    "sides": {"base": {"json_valid": 0.25, "eval_loss": 2.5}, "run": {"json_valid": 0.75, "eval_loss": 1.25}},
    "samples": 4,
    "data": "sentiment_json.eval.jsonl",
    "run": "run",
    "example_score": "json_valid",
    "examples": [],
}


@pytest.fixture
def run(tmp_path, tiny_model_dir, make_adapter_run, monkeypatch):
    run = make_adapter_run(tmp_path / "runs" / "run", tiny_model_dir, seed=1)
    (run / "config.yaml").write_text("model: default\nmethod: sft\nadaptation: lora\nname: run\n")
    (run / "README.md").write_text("# run\n\nSFT fine-tune (lora) of `default`, made with the Fine-tuning Workbench.\n")
    (run / "loss.png").write_bytes(b"\x89PNG fake")
    write_report(dict(RESULTS), run / "eval")

    def offline(*args, **kwargs):
        raise AssertionError("reached for the network")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", offline)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", offline)
    return run


def test_dry_run_lists_the_upload_and_renders_the_eval_table(run, capsys):
    assert main(["push", str(run), "me/smollm2-sentiment", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for name in (
        "adapter_model.safetensors",
        "adapter_config.json",
        "tokenizer.json",
        "loss.png",
        "eval/eval.md",
        "eval/before_after.png",
        "README.md",
    ):
        assert name in out
    assert "would upload to https://huggingface.co/me/smollm2-sentiment" in out
    card = plan_push(run, "me/smollm2-sentiment").card
    assert card.startswith("---\n") and f"base_model: {EMBEDDED_HUB_ID}" in card and "library_name: peft" in card
    assert "| json_valid (higher is better) | 0.25 | 0.75 | +0.5 |" in card  # the eval table, rendered
    assert "![training loss](loss.png)" in card and "![before and after](eval/before_after.png)" in card
    assert card in out
    assert [remote for _, remote in plan_push(run, "me/x").files].count("README.md") == 1  # not PEFT's stub too


def test_merged_dry_run_and_bad_repo_ids(run):
    plan = plan_push(run, "me/merged", merged=True)
    assert "library_name: transformers" in plan.card and "adapter_model.safetensors" not in plan.listing()
    with pytest.raises(WorkbenchError, match="owner/name"):
        plan_push(run, "no-owner")
    with pytest.raises(WorkbenchError, match="not valid"):
        plan_push(run, "me/bad name!")


def test_push_uploads_one_folder_with_the_hub_base(run, monkeypatch):
    uploaded = {}

    def create_repo(self, repo_id, private, exist_ok):
        uploaded["private"] = private

    def upload_folder(self, folder_path, repo_id, commit_message):
        uploaded["files"] = sorted(str(p.relative_to(folder_path)) for p in folder_path.rglob("*") if p.is_file())
        uploaded["adapter_config"] = json.loads((folder_path / "adapter_config.json").read_text())
        uploaded["card"] = (folder_path / "README.md").read_text()

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    plan = push_run(run, "me/smollm2-sentiment")
    assert uploaded["private"] is True
    assert {"adapter_model.safetensors", "README.md", "loss.png", "eval/eval.md"} <= set(uploaded["files"])
    assert uploaded["adapter_config"]["base_model_name_or_path"] == EMBEDDED_HUB_ID  # not this machine's path
    assert uploaded["card"] == plan.card
