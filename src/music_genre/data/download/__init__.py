"""Fetch the FMA archives: resumable, checksummed downloads and safe extraction.

Plain code, no Kedro: ``music_genre.pipelines.download`` is a thin wrapper around :func:`fetch_archives`.
This module holds the catalogue of FMA's archives and the whole job; the steps live in ``transfer``
(HTTP with resume and retries), ``checksums`` (SHA-1 and the ``.verified`` stamp), ``extraction``
(safe unzip) and ``errors`` (:class:`DownloadError`). Imports only :mod:`music_genre.common`.

The archives are large (fma_small 7.2 GiB, fma_large 93 GiB) and the mirror is slow, so every step is
built to be re-run cheaply:

* a download streams into ``<archive>.part`` and a later attempt (same run or the next one) resumes it
  with an HTTP ``Range`` request;
* a complete archive is checked against its published SHA-1, then renamed into place and stamped
  (``<archive>.verified``: sha1 and size), so it is never fetched or hashed again;
* extraction goes through a temporary folder inside the destination and is stamped too
  (``<dest_root>/.<archive>.extracted``), so a finished extraction is skipped on the next run.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .checksums import VERIFIED_SUFFIX, _sidecar, is_verified, read_verified_stamp, sha1_of
from .errors import DownloadError
from .extraction import extract_zip, read_extracted_stamp
from .transfer import DEFAULT_CHUNK_SIZE, PART_SUFFIX, download_file

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "FMA_ARCHIVES",
    "FMA_BASE_URL",
    "PART_SUFFIX",
    "VERIFIED_SUFFIX",
    "DownloadError",
    "archive_url",
    "download_file",
    "extract_zip",
    "fetch_archives",
    "is_verified",
    "read_extracted_stamp",
    "read_verified_stamp",
    "sha1_of",
]

log = logging.getLogger(__name__)

FMA_BASE_URL = "https://os.unil.cloud.switch.ch/fma/"

# Published SHA-1 of each archive (mdeff/fma README).
FMA_ARCHIVES: dict[str, str] = {
    "fma_metadata": "f0df49ffe5f2a6008d7dc83c6915b31835dfe733",
    "fma_small": "ade154f733639d52e35e32f5593efe5be76c6d70",
    "fma_medium": "c67b69ea232021025fca9231fc1c7c1a063ab50b",
    "fma_large": "497109f4dd721066b5ce5e5f250ec604dc78939e",
    "fma_full": "0f0ace23fbe9ba30ecb7e95f763e435ea802b8ab",
}


def archive_url(base_url: str, name: str) -> str:
    """``<base_url>/<name>.zip`` with exactly one slash between them."""
    return f"{base_url.rstrip('/')}/{name}.zip"


def fetch_archives(
    base_url: str,
    names: Iterable[str],
    dest_root: str | os.PathLike,
    archive_dir: str | os.PathLike | None = None,
    checksums: Mapping[str, str | None] | None = None,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    timeout_s: float = 60.0,
    retries: int = 5,
    backoff_s: float = 1.0,
    keep_archives: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Download, verify and unzip each archive (``["fma_metadata", "fma_small"]``) into ``dest_root``.

    Archives go to ``archive_dir`` (default ``<dest_root>/archives``). ``checksums`` overrides
    :data:`FMA_ARCHIVES` per name. An archive already extracted from the expected SHA-1 is neither
    fetched nor unzipped again, even when ``keep_archives=False`` deleted it. Returns a JSON-ready report.
    """
    started = time.monotonic()
    dest_root = Path(dest_root).expanduser().resolve()
    archive_dir = (
        Path(archive_dir).expanduser().resolve() if archive_dir else dest_root / "archives"
    )
    table = {**FMA_ARCHIVES, **(dict(checksums) if checksums else {})}
    names = list(names)
    unknown = [name for name in names if name not in table]
    if unknown:
        raise DownloadError(
            f"no SHA-1 known for {', '.join(unknown)}: add it under download.checksums "
            f"(known: {', '.join(sorted(table))})"
        )

    report: dict[str, Any] = {
        "base_url": base_url,
        "dest_root": str(dest_root),
        "archive_dir": str(archive_dir),
        "archives": {},
    }
    for name in names:
        t0 = time.monotonic()
        expected = table[name].lower() if table[name] else None
        url = archive_url(base_url, name)
        path = archive_dir / f"{name}.zip"
        entry: dict[str, Any] = {"url": url, "path": str(path), "expected_sha1": expected}

        extracted = read_extracted_stamp(path, dest_root)
        if (
            extracted
            and (expected is None or extracted["sha1"] == expected)
            and not is_verified(path, expected)
        ):
            # Unzipped earlier from the right archive, which was since deleted (keep_archives: false).
            log.info(
                "%s was already extracted into %s from the expected archive; nothing to fetch",
                name,
                dest_root,
            )
            entry.update(
                download="cached",
                extraction="already_extracted",
                sha1=extracted["sha1"],
                bytes=extracted.get("size"),
                archive_kept=path.is_file(),
                folders=[n for n in extracted["top_level"] if (dest_root / n).is_dir()],
            )
        else:
            was_verified = is_verified(path, expected)
            download_file(
                url,
                path,
                expected,
                chunk_size=chunk_size,
                timeout_s=timeout_s,
                retries=retries,
                progress=progress,
                backoff_s=backoff_s,
            )
            stamp = read_verified_stamp(path) or {}
            already = read_extracted_stamp(path, dest_root)
            folders = extract_zip(path, dest_root, progress=progress)
            entry.update(
                download="cached" if was_verified else "downloaded",
                extraction="already_extracted"
                if already and already["sha1"] == stamp.get("sha1")
                else "extracted",
                sha1=stamp.get("sha1"),
                bytes=stamp.get("size"),
                folders=folders,
            )
            if not keep_archives:
                path.unlink(missing_ok=True)
                _sidecar(path, VERIFIED_SUFFIX).unlink(missing_ok=True)
                log.info("Deleted %s (download.keep_archives is false)", path)
            entry["archive_kept"] = path.is_file()
        entry["seconds"] = round(time.monotonic() - t0, 3)
        report["archives"][name] = entry
        log.info(
            "%s: %s, %s (%.1f s)",
            name,
            entry["download"],
            entry["extraction"].replace("_", " "),
            entry["seconds"],
        )
    report["seconds"] = round(time.monotonic() - started, 3)
    return report
