"""Engines: one answer stream of the embedded model through the workbench's reference path, llama.cpp and CTranslate2.

Side by side in one run, greedy, the same chat-template prompt ids, the same number of threads for every engine:

- ``workbench``: the reference path, :func:`workbench.inference.generation.stream_chat`, in the precision
  :mod:`workbench.hardware` picks for this machine (``workbench-float32`` beside it where that is not fp32);
- ``llama.cpp-q8_0``: llama.cpp on the workbench's own q8_0 GGUF export of the base
  (:func:`workbench.export.gguf_export.write_gguf`), through node-llama-cpp's prebuilt CPU binary, which this
  benchmark installs with npm into a scratch folder (a benchmark tool, never a dependency of the workbench);
- ``ctranslate2-<compute type>``: CTranslate2 from PyPI (installed into the scratch folder, not the environment)
  on the base converted by its own converter, for each of int8, int8_float32, bfloat16 and float32 this CPU supports;
- ``onnxruntime-genai-int8``: ONNX Runtime GenAI (also installed into the scratch folder) on the base built by its
  own model builder with int8 weights and int8 dot products.

Speed: each trial is a fresh process that loads its engine, warms up, and times one answer of ``max_new_tokens``
(time to the first token, then decode tokens/s over the rest); the engines alternate round by round
(:func:`benchmarks.harness.alternate`), so a busy machine slows them alike. Quality: every engine answers the
forgetting probe's questions with ``quality_tokens`` new tokens, greedy, and each answer is compared with the
reference path's (which answers them in one batch, :func:`~workbench.inference.generation.stream_batch`, as
evaluation does; the other engines one by one), with ``quality_threads`` threads (default: ``threads``; one thread
a process keeps a busy machine's other processes from stalling the answers, which do not depend on it). Run:
``python -m benchmarks.engines ['{"rounds": 3}']``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import machine
from benchmarks.harness import alternate, emit, median, ratio, run_trial

HERE = Path(__file__).resolve().parent
NODE_LLAMA_CPP = "node-llama-cpp@3.21.1"
CTRANSLATE2 = ("ctranslate2==4.8.5",)
# The runtime and, for its model builder only, onnx and onnx-ir.
ONNXRUNTIME_GENAI = (
    "onnxruntime-genai==0.18.0",
    "onnxruntime==1.31.1",
    "flatbuffers==25.12.19",
    "onnx==1.23.2",
    "onnx-ir==1.1.0",
    "ml_dtypes==0.7.0",
)
# float32 beside the int8 and bf16 types: the same engine without quantization, to tell the engine's effect on
# answers from int8's.
CT2_COMPUTE_TYPES = ("int8", "int8_float32", "bfloat16", "float32")
# An answer longer than the timed tokens on every engine, so each stream decodes the full length.
SPEED_PROMPT = "Tell me about the history of Paris."
REFERENCE = "workbench"
LLAMA_CPP = "llama.cpp-q8_0"
ORT_GENAI = "onnxruntime-genai-int8"


def greedy(max_new_tokens: int):
    """The reference path's greedy settings: temperature 0 and no repetition penalty, so every engine computes the
    same thing (the most likely token each step)."""
    from workbench.inference.generation import GenerationSettings

    return GenerationSettings(max_new_tokens=max_new_tokens, temperature=0.0, repetition_penalty=1.0)


# ---- trials (each in a fresh process) ----


def workbench_trial(spec: dict) -> dict:
    if spec.get("dtype"):
        os.environ["WORKBENCH_DTYPE"] = spec["dtype"]  # read once, on the first choose_precision()
    import torch

    from workbench.inference.generation import stream_batch, stream_chat
    from workbench.models import load_model

    torch.set_num_threads(spec["threads"])
    lm = load_model("default")
    if spec["mode"] == "quality":
        # All questions in one batch, as evaluation asks them (one by one would take minutes on a busy machine).
        *_, texts = stream_batch(lm.model, lm.tokenizer, spec["messages"], greedy(spec["max_new_tokens"]))
        return {"texts": texts, "dtype": lm.precision.dtype_name}

    def answer(messages: list[dict], max_new: int) -> dict:
        start, first, text = time.perf_counter(), None, ""
        for piece in stream_chat(lm.model, lm.tokenizer, messages, greedy(max_new)):
            first = first or time.perf_counter()
            text += piece
        # stream_chat hands out text; its token count is the text's (at most max_new: the end token is not kept).
        tokens = min(len(lm.tokenizer(text, add_special_tokens=False)["input_ids"]), max_new)
        return {"text": text, "tokens": tokens, "first_token_seconds": first - start, "seconds": now() - start}

    result = run_answers(spec, lambda i, n: answer(spec["messages"][i], n))
    return result | {"dtype": lm.precision.dtype_name}


def llama_cpp_trial(spec: dict) -> dict:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec["model_dir"])
    stop = spec["mode"] == "quality"  # speed: the full length, whatever the model would say
    prompts = [spec["prompt_ids"][i] for i in prompt_indices(spec)]
    args = {"model": spec["gguf"], "prompts": prompts, "max_tokens": spec["max_new_tokens"], "threads": spec["threads"]}
    proc = subprocess.run(
        ["node", "llama_cpp.mjs", json.dumps(args | {"stop_ids": spec["eos_ids"] if stop else [], "warmup": True})],
        cwd=spec["npm_dir"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode:
        raise RuntimeError(f"node exited {proc.returncode}: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    answers = [
        {
            "text": decode(tokenizer, r["tokens"]),
            "tokens": len(r["tokens"]),
            "first_token_seconds": r["first_token_seconds"],
            "seconds": r["seconds"],
        }
        for r in out["results"]
    ]
    return summarise(spec, answers) | {"node_threads": out["threads"], "rss_mb": round(out["rss_mb"], 1)}


def ctranslate2_trial(spec: dict) -> dict:
    import ctranslate2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec["model_dir"])
    generator = ctranslate2.Generator(
        spec["ct2_dir"], device="cpu", compute_type=spec["compute_type"], intra_threads=spec["threads"]
    )
    stop_ids = spec["eos_ids"] if spec["mode"] == "quality" else []  # speed: the full length, as llama.cpp

    def answer(i: int, max_new: int) -> dict:
        prompt = tokenizer.convert_ids_to_tokens(spec["prompt_ids"][i])
        end = tokenizer.convert_ids_to_tokens(stop_ids)
        start, first, tokens = time.perf_counter(), None, []
        for step in generator.generate_tokens(prompt, max_length=max_new, sampling_topk=1, end_token=end):
            first = first or time.perf_counter()
            if step.token_id in stop_ids:
                break
            tokens.append(step.token_id)
        return {
            "text": decode(tokenizer, tokens),
            "tokens": len(tokens),
            "first_token_seconds": first - start,
            "seconds": now() - start,
        }

    return run_answers(spec, answer)


def onnxruntime_genai_trial(spec: dict) -> dict:
    import onnxruntime_genai as og
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec["model_dir"])
    config = og.Config(spec["ort_dir"])
    threads = {"intra_op_num_threads": spec["threads"], "inter_op_num_threads": 1}
    config.overlay(json.dumps({"model": {"decoder": {"session_options": threads}}}))
    model = og.Model(config)
    speed = spec["mode"] == "speed"

    def answer(i: int, max_new: int) -> dict:
        prompt = spec["prompt_ids"][i]
        params = og.GeneratorParams(model)
        # Speed: the full length (min_length holds the end token back), as llama.cpp.
        length = len(prompt) + max_new
        params.set_search_options(max_length=length, min_length=length if speed else 0, do_sample=False)
        generator = og.Generator(model, params)
        start, first, tokens = time.perf_counter(), None, []
        generator.append_tokens(prompt)
        while not generator.is_done():
            generator.generate_next_token()
            first = first or time.perf_counter()
            token = int(generator.get_next_tokens()[0])
            if token in spec["eos_ids"] and not speed:
                break
            tokens.append(token)
        return {
            "text": decode(tokenizer, tokens),
            "tokens": len(tokens),
            "first_token_seconds": first - start,
            "seconds": now() - start,
        }

    return run_answers(spec, answer)


def rss_mb() -> float:
    """This process's resident memory now (a trial's peak from getrusage would include its parent's, as forked)."""
    with open("/proc/self/statm") as f:
        return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def now() -> float:
    return time.perf_counter()


