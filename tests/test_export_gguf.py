"""GGUF export: the file transformers' GGUF loader reads back answers like the merged safetensors model.

The embedded model is trained for 2 steps and exported once per format (module fixtures). A random adapter
would be cheaper but turns the model's answers into noise, whose near-flat logits flip under any rounding: a
trained run keeps the greedy answers meaningful. The Modelfile and refusal tests need no model weights.
"""

from __future__ import annotations

import copy
import json
import re
import shutil

import pytest
import torch

from workbench import WorkbenchError
from workbench.export.gguf_export import write_gguf
from workbench.export.merge import export_gguf, export_merged
from workbench.export.modelfile import render_go_template

PROMPTS = ["What is the capital of France?", "Write a haiku about the sea.", "List three colours."]


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory, default_model_dir):
    from datasets import Dataset

    from workbench.training import TrainConfig, train

    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Review {i}: {text}"},
                {"role": "assistant", "content": f'{{"sentiment": "{label}"}}'},
            ]
        }
        for i, (text, label) in enumerate([("Great food.", "positive"), ("Cold soup.", "negative")] * 4)
    ]
    config = TrainConfig(
        name="sft-run",
        model=str(default_model_dir),
        output_dir=str(tmp_path_factory.mktemp("gguf")),
        max_steps=2,
        batch_size=4,
        max_length=64,
        learning_rate=1e-3,
        eval_fraction=0,
        save_steps=2,
        lora_r=8,
    )
    return train(config, dataset=Dataset.from_list(rows)).run_dir


@pytest.fixture(scope="module")
def merged(embedded_run, tmp_path_factory):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("merged") / "merged"
    export_merged(embedded_run, folder)
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32), AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def exported(embedded_run, tmp_path_factory):
    """quant -> ExportResult, each format exported once for the module."""
    cache = {}

    def get(quant):
        if quant not in cache:
            cache[quant] = export_gguf(embedded_run, tmp_path_factory.mktemp(quant) / "out", quant)
        return cache[quant]

    return get


def _load_gguf(result):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(result.out_dir, gguf_file=result.main_file.name, dtype=torch.float32)


def _ids(tokenizer, prompt):
    messages = [{"role": "user", "content": prompt}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)[
        "input_ids"
    ]


