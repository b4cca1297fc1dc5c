"""Who a learner is and where their work lives: one function maps an identity to a folder, for the app and notebooks.

Layout of the runs folder in workshop mode (``WORKBENCH_WORKSHOP=1``, or a teacher password, or ``WORKBENCH_AUTH``)::

    runs/<learner>/<run>/       a learner's runs (the run-folder layout of workbench/workspace/runs.py)
    runs/<learner>/.uploads/    the files they trained on
    runs/<learner>/.votes/      their Arena votes (and the leaderboard built from them)
    runs/<learner>/.learner.json  who claimed the name: a chosen name's token hash, or the login that owns it
    runs/_shared/<run>/         runs the teacher shared with the room (read-only for learners)

Outside workshop mode one person uses the server and their runs stay directly under ``runs/``.
A notebook on the same server finds the same runs with ``runs_dir("ana")``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from workbench.errors import WorkbenchError

SHARED = "_shared"  # a learner's folder name never starts with "_", so this cannot be claimed
CLAIM_FILE = ".learner.json"
UPLOADS = ".uploads"
VOTES = ".votes"
MAX_NAME = 32
Kind = Literal["name", "login", "hf"]


def runs_root() -> Path:
    """Where the app (and notebooks on the same server) write run folders: ``WORKBENCH_RUNS`` if set, else ``runs/``."""
    return Path(os.environ.get("WORKBENCH_RUNS") or "runs")


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def workshop_enabled() -> bool:
    """Each visitor a learner with their own folder: set by the teacher (read at call time, as tests switch it)."""
    return (
        _flag("WORKBENCH_WORKSHOP")
        or bool(os.environ.get("WORKBENCH_TEACHER_PASSWORD"))
        or bool(os.environ.get("WORKBENCH_AUTH"))
    )


def safe_name(name: str) -> str:
    """The folder name for a learner's name: lower-case ASCII letters, digits and '-', at most 32 characters.

    Example:
        >>> safe_name("Ana María / 2")
        'ana-maria-2'
    """
    ascii_name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    folder = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:MAX_NAME].strip("-")
    if not folder:
        raise WorkbenchError(
            f"the name {str(name)[:40]!r} has no letters or digits: choose a name like 'ana' or 'team-3'"
        )
    return folder


def runs_dir(learner: str | None = None, root: str | Path | None = None) -> Path:
    """The folder of ``learner``'s runs (created on demand by training); ``None``: the runs root itself.

    Example (in a notebook on the workshop server):
        >>> train(TrainConfig(data="sentiment_json", output_dir=str(runs_dir("ana"))))
    """
    base = Path(root) if root is not None else runs_root()
    return base if learner is None else base / safe_name(learner)


def shared_dir(root: str | Path | None = None) -> Path:
    return (Path(root) if root is not None else runs_root()) / SHARED


def uploads_dir(learner: str | None) -> Path:
    return runs_dir(learner) / UPLOADS


def votes_dir(learner: str | None) -> Path:
    """Where ``learner``'s Arena votes go (workbench.ui.arena_tab.votes_folder)."""
    return runs_dir(learner) / VOTES


@dataclass(frozen=True)
class Identity:
    """Who this page is: ``owner`` keys the training queue, ``learner`` names the runs folder (None: the runs root)."""

    owner: str
    learner: str | None
    display: str

    @property
    def folder(self) -> Path:
        return runs_dir(self.learner)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def claim(name: str, kind: Kind = "name", token: str | None = None) -> Identity:
    """The identity for ``name``; the first claim of a name owns it.

    A chosen name (``kind="name"``) is owned by the browser holding ``token``: another browser claiming the same
    name is refused, so typing someone's name does not give their runs. A login (``"login"``: Gradio ``auth``;
    ``"hf"``: the Hugging Face login, folder ``hf-<user>``) is verified by the server and needs no token; a name
    claimed by a login cannot be taken by a chosen name.
    """
    folder = safe_name(f"hf-{name}" if kind == "hf" else name)
    if kind == "name" and folder.startswith("hf-"):
        raise WorkbenchError("names starting with 'hf-' belong to Hugging Face logins: choose another")
    if kind == "name" and not token:
        raise WorkbenchError("a chosen name needs this browser's token")
    path = runs_root() / folder / CLAIM_FILE
    record = {"kind": kind, "name": str(name)[:MAX_NAME], "token_sha256": _hash(token) if kind == "name" else None}
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two browsers claiming one name at the same moment cannot both win.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
    except FileExistsError:
        try:
            owner = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            owner = {}
        same = owner.get("kind") == kind and (kind != "name" or owner.get("token_sha256") == record["token_sha256"])
        if not same:
            raise WorkbenchError(
                f"the name {folder!r} is taken on this server: choose another (or ask the teacher)"
            ) from None
    return Identity(owner=folder, learner=folder, display=str(name)[:MAX_NAME])


def browser_secret(root: str | Path | None = None) -> str:
    """The key the browser's stored identity is encrypted with, kept in the runs folder so it survives a restart
    (Gradio's default is a new random key per start, which would make every learner lose their name)."""
    path = (Path(root) if root is not None else runs_root()) / ".browser-secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    except FileExistsError:
        pass
    return path.read_text(encoding="utf-8").strip()


def anonymous(token: str) -> Identity:
    """Outside workshop mode: the browser's token tells its runs apart from another visitor's; the folder is the root."""
    key = f"anon-{_hash(token)[:16]}"
    return Identity(owner=key, learner=None, display="you")


def learners(root: str | Path | None = None) -> list[str]:
    """Every learner folder under the runs root (claimed names), sorted."""
    base = Path(root) if root is not None else runs_root()
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / CLAIM_FILE).is_file())


def learner_run(identity_learner: str | None, run: str) -> Path:
    """``run`` inside the learner's folder, refusing names that would leave it (``..``, ``/``, hidden folders)."""
    if not run or run.startswith((".", "_")) or "/" in run or "\\" in run or ".." in run:
        raise WorkbenchError(f"{run[:60]!r} is not one of your runs")
    return runs_dir(identity_learner) / run


def reset_room(root: str | Path | None = None) -> int:
    """Delete every learner's folder (runs, uploads, votes and name claims) and the shared runs; returns how many."""
    base = Path(root) if root is not None else runs_root()
    gone = 0
    for name in learners(base) + ([SHARED] if (base / SHARED).is_dir() else []):
        shutil.rmtree(base / name, ignore_errors=True)
        gone += 1
    return gone