def decode(tokenizer, tokens: list[int]) -> str:
    """Token ids as text, as the reference path's streamer writes them."""
    return tokenizer.decode(tokens, skip_special_tokens=True).rstrip("\ufffd")


def prompt_indices(spec: dict) -> list[int]:
    return [0] if spec["mode"] == "speed" else list(range(len(spec["prompt_ids"])))


def run_answers(spec: dict, answer) -> dict:
    """A short untimed answer (thread pools, first allocations), then the trial's answers."""
    answer(0, 8)
    answers = [answer(i, spec["max_new_tokens"]) for i in prompt_indices(spec)]
    return summarise(spec, answers) | {"rss_mb": rss_mb()}


def summarise(spec: dict, answers: list[dict]) -> dict:
    if spec["mode"] == "quality":
        return {"texts": [a["text"] for a in answers]}
    (a,) = answers
    decode_seconds = a["seconds"] - a["first_token_seconds"]
    return {
        "tokens": a["tokens"],
        "first_token_seconds": round(a["first_token_seconds"], 4),
        "seconds": round(a["seconds"], 3),
        "decode_tokens_per_second": round((a["tokens"] - 1) / decode_seconds, 2),
        "tokens_per_second": round(a["tokens"] / a["seconds"], 2),
        "text": a["text"],
    }


