"""Who is asking, and which runs are theirs: one function maps an identity to a folder, for the app, the CLI and
notebooks, and every question about a run's owner is answered here.

Layout of the runs folder (``WORKBENCH_RUNS``, default ``runs/``)::

    runs/<run>/                      one person's own server (a laptop): the CLI's and the app's runs
    runs/.votes/                     that person's Arena votes
    runs/<learner>/<run>/            workshop mode: a learner's runs (the run-folder layout of workspace/runs.py)
    runs/<learner>/.uploads/         the files they trained on
    runs/<learner>/.votes/           their Arena votes (and the leaderboard built from them)
    runs/<learner>/.feedback/        their Chat thumbs, as KTO rows (kto.jsonl)
    runs/<learner>/.learner.json     who claimed the name: a chosen name's token hash, or the login that owns it
    runs/_shared/<run>/              runs the teacher shared with the room (read-only for learners)
    runs/_visitors/<key>/<run>/      public mode (a Space): each visitor's own runs, uploads and votes

Votes and uploads sit in dot-folders and the server's own folders start with ``_``: no run name (which starts
with a letter or digit) and no learner name can reach them.

Example (in a notebook on the workshop server):
    >>> train(TrainConfig(data="sentiment_json", output_dir=str(runs_dir("ana"))))
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from workbench.errors import WorkbenchError
from workbench.workspace.runs import RESERVED_NAMES, check_run_name, delete_run, is_run, list_runs

SHARED = "_shared"  # a learner's folder name never starts with "_", so these cannot be claimed
VISITORS = "_visitors"
CLAIM_FILE = ".learner.json"
UPLOADS = ".uploads"
VOTES = ".votes"
FEEDBACK = ".feedback"
MAX_NAME = 32
MAX_LOGIN = 200
SHARED_PREFIX = "shared/"  # how a shared run is labelled in a learner's lists
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


def is_public() -> bool:
    """A server strangers can reach: ``WORKBENCH_PUBLIC=1``, or a Hugging Face Space (which sets ``SPACE_ID``)."""
    return _flag("WORKBENCH_PUBLIC") or bool(os.environ.get("SPACE_ID"))


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
    """The folder of ``learner``'s runs (created on demand by training); ``None``: the runs root itself."""
    base = Path(root) if root is not None else runs_root()
    return base if learner is None else base / safe_name(learner)


def shared_dir(root: str | Path | None = None) -> Path:
    return (Path(root) if root is not None else runs_root()) / SHARED


@dataclass(frozen=True)
class Identity:
    """Who a page (or a script) is.

    ``owner`` keys the training queue; ``learner`` is the claimed learner folder in workshop mode (None otherwise);
    ``visitor_folder`` is a public visitor's own folder; ``claim`` ties a learner to the claim it made, so a
    teacher's Reset ends every page that still holds the old one.
    """

    owner: str
    learner: str | None
    display: str
    visitor_folder: Path | None = None
    claim: str = ""

    @property
    def folder(self) -> Path:
        """This identity's runs, uploads and votes: a visitor's or a learner's own folder, or the runs root of one
        person's own server."""
        return self.visitor_folder if self.visitor_folder is not None else runs_dir(self.learner)


def single_user(owner: str = "you") -> Identity:
    """One person on their own server: the runs root is theirs (the CLI's runs included)."""
    return Identity(owner=owner, learner=None, display="you")


def visitor(key: str) -> Identity:
    """A public server's visitor (a browser token or an API session): a folder of their own, seen by nobody else."""
    digest = _hash(key)[:16]
    return Identity(
        owner=f"visitor-{digest}", learner=None, display="you", visitor_folder=runs_root() / VISITORS / digest
    )


