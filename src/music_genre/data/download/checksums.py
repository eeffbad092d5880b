"""SHA-1 of an archive and the ``<archive>.verified`` stamp that spares hashing it again.

Why a module of its own: a verified archive is never fetched or hashed twice, and both the transfer
(:mod:`.transfer`, which writes the stamp) and the extraction (:mod:`.extraction`, which reads the
archive's identity from it) rely on the same stamp format and the same atomic JSON writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

VERIFIED_SUFFIX = ".verified"
_HASH_BLOCK = 1 << 22


def sha1_of(path: str | os.PathLike, block_size: int = _HASH_BLOCK) -> str:
    """SHA-1 of a file, read in blocks (archives do not fit in memory)."""
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        while block := fh.read(block_size):
            digest.update(block)
    return digest.hexdigest()


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    """Write through a temporary file and rename, so a crash never leaves half a stamp."""
    tmp = _sidecar(path, ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def read_verified_stamp(dest: str | os.PathLike) -> dict | None:
    """The archive's stamp if it still describes the file next to it (same size), else None.

    The size check catches an archive replaced or truncated after it was verified, without re-hashing.
    """
    dest = Path(dest)
    stamp = _read_json(_sidecar(dest, VERIFIED_SUFFIX))
    if not stamp or not dest.is_file():
        return None
    if stamp.get("size") != dest.stat().st_size or not stamp.get("sha1"):
        return None
    return stamp


def is_verified(dest: str | os.PathLike, sha1: str | None = None) -> bool:
    """True when ``dest`` carries a valid stamp (and, if given, the stamp's SHA-1 is ``sha1``)."""
    stamp = read_verified_stamp(dest)
    if stamp is None:
        return False
    return sha1 is None or stamp["sha1"].lower() == sha1.lower()


def _write_verified_stamp(dest: Path, sha1: str, size: int, url: str | None) -> None:
    _write_json_atomic(
        _sidecar(dest, VERIFIED_SUFFIX),
        {
            "sha1": sha1,
            "size": size,
            "url": url,
            "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
