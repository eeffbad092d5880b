"""Thin node over :mod:`music_genre.data.download`: which archives this environment needs, and where."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from music_genre.data.download import DownloadError, fetch_archives

log = logging.getLogger(__name__)

FMA_SUBSETS = ("small", "medium", "large")
_USE_ENV = "use --env=fma_small|fma_medium|fma_large"


def archives_for_dataset(download: dict, dataset: dict) -> list[str]:
    """``["fma_metadata", "fma_<subset>"]`` (or ``download.archives``); one clear line when the
    environment has nothing to download (the built-in sample, a folder-per-genre collection)."""
    fmt = dataset.get("format")
    if fmt == "folder":
        raise DownloadError(
            f"dataset.format is 'folder' (GTZAN or your own collection at {dataset.get('root')}): "
            f"there is nothing to download; to fetch FMA, {_USE_ENV}"
        )
    if fmt != "fma":
        raise DownloadError(f"dataset.format is {fmt!r}: only 'fma' can be downloaded; {_USE_ENV}")
    if dataset.get("make_sample_if_missing"):
        raise DownloadError(
            f"this environment uses the built-in sample ({dataset.get('root')}), which needs no download; "
            f"to fetch the real FMA archives, {_USE_ENV}"
        )
    if download.get("archives"):
        return list(download["archives"])
    subset = dataset.get("subset")
    if subset not in FMA_SUBSETS:
        raise DownloadError(
            f"dataset.subset is {subset!r}: expected one of {', '.join(FMA_SUBSETS)}; {_USE_ENV}"
        )
    audio = f"fma_{subset}"
    audio_dir = dataset.get("audio_dir") or audio
    if audio_dir != audio:
        raise DownloadError(
            f"dataset.audio_dir is {audio_dir!r} but {audio}.zip unzips into {audio}/: set "
            f"dataset.audio_dir={audio}, or list the archives to fetch in download.archives"
        )
    return ["fma_metadata", audio]


def download_fma_archives(download: dict, dataset: dict) -> dict[str, Any]:
    """Download, verify and unzip this environment's FMA archives into ``dataset.root``; the report
    (per archive: url, path, bytes, sha1, downloaded/cached, extracted/already there, seconds)."""
    names = archives_for_dataset(download, dataset)
    root = Path(dataset["root"]).expanduser().resolve()
    archive_dir = download.get("archive_dir") or root / "archives"
    log.info("Fetching %s from %s into %s", ", ".join(names), download["base_url"], root)
    return fetch_archives(
        download["base_url"],
        names,
        root,
        archive_dir=archive_dir,
        checksums=download.get("checksums") or {},
        chunk_size=int(download["chunk_size"]),
        timeout_s=float(download["timeout_s"]),
        retries=int(download["retries"]),
        backoff_s=float(download["backoff_s"]),
        keep_archives=bool(download["keep_archives"]),
        progress=bool(download["progress"]),
    )