TRIALS = {
    "workbench": workbench_trial,
    "llama.cpp": llama_cpp_trial,
    "ctranslate2": ctranslate2_trial,
    "onnxruntime-genai": onnxruntime_genai_trial,
}


def trial(spec: dict) -> dict:
    return TRIALS[spec["trial"]](spec)


# ---- preparation (in the parent, before any trial) ----


def install_node_llama_cpp(npm_dir: Path, log) -> str | None:
    """node-llama-cpp in ``npm_dir`` with the timing script beside it; None, or why llama.cpp cannot run."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        return "npm/node not found: llama.cpp is not measured"
    package = npm_dir / "node_modules" / "node-llama-cpp" / "package.json"
    wanted = NODE_LLAMA_CPP.rsplit("@", 1)[1]
    if not package.is_file() or json.loads(package.read_text())["version"] != wanted:
        log(f"installing {NODE_LLAMA_CPP} into {npm_dir} (npm)")
        npm_dir.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["npm", "install", "--prefix", str(npm_dir), "-E", NODE_LLAMA_CPP, "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            return f"npm install {NODE_LLAMA_CPP} failed: {proc.stderr.strip()[-500:]}"
    shutil.copy(HERE / "llama_cpp.mjs", npm_dir / "llama_cpp.mjs")  # ESM resolves imports beside the script
    return None


def install_python(py_dir: Path, packages: tuple[str, ...], module: str, log) -> str | None:
    """``module`` importable from ``py_dir``, where ``packages`` are installed without their other dependencies (numpy,
    pyyaml, protobuf... which the workbench's environment has, so nothing in it is shadowed); None, or why not."""
    if str(py_dir) not in sys.path:
        sys.path.insert(0, str(py_dir))
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(py_dir), os.environ.get("PYTHONPATH")]))
    if importlib.util.find_spec(module) is not None:
        return None
    log(f"installing {' '.join(packages)} into {py_dir}")
    if importlib.util.find_spec("pip") is not None:
        command = [sys.executable, "-m", "pip", "install"]
    elif shutil.which("uv"):
        command = ["uv", "pip", "install", "--python", sys.executable]
    else:
        return f"neither pip nor uv is available to install {module}"
    proc = subprocess.run([*command, "--no-deps", "--target", str(py_dir), *packages], capture_output=True, text=True)
    importlib.invalidate_caches()
    if proc.returncode or importlib.util.find_spec(module) is None:
        return f"installing {module} failed: {(proc.stderr or proc.stdout).strip()[-500:]}"
    return None


def prepare_ctranslate2(models: Path, model_dir: Path, py_dir: Path, log) -> tuple[dict, dict]:
    """The CTranslate2 engines this CPU runs (name -> spec) and the skipped ones (name -> why)."""
    problem = install_python(py_dir, CTRANSLATE2, "ctranslate2", log)
    if problem:
        return {}, {"ctranslate2": problem}
    import ctranslate2
    from ctranslate2.converters import TransformersConverter

    ct2_dir = models / f"ct2-{ctranslate2.__version__}"
    if not (ct2_dir / "model.bin").is_file():
        log(f"converting the base for CTranslate2 into {ct2_dir}")
        TransformersConverter(str(model_dir), low_cpu_mem_usage=True).convert(str(ct2_dir), force=True)
    supported = ctranslate2.get_supported_compute_types("cpu")
    engines, skipped = {}, {}
    for compute_type in CT2_COMPUTE_TYPES:
        name = f"ctranslate2-{compute_type}"
        if compute_type in supported:
            engines[name] = {"trial": "ctranslate2", "ct2_dir": str(ct2_dir), "compute_type": compute_type}
        else:
            skipped[name] = f"CTranslate2 {ctranslate2.__version__} offers {sorted(supported)} on this CPU"
    return engines, skipped