def anonymous(token: str) -> Identity:
    """Outside workshop mode, a browser without a name: a visitor on a public server, else the server's one user."""
    return visitor(token) if is_public() else single_user(f"anon-{_hash(token)[:16]}")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _read_claim(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_once(path: Path, record: dict) -> bool:
    """Write ``record`` to ``path`` only if no file is there; False when one is. Whole or not at all: a full disk
    leaves no half-written claim that would make the name taken forever."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".claim-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)  # atomic, and refuses an existing file: two browsers cannot both win one name
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def claim(name: str, kind: Kind = "name", token: str | None = None) -> Identity:
    """The identity for ``name``; the first claim of a name owns it.

    A chosen name (``kind="name"``) is owned by the browser holding ``token``: another browser claiming the same
    name is refused, so typing someone's name does not give their runs. A login (``"login"``: Gradio ``auth``;
    ``"hf"``: the Hugging Face login, folder ``hf-<user>``) is verified by the server and needs no token. Two
    logins that fold to one folder (case, punctuation, length) are refused, never merged; a name claimed by a
    login cannot be taken by a chosen name; names of the server's own folders and of existing runs are refused.
    """
    folder = safe_name(f"hf-{name}" if kind == "hf" else name)
    if kind == "name" and folder.startswith("hf-"):
        raise WorkbenchError("names starting with 'hf-' belong to Hugging Face logins: choose another")
    if kind == "name" and not token:
        raise WorkbenchError("a chosen name needs this browser's token")
    home = runs_root() / folder
    if folder in RESERVED_NAMES or (is_run(home) and not (home / CLAIM_FILE).is_file()):
        raise WorkbenchError(f"the name {folder!r} is used by the server or a run on it: choose another")
    exact = str(name)[:MAX_LOGIN]
    record = {
        "kind": kind,
        "name": exact,
        "token_sha256": _hash(token) if kind == "name" else None,
        "claim": secrets.token_hex(8),
    }
    try:
        won = _write_once(home / CLAIM_FILE, record)
    except OSError as exc:
        raise WorkbenchError(f"the server could not record your name ({exc.strerror}): try again in a moment") from None
    if not won:
        owner = _read_claim(home / CLAIM_FILE)
        same = owner.get("kind") == kind and (
            owner.get("token_sha256") == record["token_sha256"] if kind == "name" else owner.get("name") == exact
        )
        if not same:
            raise WorkbenchError(f"the name {folder!r} is taken on this server: choose another (or ask the teacher)")
        record = owner
    return Identity(owner=folder, learner=folder, display=exact[:MAX_NAME], claim=str(record.get("claim", "")))


def check_current(identity: Identity) -> Identity:
    """``identity`` if its claim still stands; a learner whose name the teacher's Reset removed must join again."""
    if identity.learner is None:
        return identity
    record = _read_claim(runs_dir(identity.learner) / CLAIM_FILE)
    if not record or record.get("claim") != identity.claim:
        raise WorkbenchError("your name was reset on this server: type your name again to join")
    return identity


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


def learners(root: str | Path | None = None) -> list[str]:
    """Every learner folder under the runs root (claimed names), sorted."""
    base = Path(root) if root is not None else runs_root()
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / CLAIM_FILE).is_file())


# --- which runs are whose ------------------------------------------------------------------------------------


def visible_runs(identity: Identity) -> dict[str, Path]:
    """Label -> folder of every run this identity may see: its own, then (in workshop mode) the shared ones."""
    runs = {p.name: p for p in list_runs(identity.folder)}
    if workshop_enabled():
        runs.update({SHARED_PREFIX + p.name: p for p in list_runs(shared_dir())})
    return runs


def own_run(identity: Identity, name: str | None) -> Path:
    """The identity's own run called ``name``; shared runs, other people's and names that leave the folder are
    refused."""
    try:
        path = identity.folder / check_run_name(name or "")
    except WorkbenchError:
        path = None
    if path is None or not is_run(path):
        raise WorkbenchError(f"{(name or '')[:60]!r} is not one of your runs")
    return path


def delete_own_run(identity: Identity, name: str | None) -> Path:
    """Delete one of the identity's own runs, unless it is training anywhere (its status says running)."""
    path = own_run(identity, name)
    delete_run(path)
    return path


def learner_run(label: str | None) -> Path:
    """``learner/run`` (the teacher's room table) -> that run's folder, which may still be queued; anything that is
    not a learner of this room and a run name is refused."""
    learner, _, run = (label or "").partition("/")
    try:
        if learner not in learners():
            raise WorkbenchError(learner)
        return runs_dir(learner) / check_run_name(run)
    except WorkbenchError:
        raise WorkbenchError(f"{(label or '')[:60]!r} is not a run in this room") from None


def uploads_dir(identity: Identity) -> Path:
    return identity.folder / UPLOADS


def votes_dir(identity: Identity) -> Path:
    """Where this identity's Arena votes go: a dot-folder in its own folder, which no run name can reach."""
    return identity.folder / VOTES


def feedback_file(identity: Identity) -> Path:
    """Where this identity's Chat thumbs go as KTO rows (prompt, completion, label): a dot-folder in its own folder,
    which no run name can reach, beside its votes."""
    return identity.folder / FEEDBACK / "kto.jsonl"


def reset_room(root: str | Path | None = None) -> int:
    """Delete every learner's folder (runs, uploads, votes and name claims) and the shared runs; returns how many.

    Pages that still hold a removed learner's identity are refused from then on (:func:`check_current`)."""
    base = Path(root) if root is not None else runs_root()
    gone = 0
    for name in learners(base) + ([SHARED] if (base / SHARED).is_dir() else []):
        shutil.rmtree(base / name, ignore_errors=True)
        gone += 1
    return gone
