"""Write a merged model folder as one GGUF file (f16, q8_0 or q4_0) that llama.cpp and Ollama run, in pure Python.

llama.cpp's own converter (``convert_hf_to_gguf.py``) lives in its source tree, not on PyPI, and its quantizer
needs a C++ build. The ``gguf`` package (gguf-py, from the same repository) has what the conversion needs: the
writer, the tensor-name map and numpy quantizers for Q8_0 and Q4_0. This module does for the llama family what
the converter does, in the same way, so the file reads like one llama.cpp wrote; the round-trip test loads it
back through transformers' GGUF loader and compares logits and answers with the safetensors model.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from safetensors import safe_open
from tqdm.auto import tqdm

from workbench.errors import WorkbenchError

Quant = Literal["f16", "q8_0", "q4_0"]
QUANTS: tuple[Quant, ...] = ("f16", "q8_0", "q4_0")

# Hugging Face architectures whose tensors map onto llama.cpp's "llama" graph. Mistral is the llama graph with
# a sliding window that llama.cpp's converter also writes as "llama".
SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM")

# llama.cpp picks its pre-tokenizer (the regex that splits text before BPE) by name. Its converter recognises a
# tokenizer by hashing how it tokenizes a test text; here a vocabulary is recognised by a hash of its tokens in id
# order. SmolLM and SmolLM2 share one vocabulary ("smollm", as in the GGUF file the embedded model ships in).
# An unknown vocabulary gets "default" (GPT-2's regex), and the export says so.
KNOWN_PRE_TOKENIZERS = {
    "d1f2ce856b324081b621d9e2e8dbd22879f462329f3fd4aa39fa758dddb2ce55": "smollm",
}


@dataclass
class GGUFSummary:
    """What was written: the file, its size, the tensor types used, and anything the user should know."""

    path: Path
    size_bytes: int
    tensor_types: dict[str, int]
    notes: list[str]


def _tensor_type(hf_name: str, shape: tuple[int, ...], quant: Quant):
    """The GGML type for one tensor, as llama.cpp's converter chooses it.

    Vectors (norms, biases) stay F32: they are tiny and quantizing them costs accuracy for nothing. Q8_0/Q4_0
    pack rows in blocks of 32, so a matrix whose rows do not split into blocks falls back to F16. For q4_0 the
    token embedding (tied to the output layer in SmolLM2) stays Q8_0, as in the Q4_1 file SmolLM2 is published
    in: it is the layer most sensitive to rounding.
    """
    # The gguf package, loaded when a GGUF file is written: kept off the CLI's start path.
    from gguf import GGMLQuantizationType as T  # noqa: PLC0415

    if len(shape) < 2:
        return T.F32
    wanted = {"f16": T.F16, "q8_0": T.Q8_0, "q4_0": T.Q4_0}[quant]
    if wanted == T.Q4_0 and ("embed_tokens" in hf_name or "lm_head" in hf_name):
        wanted = T.Q8_0
    if wanted != T.F16 and shape[-1] % 32:
        return T.F16
    return wanted


def _permute_for_rope(weights: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder q/k projection rows from Hugging Face's rotary layout to llama.cpp's.

    transformers rotates the two halves of each head ([x0..x31], [x32..x63]); llama.cpp rotates adjacent pairs
    (x0,x1), (x2,x3)... The same weights give the same model once each head's rows are interleaved like this;
    transformers' GGUF loader undoes it when it reads the file back.
    """
    head_dim = weights.shape[0] // n_head
    return weights.reshape(n_head, 2, head_dim // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _read_config(model_dir: Path) -> dict:
    path = model_dir / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"{path}: cannot read the model config ({exc})") from exc
    architectures = config.get("architectures") or [config.get("model_type", "?")]
    if architectures[0] not in SUPPORTED_ARCHITECTURES:
        raise WorkbenchError(
            f"GGUF export covers the llama family ({', '.join(SUPPORTED_ARCHITECTURES)}); this model is "
            f"{architectures[0]}. Export it as safetensors (--format safetensors) and convert it with llama.cpp's "
            "convert_hf_to_gguf.py"
        )
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if rope.get("rope_type", rope.get("type", "default")) != "default":
        raise WorkbenchError(
            f"GGUF export writes plain rotary embeddings; this model uses {rope.get('rope_type')!r} rope scaling"
        )
    return config