def prepare_onnxruntime_genai(models: Path, model_dir: Path, py_dir: Path, log) -> tuple[dict, dict]:
    """ONNX Runtime GenAI on the base built by its own model builder: int8 weights, int8 activations
    (``accuracy_level=4``, as llama.cpp's q8_0 dot products)."""
    problem = install_python(py_dir, ONNXRUNTIME_GENAI, "onnxruntime_genai", log)
    if problem:
        return {}, {ORT_GENAI: problem}
    out = models / f"ortgenai-{ONNXRUNTIME_GENAI[0].split('==')[1]}-int8"
    if not (out / "genai_config.json").is_file():
        log(f"building the base for ONNX Runtime GenAI into {out}")
        command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(model_dir), "-o", str(out)]
        command += ["-p", "int8", "-e", "cpu", "-c", str(models / "ortgenai-cache")]
        proc = subprocess.run([*command, "--extra_options", "accuracy_level=4"], capture_output=True, text=True)
        if proc.returncode:
            return {}, {ORT_GENAI: f"its model builder failed: {proc.stderr.strip()[-500:]}"}
    return {ORT_GENAI: {"trial": "onnxruntime-genai", "ort_dir": str(out)}}, {}


def prepare(scratch: Path, model_dir: Path, log) -> tuple[dict, dict]:
    """Every engine to measure besides the reference path (name -> trial spec), made ready in ``scratch``: the
    exported GGUF, converted models and installed packages; and those skipped (name -> why)."""
    from workbench.export.gguf_export import write_gguf

    models = scratch / "models"
    models.mkdir(parents=True, exist_ok=True)
    engines, skipped = {}, {}
    gguf = models / "base.q8_0.gguf"
    if not gguf.is_file():
        log(f"exporting the base as {gguf}")
        write_gguf(model_dir, gguf, "q8_0")
    problem = install_node_llama_cpp(scratch / "npm", log)
    if problem:
        skipped[LLAMA_CPP] = problem
    else:
        engines[LLAMA_CPP] = {"trial": "llama.cpp", "gguf": str(gguf), "npm_dir": str(scratch / "npm")}
    for family in (prepare_ctranslate2, prepare_onnxruntime_genai):
        more, why = family(models, model_dir, scratch / "py", log)
        engines |= more
        skipped |= why
    return engines, skipped


# ---- the run ----


def quality_report(texts: dict[str, list[str]], prompts: list[str]) -> dict:
    """How many answers each engine shares with the reference path (the differing ones side by side), and with every
    other engine: how far apart the engines are, beside how far each is from the reference."""
    answers = {name: [t.strip() for t in ts] for name, ts in texts.items()}

    def same(a: str, b: str) -> int:
        return sum(x == y for x, y in zip(answers[a], answers[b]))

    reference = answers.get(REFERENCE)
    vs_reference = {
        name: {
            "identical": same(name, REFERENCE),
            "of": len(prompts),
            "differing": [{"prompt": p, "reference": r, name: a} for p, r, a in zip(prompts, reference, ts) if a != r],
        }
        for name, ts in answers.items()
        if reference is not None and name != REFERENCE
    }
    return {
        "vs_reference": vs_reference,
        "identical_pairs": {a: {b: same(a, b) for b in answers if b != a} for a in answers},
        "answers": answers,
    }


