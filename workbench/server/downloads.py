"""Run downloads, built once per version of a run and kept in a size-capped cache, so clicks cannot fill the disk.

A download is the run as one zip (:func:`workbench.server.public.run_archive`: no checkpoints, no hidden files)
and its top-level files (config, metrics, model card, plot) to read without unzipping. A version of a run is its
folder and the size and modification time of every file the zip holds: the first click on a version builds it
into a folder of its own, later clicks (and pages showing the finished run) get the same files. A run's new
version replaces its old one, and past ``max_bytes`` the least recently used versions are removed.

The cache lies in Gradio's own cache folder, from which Gradio serves a file where it is (a file returned from
anywhere else is copied there first, one more copy per content), under random folder names: nobody can fetch
another's run by guessing a path. Each process keeps its own folder there and removes those of dead processes.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from workbench.server.public import archive_members, run_archive
from workbench.workspace.runs import process_alive

MAX_CACHE_BYTES = 2 * 2**30  # a full run of the embedded model is about 0.6 GB; LoRA runs are a few MB
FOLDER = "workbench-downloads"


@dataclass
class _Entry:
    version: str
    folder: Path
    files: list[Path]
    size: int


class DownloadCache:
    """One folder of built downloads, at most one version per run, at most ``max_bytes`` in all (the newest kept)."""

    def __init__(self, root: str | Path | None = None, max_bytes: int = MAX_CACHE_BYTES):
        self._root = Path(root) if root is not None else None
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Path, _Entry] = OrderedDict()  # run folder -> its cached version, oldest use first
        self._lock = threading.Lock()
        self._building: dict[Path, threading.Lock] = {}

    @property
    def root(self) -> Path:
        """This process's folder, made on first use (in Gradio's cache folder unless one was given)."""
        with self._lock:
            if self._root is None:
                from gradio.utils import get_upload_folder  # noqa: PLC0415  (the app's own cache; only the app uses it)

                base = Path(get_upload_folder()) / FOLDER
                _remove_dead_processes(base)
                self._root = base / f"{os.getpid()}-{secrets.token_hex(8)}"
            self._root.mkdir(parents=True, exist_ok=True)
            return self._root

    def run_download(self, run_dir: str | Path) -> list[Path]:
        """The zip of ``run_dir`` and its top-level files, built if this version of the run is not cached yet."""
        run_dir = Path(run_dir).resolve()
        with self._lock:
            building = self._building.setdefault(run_dir, threading.Lock())
        with building:  # two clicks on one run build it once
            version = _version(run_dir)
            with self._lock:
                entry = self._entries.get(run_dir)
                if entry is not None and entry.version == version and entry.folder.is_dir():
                    self._entries.move_to_end(run_dir)
                    return list(entry.files)
            fresh = self._build(run_dir, version)
            with self._lock:
                old = self._entries.pop(run_dir, None)
                self._entries[run_dir] = fresh
                gone = [old] if old is not None else []
                total = sum(e.size for e in self._entries.values())
                while total > self.max_bytes and len(self._entries) > 1:
                    _, evicted = self._entries.popitem(last=False)
                    total -= evicted.size
                    gone.append(evicted)
            for entry in gone:
                shutil.rmtree(entry.folder, ignore_errors=True)
            return list(fresh.files)

    def _build(self, run_dir: Path, version: str) -> _Entry:
        folder = self.root / secrets.token_hex(16)
        folder.mkdir()
        files = [run_archive(run_dir, folder)]
        for path in sorted(run_dir.iterdir()):
            if path.is_file() and not path.is_symlink() and not path.name.startswith("."):
                files.append(Path(shutil.copy2(path, folder / path.name)))
        return _Entry(version, folder, files, sum(p.stat().st_size for p in files))

    def size(self) -> int:
        """Bytes the cached downloads take."""
        with self._lock:
            return sum(e.size for e in self._entries.values())


def _version(run_dir: Path) -> str:
    """What changes when any file the download holds changes: each one's path, size and modification time."""
    digest = hashlib.sha256()
    for path in archive_members(run_dir):
        stat = path.stat()
        digest.update(f"{path.relative_to(run_dir)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _remove_dead_processes(base: Path) -> None:
    """Remove the folders of processes that are gone (a server restarted): nobody will hand their files out."""
    for folder in base.glob("*-*"):
        pid = folder.name.partition("-")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


CACHE = DownloadCache()


def run_download(run_dir: str | Path) -> list[str]:
    """The files of a run's download, as paths for a ``gr.File`` (the Runs and Train tabs' downloads).

    Example:
        >>> run_download("runs/sft-json")  # [".../sft-json.zip", ".../metrics.jsonl", ".../README.md", ...]
    """
    if not Path(run_dir).is_dir():
        return []
    return [str(p) for p in CACHE.run_download(run_dir)]
