"""Export: the merged standalone model gives the same logits as base + adapter."""

from __future__ import annotations

import pytest
import torch

from workbench import WorkbenchError, load_model
from workbench.export.merge import export_merged
from workbench.hardware import Precision
from workbench.inference.bench import ModelBench


def test_merged_model_matches_base_plus_adapter(tmp_path, tiny_model_dir, make_adapter_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = make_adapter_run(tmp_path / "run", tiny_model_dir, seed=1)
    assert export_merged(run, tmp_path / "merged") == []
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    assert AutoTokenizer.from_pretrained(tmp_path / "merged").chat_template
    assert not any("lora" in name for name, _ in merged.named_parameters())

    # The export merges in fp32; compare against base + adapter in fp32 too.
    bench = ModelBench(load_model(str(tiny_model_dir), precision=Precision("cpu", torch.float32, "test")))
    bench.add_adapter(run)
    ids = torch.tensor([[1, 520, 33, 4071, 17, 2]])
    with torch.inference_mode(), bench.use("run") as model:
        expected = model(input_ids=ids).logits
    with torch.inference_mode(), bench.use("base") as model:
        base = model(input_ids=ids).logits
    with torch.inference_mode():
        got = merged(input_ids=ids).logits
    assert not torch.allclose(base, expected, atol=1e-3)  # the adapter matters
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)

    with pytest.raises(WorkbenchError, match="not empty"):
        export_merged(run, tmp_path / "merged")
