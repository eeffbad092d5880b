"""Writing the sample's files so that a reader never sees half of one.

Why a module of its own: both the archive's assembly (``__init__``: staging folder, ``sample_info.json``)
and the clip writer (:mod:`.encoding`) write through a temporary name and a rename, and remove what an
interrupted run left behind. Standard library only.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary name in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(path, lambda p: Path(p).write_bytes(data))