def run(
    rounds: int = 3,
    max_new_tokens: int = 128,
    quality_tokens: int = 32,
    threads: int = 2,
    quality_threads: int | None = None,
    scratch: str | None = None,
    note: str | None = None,
    log=print,
) -> dict:
    from transformers import AutoTokenizer, GenerationConfig

    from workbench.evaluation.forgetting import load_probe
    from workbench.hardware import choose_precision
    from workbench.models import cache_dir, ensure_default_model

    model_dir = ensure_default_model()
    scratch_dir = Path(scratch) if scratch else cache_dir() / "bench-engines"
    others, skipped = prepare(scratch_dir, model_dir, log)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    questions = [q.prompt for q in load_probe()]
    # The reference path stops at the generation config's end ids and the tokenizer's; so does every engine here.
    eos = GenerationConfig.from_pretrained(model_dir).eos_token_id
    eos_ids = sorted({tokenizer.eos_token_id, *(eos if isinstance(eos, list) else [eos])} - {None})

    def ids(prompt: str) -> list[int]:
        messages = [{"role": "user", "content": prompt}]
        return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"])

    engines = {REFERENCE: {"trial": "workbench"}}
    if choose_precision().dtype_name != "float32":
        engines["workbench-float32"] = {"trial": "workbench", "dtype": "float32"}
    engines |= others

    def specs(mode: str, prompts: list[str], max_new: int, threads: int) -> dict[str, dict]:
        common = {"mode": mode, "threads": threads, "model_dir": str(model_dir), "eos_ids": eos_ids}
        common |= {"max_new_tokens": max_new, "prompt_ids": [ids(p) for p in prompts]}
        common["messages"] = [[{"role": "user", "content": p}] for p in prompts]
        return {name: common | spec for name, spec in engines.items()}

    log(f"quality: {len(questions)} probe questions x {len(engines)} engines, {quality_tokens} tokens, greedy")
    texts = {}
    for name, spec in specs("quality", questions, quality_tokens, quality_threads or threads).items():
        result = run_trial("engines", spec)
        if "error" in result:
            log(f"  {name}: {result['error']}\n{result['log_tail']}")
            continue
        texts[name] = result["texts"]
    quality = quality_report(texts, questions)
    for name, q in quality["vs_reference"].items():
        log(f"  {name}: {q['identical']}/{q['of']} answers identical to the reference path's")

    log(f"speed: {len(engines)} engines x {rounds} rounds, alternating, {max_new_tokens} new tokens, {threads} threads")
    trials = alternate("engines", specs("speed", [SPEED_PROMPT], max_new_tokens, threads), rounds, log=log)
    summary = {
        name: {
            "decode_tokens_per_second": median(ts, "decode_tokens_per_second"),
            "first_token_seconds": median(ts, "first_token_seconds"),
            "tokens": median(ts, "tokens"),
            "rss_mb": median(ts, "rss_mb"),
        }
        for name, ts in trials.items()
    }
    llama = summary.get(LLAMA_CPP, {})
    reference = summary[REFERENCE]
    for row in summary.values():
        row["decode_vs_llama_cpp"] = ratio(row["decode_tokens_per_second"], llama.get("decode_tokens_per_second"))
        row["first_token_vs_llama_cpp"] = ratio(row["first_token_seconds"], llama.get("first_token_seconds"))
        row["decode_vs_reference"] = ratio(row["decode_tokens_per_second"], reference["decode_tokens_per_second"])
    for name, row in summary.items():
        log(f"  {name}: {json.dumps(row)}")
    return {
        "note": note,
        "cpu_flags": sorted(flag_subset()),
        "workbench_precision": choose_precision().dtype_name,
        "engines": {name: {k: v for k, v in spec.items() if k != "trial"} for name, spec in engines.items()},
        "packages": [NODE_LLAMA_CPP, *CTRANSLATE2, *ONNXRUNTIME_GENAI],
        "skipped": skipped,
        "speed_prompt": SPEED_PROMPT,
        "summary": summary,
        "decode_vs_llama_cpp": {name: row["decode_vs_llama_cpp"] for name, row in summary.items()},
        "quality": {"prompts": len(questions), "new_tokens": quality_tokens} | quality,
        "trials": trials,
    }


def flag_subset() -> set[str]:
    """The CPU flags that decide fp32, bf16 and int8 kernel speed."""
    from workbench.hardware import cpu_flags

    wanted = {
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512_vnni",
        "avx_vnni",
        "avx512_bf16",
        "amx_bf16",
        "amx_int8",
    }
    return cpu_flags() & wanted


if __name__ == "__main__":
    spec = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    if "trial" in spec:
        emit(trial(spec))
    else:
        machine.run_and_write(run, f"{time.strftime('%Y-%m-%d')}-{machine.machine_name()}-engines.json")
