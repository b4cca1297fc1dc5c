"""Crash-safe writes: a reader (the app, a notebook, a resumed run) sees the old file or folder or the new one, never
half.

Every file and folder the workbench writes for others to read goes through here: run files, evaluation
reports, saved weights, exports, the converted default model.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def staging_name(target: Path) -> str:
    """The name pattern of the temporary folder :func:`staged_dir` writes beside ``target`` (for cleaning up)."""
    return f".{target.name}.tmp-"


@contextmanager
def staged_dir(target: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``target``; when the block ends without error it replaces ``target``.

    On an error the temporary folder is removed (half a model is worse than none, and it fills the disk) and
    ``target`` is left as it was.

    Example:
        >>> with staged_dir("runs/x/adapter") as tmp:
        ...     model.save_pretrained(tmp)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{staging_name(target)}{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception it was raised from, is a full disk.

    Python says so with ``OSError(ENOSPC)``; the Rust writers behind safetensors and tokenizers raise their own
    exception types whose message carries the OS's words ("No space left on device (os error 28)").
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return True
        if os.strerror(errno.ENOSPC) in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False
