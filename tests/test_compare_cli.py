"""The compare, eval and export verbs: thin wrappers that print answers, tables and clear errors."""

from __future__ import annotations

import json

from workbench.cli import main


def test_compare_eval_export_from_the_command_line(tmp_path, tiny_model_dir, capsys, make_adapter_run):
    run = make_adapter_run(tmp_path / "run-a", tiny_model_dir, seed=1)
    assert main(["compare", "--adapter", str(run), "--prompt", "hi", "--max-new-tokens", "4"]) == 0
    out = capsys.readouterr().out
    assert "=== base ===" in out and "=== run-a ===" in out

    data = tmp_path / "eval.jsonl"
    data.write_text(json.dumps({"prompt": "hi", "completion": "hello"}))
    assert main(["eval", str(run), "--data", str(data), "--max-new-tokens", "4"]) == 0
    assert "perplexity" in capsys.readouterr().out and (run / "eval" / "eval.json").is_file()

    assert main(["export", str(run), str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert main(["compare", "--adapter", str(tmp_path / "nothing"), "--prompt", "hi"]) == 2
    assert "neither a run folder" in capsys.readouterr().err
