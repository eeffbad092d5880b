"""Safe, resumable extraction of a downloaded zip: no member outside the destination, stamped when done.

Why a module of its own: unzipping has its own failure modes and guarantees (zip-slip and symbolic links
refused, a temporary folder renamed into place so an interrupted run never looks complete, and the
``<dest_root>/.<archive>.extracted`` stamp that skips a finished extraction), apart from the transfer.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path, PurePosixPath

from .checksums import (
    VERIFIED_SUFFIX,
    _read_json,
    _sidecar,
    _write_json_atomic,
    read_verified_stamp,
    sha1_of,
)
from .errors import DownloadError, _short

log = logging.getLogger(__name__)


def _extracted_stamp(archive: Path, dest_root: Path) -> Path:
    return dest_root / f".{archive.name}.extracted"


def read_extracted_stamp(archive: str | os.PathLike, dest_root: str | os.PathLike) -> dict | None:
    """The extraction stamp of ``archive`` under ``dest_root`` if its folders are all still there."""
    archive, dest_root = Path(archive), Path(dest_root)
    stamp = _read_json(_extracted_stamp(archive, dest_root))
    if not stamp or not stamp.get("sha1"):
        return None
    if not all((dest_root / name).exists() for name in stamp.get("top_level", [])):
        return None
    return stamp


def _archive_identity(archive: Path) -> str:
    """The archive's SHA-1: from its verified stamp when there is one, else hashed once."""
    stamp = read_verified_stamp(archive)
    return stamp["sha1"].lower() if stamp else sha1_of(archive)


def _safe_members(zf, archive: Path) -> list:
    """Every member, after checking none would land outside the destination (zip-slip)."""
    members = zf.infolist()
    for info in members:
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if (
            not name
            or name.startswith("/")
            or (len(name) > 1 and name[1] == ":")
            or ".." in parts
            or (info.external_attr >> 16) & 0o170000 == 0o120000  # a symbolic link
        ):
            raise DownloadError(
                f"{archive.name}: refusing to extract unsafe member {info.filename!r} "
                f"(it would land outside the destination); the archive is not a genuine FMA archive"
            )
    return members


def extract_zip(
    archive: str | os.PathLike,
    dest_root: str | os.PathLike,
    *,
    progress: bool = True,
) -> list[str]:
    """Unzip ``archive`` into ``dest_root`` and return its top-level folder names (``["fma_small"]``).

    Skipped when ``dest_root`` holds a stamp saying this exact archive (same SHA-1) was already
    extracted and its folders are still there. Members go to a temporary folder inside ``dest_root``
    first; each top-level folder is then renamed into place (merged file by file if it already exists),
    so an interrupted extraction never leaves a half-filled folder that looks complete.
    """
    import zipfile
    import zlib

    from tqdm.auto import tqdm

    archive, dest_root = Path(archive), Path(dest_root)
    if not archive.is_file():
        raise DownloadError(f"{archive}: archive not found; run the download again")
    identity = _archive_identity(archive)
    stamp = read_extracted_stamp(archive, dest_root)
    if stamp and stamp["sha1"] == identity:
        log.info("%s is already extracted into %s; skipping", archive.name, dest_root)
        return [name for name in stamp["top_level"] if (dest_root / name).is_dir()]

    dest_root.mkdir(parents=True, exist_ok=True)
    tmp = dest_root / f".extracting-{archive.stem}"
    if tmp.exists():
        shutil.rmtree(tmp)  # left by an interrupted run
    bad_zip = (
        f"{archive.name} is not a readable zip archive ({{reason}}): delete {archive} and "
        f"{_sidecar(archive, VERIFIED_SUFFIX).name} and run the download again"
    )
    started = time.monotonic()
    try:
        with zipfile.ZipFile(archive) as zf:
            members = _safe_members(zf, archive)
            tmp.mkdir()
            for info in tqdm(
                members,
                desc=f"unzip {archive.name}",
                unit="file",
                disable=not progress,
                mininterval=0.5,
            ):
                zf.extract(info, tmp)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DownloadError(bad_zip.format(reason=_short(exc))) from None
    except DownloadError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DownloadError(
            f"cannot extract {archive.name} into {dest_root}: {exc} (disk full?)"
        ) from None

    top_level = sorted(p.name for p in tmp.iterdir())
    for name in top_level:
        _move_into_place(tmp / name, dest_root / name)
    shutil.rmtree(tmp, ignore_errors=True)

    _write_json_atomic(
        _extracted_stamp(archive, dest_root),
        {
            "archive": archive.name,
            "sha1": identity,
            "size": archive.stat().st_size,
            "top_level": top_level,
            "files": len(members),
        },
    )
    log.info(
        "Extracted %s (%d entries) into %s in %.1f s: %s",
        archive.name,
        len(members),
        dest_root,
        time.monotonic() - started,
        ", ".join(top_level),
    )
    return [name for name in top_level if (dest_root / name).is_dir()]


def _move_into_place(src: Path, target: Path) -> None:
    """Rename ``src`` to ``target``; if ``target`` is an existing folder, merge into it (files overwrite)."""
    if not target.exists():
        os.replace(src, target)
        return
    if src.is_dir() and target.is_dir():
        log.info("%s already exists: merging the archive's files into it", target)
        for path in sorted(src.rglob("*")):
            dest = target / path.relative_to(src)
            if path.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, dest)
        return
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    os.replace(src, target)
