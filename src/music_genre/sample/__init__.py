"""The built-in FMA-shaped sample: a small synthetic archive that the project can make for itself.

Why: the real FMA archives are gigabytes away and not reachable from every machine, yet ingestion, features,
training and serving all need an archive with FMA's exact layout and quirks to run end to end. This
subpackage writes one from a seed: ``fma_metadata/tracks.csv`` and ``genres.csv`` in FMA's formats,
``fma_sample/NNN/NNNNNN.mp3`` clips (stereo MP3, 44.1 kHz), multi-genre tracks, and a few planted faults
(empty, truncated, too-short and missing files) that ingestion must catch. The same parameters give
byte-identical files.

It owns: this module (the public API: :func:`make_sample_archive`, :func:`ensure_sample_archive`,
:func:`sample_is_current`, :func:`read_sample_info`), ``metadata`` (tracks.csv, genres.csv), ``profiles``
(the genres as parameter distributions), ``synthesis`` and ``drums`` (the signal), ``encoding`` (MP3 and the
clip files), ``faults`` (the planted faults) and ``files`` (atomic writes). It may import only
:mod:`music_genre.common` and :mod:`music_genre.data`; plain numpy/pandas, no Kedro.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from music_genre.data import fma

from .encoding import _write_audio, encode_mp3
from .faults import FAULT_KINDS
from .files import _atomic_write, _remove
from .metadata import _GENRE_IDS, SUB_GENRES, _build_metadata, _genres_table, _summary
from .profiles import draw_track_parameters
from .synthesis import synthesize_clip

__all__ = [
    "AUDIO_DIR",
    "DEFAULT_GENRES",
    "FAULT_KINDS",
    "FORMAT_VERSION",
    "INFO_FILE",
    "METADATA_DIR",
    "SUB_GENRES",
    "draw_track_parameters",
    "encode_mp3",
    "ensure_sample_archive",
    "make_sample_archive",
    "read_sample_info",
    "sample_is_current",
    "synthesize_clip",
]

FORMAT_VERSION = 2  # 2: multi-genre tracks in every split (multi_genre_share)
DEFAULT_GENRES = (
    "Electronic",
    "Experimental",
    "Folk",
    "Hip-Hop",
    "Instrumental",
    "International",
    "Pop",
    "Rock",
)
METADATA_DIR = "fma_metadata"
AUDIO_DIR = "fma_sample"
INFO_FILE = "sample_info.json"


def make_sample_archive(
    root: str | os.PathLike,
    *,
    seed: int = 42,
    genres=DEFAULT_GENRES,
    tracks_per_genre: int = 25,
    clip_seconds: float = 30.0,
    sample_rate: int = 44100,
    bit_rate_kbps: int = 256,
    plant_faults: bool = True,
    multi_genre_share: float = 0.2,
) -> dict:
    """Write an FMA-shaped mini archive under ``root`` (replacing any sample there) and return its summary.

    Everything follows from the parameters: the same ones give byte-identical files. The archive is built
    in a staging folder and moved into place at the end; ``sample_info.json`` is written last, so an
    interrupted run never looks like a finished sample to :func:`sample_is_current`.
    """
    started = time.perf_counter()
    params = _normalise_params(
        seed=seed,
        genres=genres,
        tracks_per_genre=tracks_per_genre,
        clip_seconds=clip_seconds,
        sample_rate=sample_rate,
        bit_rate_kbps=bit_rate_kbps,
        plant_faults=plant_faults,
        multi_genre_share=multi_genre_share,
    )
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _remove(root / INFO_FILE)  # from here on the old sample no longer counts as current
    for stale in root.glob(".sample-build-*"):
        _remove(stale)
    staging = root / f".sample-build-{os.getpid()}"
    staging.mkdir()
    try:
        tracks, faults, mixes = _build_metadata(params)
        genres_table = _genres_table(tracks, params["genres"])
        _atomic_write(staging / METADATA_DIR / "tracks.csv", lambda p: fma.write_tracks(tracks, p))
        _atomic_write(
            staging / METADATA_DIR / "genres.csv", lambda p: fma.write_genres(genres_table, p)
        )
        files = _write_audio(staging / AUDIO_DIR, tracks, faults, mixes, params)
        for name in (METADATA_DIR, AUDIO_DIR):
            _remove(root / name)
            os.replace(staging / name, root / name)
    finally:
        _remove(staging)

    info = {
        "format_version": FORMAT_VERSION,
        "parameters": params,
        "summary": _summary(tracks, faults, files, mixes, params),
        "audio_files": files,
    }
    _atomic_write(
        root / INFO_FILE,
        lambda p: Path(p).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n"),
    )
    summary = dict(info["summary"])
    summary.update(
        root=str(root),
        format_version=FORMAT_VERSION,
        parameters=params,
        rebuilt=True,
        seconds=round(time.perf_counter() - started, 2),
    )
    return summary


def sample_is_current(root: str | os.PathLike, **params) -> bool:
    """True when ``root`` holds a finished sample made by this format version with these parameters.

    Omitted parameters take :func:`make_sample_archive`'s defaults. Also checks that every audio file the
    sample wrote is still there with its size, so a damaged sample is rebuilt rather than trusted.
    """
    wanted = _normalise_params(**params)
    root = Path(root)
    try:
        info = json.loads((root / INFO_FILE).read_text())
    except (OSError, ValueError):
        return False
    if info.get("format_version") != FORMAT_VERSION or info.get("parameters") != wanted:
        return False
    for name in ("tracks.csv", "genres.csv"):
        if not (root / METADATA_DIR / name).is_file():
            return False
    for relpath, size in info.get("audio_files", {}).items():
        path = root / AUDIO_DIR / relpath
        try:
            if path.stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def ensure_sample_archive(root: str | os.PathLike, **params) -> dict:
    """Make the sample unless an identical one is already there; the summary says whether it was rebuilt."""
    if sample_is_current(root, **params):
        info = json.loads((Path(root) / INFO_FILE).read_text())
        summary = dict(info["summary"])
        summary.update(
            root=str(root),
            format_version=FORMAT_VERSION,
            parameters=info["parameters"],
            rebuilt=False,
            seconds=0.0,
        )
        return summary
    return make_sample_archive(root, **params)


def read_sample_info(root: str | os.PathLike) -> dict | None:
    """The ``sample_info.json`` of a finished sample, or None."""
    try:
        return json.loads((Path(root) / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None


def _normalise_params(
    *,
    seed: int = 42,
    genres=DEFAULT_GENRES,
    tracks_per_genre: int = 25,
    clip_seconds: float = 30.0,
    sample_rate: int = 44100,
    bit_rate_kbps: int = 256,
    plant_faults: bool = True,
    multi_genre_share: float = 0.2,
) -> dict:
    """Validate the parameters and give them one JSON-stable form (so stored and requested ones compare)."""
    if isinstance(genres, str):
        genres = [genres]
    genres = [str(g) for g in genres]
    unknown = [g for g in genres if g not in _GENRE_IDS]
    if unknown:
        raise ValueError(
            f"unknown genre(s) {', '.join(unknown)}: use FMA top-level genres "
            f"({', '.join(fma.TOP_LEVEL_GENRES.values())})"
        )
    if not genres or len(set(genres)) != len(genres):
        raise ValueError("genres must be a non-empty list of distinct FMA top-level genres")
    if not 1 <= int(tracks_per_genre) <= 2000:
        raise ValueError("tracks_per_genre must lie between 1 and 2000")
    if not 1.0 <= float(clip_seconds) <= 600.0:
        raise ValueError("clip_seconds must lie between 1 and 600")
    if int(sample_rate) not in (32000, 44100, 48000):
        raise ValueError("sample_rate must be 32000, 44100 or 48000 (MPEG-1 layer III)")
    if int(bit_rate_kbps) not in (64, 80, 96, 112, 128, 160, 192, 224, 256, 320):
        raise ValueError("bit_rate_kbps must be a constant MP3 bit rate between 64 and 320")
    try:
        share = float(multi_genre_share)
    except (TypeError, ValueError):
        share = float("nan")
    if not 0.0 <= share <= 1.0:  # also refuses NaN
        raise ValueError(f"multi_genre_share must lie between 0 and 1, not {multi_genre_share!r}")
    return {
        "seed": int(seed),
        "genres": genres,
        "tracks_per_genre": int(tracks_per_genre),
        "clip_seconds": float(clip_seconds),
        "sample_rate": int(sample_rate),
        "bit_rate_kbps": int(bit_rate_kbps),
        "plant_faults": bool(plant_faults),
        "multi_genre_share": share,
    }