def _vocab(model_dir: Path, n_vocab: int):
    """Tokens (in id order), their GGUF types, the tokenizer object and the pre-tokenizer name.

    Written like llama.cpp's converter does for GPT-2-style byte-level BPE: the byte-level token strings as
    they are, special added tokens as CONTROL, other added tokens as USER_DEFINED, ids the tokenizer does not
    use (the embedding may be padded) as UNUSED placeholders.
    """
    # The gguf package, loaded when a GGUF file is written: kept off the CLI's start path.
    from gguf import TokenType  # noqa: PLC0415

    # The tokenizer stack of transformers, kept off the CLI's start path.
    from transformers import AutoTokenizer  # noqa: PLC0415

    data = (
        json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
        if (model_dir / "tokenizer.json").is_file()
        else {}
    )
    model = data.get("model") or {}
    byte_level = "ByteLevel" in json.dumps(data.get("pre_tokenizer")) or "ByteLevel" in json.dumps(data.get("decoder"))
    if model.get("type") != "BPE" or not byte_level:
        raise WorkbenchError(
            "GGUF export writes GPT-2-style byte-level BPE tokenizers (SmolLM, Llama 3); "
            f"{model_dir / 'tokenizer.json'} holds a {model.get('type', 'missing')} "
            f"tokenizer{'' if byte_level else ' without byte-level pre-tokenization'}"
        )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    by_id = {i: t for t, i in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for i in range(n_vocab):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(TokenType.UNUSED)
        elif i in added:
            tokens.append(by_id[i])
            types.append(TokenType.CONTROL if added[i].special else TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[i])
            types.append(TokenType.NORMAL)
    fingerprint = hashlib.sha256("\n".join(tokens).encode("utf-8")).hexdigest()
    return tokens, types, tokenizer, KNOWN_PRE_TOKENIZERS.get(fingerprint)


def write_gguf(model_dir: str | Path, path: str | Path, quant: Quant = "q8_0", name: str | None = None) -> GGUFSummary:
    """Write the standalone model in ``model_dir`` (safetensors + tokenizer) as one GGUF file at ``path``.

    The file holds the weights, the hyper-parameters, the tokenizer (tokens, merges, special ids) and the chat
    template, so ``llama-cli -m file`` or Ollama need nothing else. Written to a temporary name first.

    Example:
        >>> write_gguf("exports/sft-json", "exports/sft-json.q8_0.gguf", "q8_0")
    """
    import gguf  # noqa: PLC0415  (loaded when a GGUF file is written: kept off the CLI's start path)

    model_dir, path = Path(model_dir), Path(path)
    if quant not in QUANTS:
        raise WorkbenchError(f"unknown GGUF quantization {quant!r}: choose one of {', '.join(QUANTS)}")
    config = _read_config(model_dir)
    notes: list[str] = []
    n_head, n_kv = config["num_attention_heads"], config.get("num_key_value_heads") or config["num_attention_heads"]
    n_layers, hidden = config["num_hidden_layers"], config["hidden_size"]
    head_dim = config.get("head_dim") or hidden // n_head
    n_vocab = config["vocab_size"]
    tied = config.get("tie_word_embeddings", False)
    rope = config.get("rope_parameters") or {}

    tokens, token_types, tokenizer, pre = _vocab(model_dir, n_vocab)
    if pre is None:
        pre = "default"
        notes.append("unrecognised vocabulary: llama.cpp will split text with GPT-2's default pre-tokenizer")

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    writer = gguf.GGUFWriter(tmp, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    try:
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name(name or config.get("_name_or_path") or model_dir.name)
        writer.add_context_length(config["max_position_embeddings"])
        writer.add_embedding_length(hidden)
        writer.add_feed_forward_length(config["intermediate_size"])
        writer.add_block_count(n_layers)
        writer.add_head_count(n_head)
        writer.add_head_count_kv(n_kv)
        writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-6))
        writer.add_rope_freq_base(rope.get("rope_theta", config.get("rope_theta", 10000.0)))
        writer.add_rope_dimension_count(head_dim)
        writer.add_vocab_size(n_vocab)
        writer.add_file_type(
            {
                "f16": gguf.LlamaFileType.MOSTLY_F16,
                "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
                "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0,
            }[quant]
        )
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre(pre)
        writer.add_token_list(tokens)
        writer.add_token_types(token_types)
        # Merges, bos/eos/unk/pad ids and the chat template, read from the tokenizer files by gguf-py itself.
        special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=n_vocab)
        special.add_to_gguf(writer, quiet=True)
        if special.chat_template is None and tokenizer.chat_template:
            writer.add_chat_template(tokenizer.chat_template)
        # llama.cpp adds a BOS token by default unless told otherwise; say what the tokenizer really does.
        with_special = tokenizer("a")["input_ids"]
        plain = tokenizer("a", add_special_tokens=False)["input_ids"]
        if "bos" not in special.add_special_token:
            writer.add_add_bos_token(len(with_special) > len(plain) and with_special[0] == tokenizer.bos_token_id)
        if "eos" not in special.add_special_token:
            writer.add_add_eos_token(len(with_special) > len(plain) and with_special[-1] == tokenizer.eos_token_id)

        names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layers)
        counts: dict[str, int] = {}
        shards = sorted(model_dir.glob("model*.safetensors"))
        if not shards:
            raise WorkbenchError(f"{model_dir} has no model*.safetensors weights to convert")
        for shard in shards:
            with safe_open(shard, framework="pt") as weights:
                for hf_name in tqdm(list(weights.keys()), desc=f"GGUF {quant}", unit="tensor", leave=False):
                    if tied and hf_name == "lm_head.weight":
                        continue  # llama.cpp uses token_embd as the output layer when output.weight is absent
                    gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
                    if gguf_name is None:
                        raise WorkbenchError(f"{shard}: tensor {hf_name!r} has no place in llama.cpp's llama graph")
                    data = weights.get_tensor(hf_name).float().numpy()
                    if ".q_proj." in hf_name:
                        data = _permute_for_rope(data, n_head)
                    elif ".k_proj." in hf_name:
                        data = _permute_for_rope(data, n_kv)
                    qtype = _tensor_type(hf_name, data.shape, quant)
                    counts[qtype.name] = counts.get(qtype.name, 0) + 1
                    if qtype == gguf.GGMLQuantizationType.F32:
                        writer.add_tensor(gguf_name, data)
                    elif qtype == gguf.GGMLQuantizationType.F16:
                        writer.add_tensor(gguf_name, data.astype(np.float16))
                    else:
                        writer.add_tensor(gguf_name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)

        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file(progress=False)
        writer.close()
        os.replace(tmp, path)
    finally:
        writer.close()
        tmp.unlink(missing_ok=True)
    return GGUFSummary(path, path.stat().st_size, counts, notes)
