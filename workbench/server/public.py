"""Public-Space mode: caps that keep one shared server usable when strangers can reach it.

On when ``WORKBENCH_PUBLIC=1``, or automatically on a Hugging Face Space (which sets ``SPACE_ID``). The caps
depend on the hardware. A CPU Space has a couple of cores for everyone, so a run is capped to minutes, data
and uploads to what such a run can use. On ZeroGPU every piece of GPU work is one call that counts against
the visitor's own daily GPU quota (minutes; docs/hub spaces-zerogpu.md), so runs may be longer and answers
more at once, but no single call may ask for more than ``gpu_seconds``. Visitors never name files on the
server: they pick a sample or upload.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.workspace.learners import is_public
from workbench.workspace.runs import CHECKPOINTS_DIR


@dataclass(frozen=True)
class Caps:
    max_steps: int | None  # None: no cap (epochs allowed)
    max_rows: int | None
    max_upload_mb: float | None
    max_length: int
    max_prompt_chars: int | None  # a whole chat conversation or compare prompt; the model reads every token of it
    generations: int  # answers generated at once, across chat, compare and evaluate; more only share the same cores
    queue_size: int | None  # requests waiting beyond that; more are told the server is full instead of piling up
    runs_waiting: int  # trainings waiting in the run queue, everyone's together; more are refused with a sentence
    runs_waiting_per_owner: int  # trainings one visitor or learner may have waiting besides the one training
    gpu_seconds: int | None = None  # the longest ZeroGPU call (duration) one request may ask for; None: no cap


# CPU Space (free CPU Basic: 2 vCPU shared by every visitor): 30 steps of the 135M model take minutes there, and
# runs train one at a time, so the last of eight waiting runs starts after all the others have trained.
PUBLIC_CAPS = Caps(
    max_steps=30,
    max_rows=500,
    max_upload_mb=5,
    max_length=256,
    max_prompt_chars=8000,
    generations=2,
    queue_size=64,
    runs_waiting=8,
    runs_waiting_per_owner=1,
)
# ZeroGPU Space: the work runs on a lent GPU slice, billed to each visitor's daily quota of a few minutes. One
# call may take at most gpu_seconds, sized so a max_steps LoRA run of the embedded model at this max_length fits
# in it; more answers at once, since each is its own GPU call rather than a share of two CPU cores.
ZEROGPU_CAPS = Caps(
    max_steps=200,
    max_rows=2000,
    max_upload_mb=20,
    max_length=512,
    max_prompt_chars=8000,
    generations=4,
    queue_size=64,
    runs_waiting=16,
    runs_waiting_per_owner=1,
    gpu_seconds=120,
)
LOCAL_CAPS = Caps(
    max_steps=None,
    max_rows=None,
    max_upload_mb=None,
    max_length=2048,
    max_prompt_chars=None,
    generations=4,
    queue_size=None,
    runs_waiting=64,  # a workshop room: one waiting run per learner, for a large room
    runs_waiting_per_owner=1,
)

RUNS_NOTICE = (
    "This Space's disk is wiped when it restarts (after an update, or a sleep when unused): download "
    "a run's folder as a zip to keep it."
)


def hf_login_available() -> bool:
    """Whether the Hugging Face login can work here: a Space whose front matter says ``hf_oauth: true`` (the Hub then
    sets OAUTH_CLIENT_ID) with gradio's ``oauth`` extra installed. Gradio refuses to start a page with a login button
    otherwise."""
    return (
        bool(os.environ.get("SPACE_ID") and os.environ.get("OAUTH_CLIENT_ID"))
        and find_spec("authlib") is not None
        and find_spec("itsdangerous") is not None
    )


def on_zerogpu() -> bool:
    """Whether this is ZeroGPU hardware: the Space sets SPACES_ZERO_GPU, which the `spaces` package reads too."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")


def caps() -> Caps:
    """The caps in force now (read at call time, so tests can switch modes with the environment)."""
    if not is_public():
        return LOCAL_CAPS
    return ZEROGPU_CAPS if on_zerogpu() else PUBLIC_CAPS


def runs_notice() -> str:
    """What the Runs listing should say on a Space (its disk does not outlive a restart); empty elsewhere."""
    return RUNS_NOTICE if os.environ.get("SPACE_ID") else ""


def archive_members(run_dir: str | Path) -> list[Path]:
    """The files a run's download holds, sorted: all but its checkpoints, hidden files and links.

    Checkpoints only serve a resume on this server and are most of the bytes; hidden files (stop requests,
    name claims) are the server's own.
    """
    run_dir = Path(run_dir)
    members = []
    for path in sorted(run_dir.rglob("*")):
        inside = path.relative_to(run_dir)
        if (
            path.is_file()
            and not path.is_symlink()
            and inside.parts[0] != CHECKPOINTS_DIR
            and not any(part.startswith(".") for part in inside.parts)
        ):
            members.append(path)
    return members


def run_archive(run_dir: str | Path, out_dir: str | Path) -> Path:
    """A zip of one run folder in ``out_dir`` (for a download button): its :func:`archive_members`.

    Text is compressed, weights are stored as they are: they barely compress, and deflating a few hundred MB
    would keep a busy server's CPU for seconds.

    Example:
        >>> run_archive("runs/sft-json", tempfile.mkdtemp())  # .../sft-json.zip
    """
    run_dir = Path(run_dir)
    target = Path(out_dir) / f"{run_dir.name}.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for path in archive_members(run_dir):
            packed = zipfile.ZIP_DEFLATED if path.suffix in _TEXT_SUFFIXES else zipfile.ZIP_STORED
            archive.write(path, str(Path(run_dir.name) / path.relative_to(run_dir)), compress_type=packed)
    return target


_TEXT_SUFFIXES = {".json", ".jsonl", ".yaml", ".yml", ".md", ".txt", ".csv", ".jinja", ".svg"}


def describe() -> str:
    c = caps()
    if not is_public():
        return ""
    hardware = "ZeroGPU (each visitor's GPU time counts against their daily quota)" if on_zerogpu() else "CPU"
    return (
        f"Public mode on {hardware}: runs stop at {c.max_steps} steps, data is cut to {c.max_rows} rows, uploads up to "
        f"{c.max_upload_mb:g} MB, max_length up to {c.max_length}."
    )


def check_prompt(texts: list[str]) -> None:
    """Refuse a prompt (or a conversation) over the length cap, before the model spends minutes reading it."""
    limit = caps().max_prompt_chars
    size = sum(len(t) for t in texts)
    if limit is not None and size > limit:
        raise WorkbenchError(
            f"the prompt is {size} characters long; this server takes up to {limit} "
            "(in the Chat tab, press Clear to start a new conversation)"
        )


def apply_caps(config):
    """The TrainConfig with the caps in force: in public mode every run ends within ``max_steps``."""
    c = caps()
    changes = {"max_length": min(config.max_length, c.max_length)}
    if c.max_steps is not None:
        changes["max_steps"] = c.max_steps if config.max_steps <= 0 else min(config.max_steps, c.max_steps)
    return dataclasses.replace(config, **changes)