@pytest.mark.embedded
def test_f16_logits_match_the_merged_model(exported, merged):
    from transformers import AutoTokenizer

    reference, tokenizer = merged
    result = exported("f16")
    assert result.main_file.name == "sft-run.f16.gguf" and result.notes == []
    model = _load_gguf(result)
    ids = _ids(tokenizer, PROMPTS[0])
    rounded = copy.deepcopy(reference)  # what f16 storage makes of the merged weights (vectors stay f32)
    with torch.no_grad():
        for p in rounded.parameters():
            if p.dim() == 2:
                p.copy_(p.half().float())
    with torch.inference_mode():
        got, expected, exact = model(ids).logits, rounded(ids).logits, reference(ids).logits
    torch.testing.assert_close(got, expected, atol=2e-3, rtol=1e-3)
    # Against the unrounded model: f16 moves the logits (|max| ~30) by ~0.1, and not the greedy choices.
    torch.testing.assert_close(got, exact, atol=0.3, rtol=0.02)
    assert torch.equal(got.argmax(-1), exact.argmax(-1))
    # The tokenizer in the file tokenizes and formats chats as the model's own does.
    from_gguf = AutoTokenizer.from_pretrained(result.out_dir, gguf_file=result.main_file.name)
    text = "Hello 12345 world! <|im_end|> café"
    assert from_gguf(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert torch.equal(_ids(from_gguf, PROMPTS[1]), _ids(tokenizer, PROMPTS[1]))


@pytest.mark.embedded
def test_q8_0_greedy_answers_match_the_merged_model(exported, merged):
    reference, tokenizer = merged
    result = exported("q8_0")
    model = _load_gguf(result)
    f16_size = exported("f16").main_file.stat().st_size
    assert result.main_file.stat().st_size < 0.6 * f16_size  # 8.5 bits a weight instead of 16
    for prompt in PROMPTS:
        ids = _ids(tokenizer, prompt)
        options = dict(max_new_tokens=16, min_new_tokens=16, do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            got = model.generate(ids, **options)[0, ids.shape[1] :]
            expected = reference.generate(ids, **options)[0, ids.shape[1] :]
        assert got.tolist() == expected.tolist(), (prompt, tokenizer.decode(got), tokenizer.decode(expected))


@pytest.mark.embedded
def test_modelfile_template_renders_the_chat_template(exported, merged):
    _, tokenizer = merged
    result = exported("f16")
    text = result.modelfile.read_text()
    assert f"FROM ./{result.main_file.name}\n" in text and (result.out_dir / result.main_file.name).is_file()
    assert 'PARAMETER stop "<|im_end|>"' in text and 'PARAMETER stop "<|im_start|>"' in text
    assert "PARAMETER temperature 0.3" in text and "PARAMETER repeat_penalty 1.15" in text
    template = re.search(r'^TEMPLATE """(.*?)"""$', text, re.S | re.M)[1]
    conversation = [
        {"role": "user", "content": "Is this review positive? 'Great food.'"},
        {"role": "assistant", "content": '{"sentiment": "positive"}'},
        {"role": "user", "content": "And 'Cold soup'?"},
    ]
    # Ollama runs the TEMPLATE with Go's text/template; no Go here, so it is rendered with the renderer of the
    # small subset the export writes (its semantics are pinned by test_go_renderer_follows_go_semantics).
    expected = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    assert render_go_template(template, conversation) == expected
    with_system = [{"role": "system", "content": "Answer in JSON."}, *conversation]
    assert render_go_template(template, with_system) == tokenizer.apply_chat_template(
        with_system, tokenize=False, add_generation_prompt=True
    )


def test_go_renderer_follows_go_semantics():
    # Expected strings worked out by hand from Go's text/template rules: range binds index and element,
    # `else if` chains, and/or/not/eq/ne, text outside actions copied verbatim (newlines included).
    template = (
        '{{ range $i, $m := .Messages }}{{ if and (eq $i 0) (ne $m.Role "system") }}[S]\n{{ end }}'
        '{{ if eq $m.Role "user" }}U:{{ $m.Content }}\n{{ else if eq $m.Role "system" }}S:{{ $m.Content }}\n'
        "{{ else }}?{{ end }}{{ end }}>"
    )
    assert render_go_template(template, []) == ">"
    assert render_go_template(template, [{"role": "user", "content": "a"}]) == "[S]\nU:a\n>"
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "b"}, {"role": "tool", "content": "t"}]
    assert render_go_template(template, messages) == "S:s\nU:b\n?>"
    assert render_go_template('{{ if or (not 0) (eq "a" "b") }}yes{{ end }}', []) == "yes"
    with pytest.raises(WorkbenchError, match="unsupported"):
        render_go_template('{{ printf "%d" 1 }}', [])


def test_q4_0_file_loads_back_on_a_tiny_model(tmp_path, tiny_model_dir):
    import gguf
    from transformers import AutoModelForCausalLM

    summary = write_gguf(tiny_model_dir, tmp_path / "tiny.q4_0.gguf", "q4_0")
    reader = gguf.GGUFReader(summary.path)
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert (
        types["blk.0.attn_q.weight"] == "Q4_0"
        and types["token_embd.weight"] == "Q8_0"
        and types["output_norm.weight"] == "F32"
    )
    assert "output.weight" not in types  # tied embeddings: llama.cpp reuses token_embd
    assert reader.fields["tokenizer.ggml.pre"].contents() == "smollm"
    assert reader.fields["tokenizer.chat_template"].contents().startswith("{% for message in messages %}")
    model = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.q4_0.gguf", dtype=torch.float32)
    assert model.config.num_key_value_heads == 2 and model.config.hidden_size == 32


def test_unsupported_architectures_are_refused_by_name(tmp_path, tiny_model_dir):
    folder = tmp_path / "qwen"
    shutil.copytree(tiny_model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(
        json.dumps(config | {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"})
    )
    with pytest.raises(
        WorkbenchError, match=r"llama family \(LlamaForCausalLM, MistralForCausalLM\); this model is Qwen2ForCausalLM"
    ):
        write_gguf(folder, tmp_path / "x.gguf", "f16")
    assert not list(tmp_path.glob("*.gguf"))
    with pytest.raises(WorkbenchError, match="choose one of f16, q8_0, q4_0"):
        write_gguf(tiny_model_dir, tmp_path / "x.gguf", "q2_k")
