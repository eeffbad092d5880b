"""What a served request may read: audio sent in the request, or a path under the configured roots.

The served model (``mlflow models serve`` of ``music_genre_pipeline``) takes rows with a ``path`` or a
``content`` column (base64 bytes of an audio file, with an optional ``filename``). A path is read only when
it lies under one of ``serving.allowed_roots`` after resolving it (symlinks followed, so a link that
points outside is refused, and no ``..`` part is accepted); with no roots configured (the default) no path
is read at all and the row answers ``forbidden_path``. Content is refused above ``serving.max_mb``, written
to a private temporary folder only for the time of scoring, then deleted. No Kedro, no MLflow in here.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

FORBIDDEN_PATH = "forbidden_path"
TOO_LARGE = "too_large"
BAD_CONTENT = "bad_content"
ROOTS_ENV = "MUSIC_GENRE_ALLOWED_ROOTS"  # os.pathsep-separated; set where the server runs
MAX_MB_ENV = "MUSIC_GENRE_MAX_UPLOAD_MB"  # overrides serving.max_mb where the server runs
DEFAULT_MAX_MB = 25.0

# The first bytes of the formats we decode, to name an upload's file so the decoder picks its reader.
_SIGNATURES = (
    (b"ID3", ".mp3"),
    (b"\xff\xfb", ".mp3"),
    (b"\xff\xf3", ".mp3"),
    (b"\xff\xf2", ".mp3"),
    (b"RIFF", ".wav"),
    (b"OggS", ".ogg"),
    (b"fLaC", ".flac"),
    (b".snd", ".au"),
)


@dataclass
class Refusal:
    """A row the server will not score, and why (the same shape as a file that failed)."""

    reason: str
    message: str


def allowed_roots(serving: Mapping | None) -> list[Path]:
    """``serving.allowed_roots`` plus ``$MUSIC_GENRE_ALLOWED_ROOTS``, resolved; empty = no path is read."""
    roots = list((serving or {}).get("allowed_roots") or [])
    roots += [r for r in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if r]
    return [Path(r).expanduser().resolve() for r in roots]


def check_path(raw: str, roots: Iterable[Path]) -> Path | Refusal:
    """The resolved path when it is under a root, else why not. Touches the file system only to resolve
    the path (following symlinks), never to open it."""
    roots = list(roots)
    if not roots:
        return Refusal(
            FORBIDDEN_PATH, "this server reads no paths (serving.allowed_roots is empty)"
        )
    path = Path(raw)
    if not path.is_absolute() or ".." in path.parts:
        return Refusal(FORBIDDEN_PATH, "only absolute paths without '..' under the allowed roots")
    resolved = path.resolve(strict=False)
    if any(resolved == root or root in resolved.parents for root in roots):
        return resolved
    return Refusal(FORBIDDEN_PATH, "outside the folders this server may read")


def max_bytes(serving: Mapping | None) -> int:
    megabytes = os.environ.get(MAX_MB_ENV) or (serving or {}).get("max_mb", DEFAULT_MAX_MB)
    return int(float(megabytes) * 1024 * 1024)


def decode_content(encoded: str, limit: int) -> bytes | Refusal:
    """Base64 text to bytes, refusing what is over ``limit`` before decoding it."""
    if len(encoded) * 3 // 4 > limit:
        return Refusal(TOO_LARGE, f"over the {limit / 1024 / 1024:.0f} MB limit")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return Refusal(BAD_CONTENT, "content is not base64")
    if not data:
        return Refusal(BAD_CONTENT, "empty content")
    return data


def suffix_for(data: bytes, filename: str | None) -> str:
    """The file suffix to write an upload under: its own name's, else sniffed from its first bytes."""
    if filename and Path(filename).suffix:
        return Path(filename).suffix.lower()
    for signature, suffix in _SIGNATURES:
        if data.startswith(signature):
            return suffix
    return ".bin"


class PrivateUploads:
    """A private temporary folder (mode 0700) for the uploads of one request, deleted afterwards."""

    def __enter__(self) -> PrivateUploads:
        self.folder = Path(tempfile.mkdtemp(prefix="music-genre-upload-"))
        self._count = 0
        return self

    def write(self, data: bytes, suffix: str) -> Path:
        self._count += 1
        path = self.folder / f"upload{self._count:04d}{suffix}"
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
            handle.write(data)
        return path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
