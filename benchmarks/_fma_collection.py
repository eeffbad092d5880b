"""FMA-shaped collections of any size, built in seconds: the sample's metadata, audio linked from real clips.

Used by ``benchmarks/scale.py --fma-tracks`` / ``--fma-large`` (and its test). No synthesis: the metadata
comes from the built-in sample's builder (:mod:`music_genre.sample.metadata`, seeded, FMA's exact formats),
and every clip is a hard link to one of a few real clips, each transcoded once into a cache folder as FMA's
audio is (44.1 kHz stereo MP3, 256 kb/s, 30 s): the 40 GTZAN clips and the real fma_small clip of
``../shared/data``. Where a hard link is impossible (another device, a link-count limit), a symbolic link,
then a copy.

- :func:`build_fma_small`: ``n_tracks`` single-genre tracks in the sample's 8 genres (fma_small's), all of
  subset ``small`` (so ``kedro run --env=fma_small`` uses every one), 60% of each genre's tracks linked in
  turn to that genre's own share of the clips and the rest to any clip (so a model learns the genres about
  as well as on FMA, about 65% right, and is registered, as on real data), the sample's
  multi-genre tracks kept in tracks.csv as ``large`` (no audio, as in fma_small), and the sample's four
  planted faults (a missing, an empty, a truncated and a too-short clip) that ingestion must catch, as on
  the real fma_small.
- :func:`build_fma_large`: an fma_large-size tracks.csv (106,574 rows; 49,598 with a genre_top, 8,000 small
  and 17,000 medium among them, as FMA's), tiled from the sample builder's rows in all 16 top-level genres
  under fresh track ids, with an audio file linked for every row.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

FMA_RATE = 44100
FMA_KBPS = 256
# fma_large's shape (docs: ../shared/docs/fma-format.md)
LARGE_ROWS = 106_574
LARGE_WITH_TOP = 49_598
LARGE_SMALL = 8_000
LARGE_MEDIUM = 17_000  # medium-only tracks (25,000 in medium, small included)
MAX_TRACK_ID = 155_320


# ----------------------------------------------------------------------------------------------- clips
def source_clips(cache: Path, shared: Path = SHARED_DATA, limit: int | None = None) -> list[Path]:
    """The real clips as FMA-format MP3s in ``cache``: each GTZAN WAV transcoded once (kept for the next
    build), the fma_small MP3 copied as it is. ``limit`` takes the first few (one per GTZAN genre in turn)."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    fma_clips = sorted((shared / "fma_excerpt" / "fma_small").rglob("*.mp3"))
    wavs = sorted((shared / "gtzan_subset").glob("*/*.wav"))
    by_genre: dict[str, list[Path]] = {}
    for wav in wavs:
        by_genre.setdefault(wav.parent.name, []).append(wav)
    interleaved = [
        files[i] for i in range(max(map(len, by_genre.values()), default=0))
        for files in by_genre.values() if i < len(files)
    ]  # fmt: skip
    sources = [*fma_clips, *interleaved][:limit]
    if not sources:
        raise FileNotFoundError(f"no real clips under {shared} (gtzan_subset/, fma_excerpt/)")
    out = []
    for source in sources:
        target = cache / f"{source.stem}.mp3"
        if not target.is_file():
            if source.suffix.lower() == ".mp3":
                _write_atomic(target, source.read_bytes())
            else:
                _write_atomic(target, transcode_to_fma(source))
        out.append(target)
    return out


def transcode_to_fma(path: Path, seconds: float | None = None) -> bytes:
    """An audio file as FMA's clips are: 44.1 kHz stereo constant-bit-rate MP3 (the sample's encoder)."""
    import numpy as np
    import soundfile as sf
    import soxr

    from music_genre.sample.encoding import encode_mp3

    signal, rate = sf.read(str(path), dtype="float32", always_2d=True)
    if seconds is not None:
        signal = signal[: int(seconds * rate)]
    mono = signal.mean(axis=1)
    if rate != FMA_RATE:
        mono = soxr.resample(mono, rate, FMA_RATE, quality="HQ")
    return encode_mp3(np.column_stack([mono, mono]), FMA_RATE, FMA_KBPS)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def link_file(source: Path, target: Path) -> str:
    """``target`` as a hard link to ``source`` ("hard"); across devices or past a link-count limit a
    symbolic link ("symbolic"), and where neither works a copy ("copy")."""
    try:
        os.link(source, target)
        return "hard"
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM, errno.EACCES, errno.ENOTSUP):
            raise
    try:
        os.symlink(Path(source).resolve(), target)
        return "symbolic"
    except OSError:
        shutil.copyfile(source, target)
        return "copy"


def _link_audio(audio_root: Path, sources: dict[int, Path]) -> dict[str, int]:
    """Every track's ``NNN/NNNNNN.mp3`` linked to its source clip; how many links of each kind."""
    from music_genre.data import fma

    kinds = {"hard": 0, "symbolic": 0, "copy": 0}
    folders: set[Path] = set()
    for track_id, source in sources.items():
        target = audio_root / fma.audio_relpath(track_id)
        if target.parent not in folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.add(target.parent)
        kinds[link_file(source, target)] += 1
    return kinds


# ----------------------------------------------------------------------------------------- fma_small
def build_fma_small(
    root: Path,
    n_tracks: int,
    clips: list[Path],
    *,
    seed: int = 42,
    plant_faults: bool = True,
    fault_cache: Path | None = None,
    genre_share: float = 0.6,
) -> dict:
    """An fma_small-shaped collection under ``root``: ``fma_metadata/{tracks,genres}.csv`` and
    ``fma_small/NNN/NNNNNN.mp3``, ``n_tracks`` rounded up to a multiple of the 8 genres."""
    import numpy as np

    from music_genre.data import fma
    from music_genre.sample import DEFAULT_GENRES, _normalise_params
    from music_genre.sample.faults import _TRUNCATE_AT, _short_seconds, _truncate_mid_frame
    from music_genre.sample.metadata import _build_metadata, _genres_table

    started = time.perf_counter()
    root = Path(root)
    per_genre = math.ceil(n_tracks / len(DEFAULT_GENRES))
    params = _normalise_params(seed=seed, tracks_per_genre=per_genre, plant_faults=plant_faults)
    tracks, faults, _mixes = _build_metadata(params)
    single = tracks[("track", "genre_top")].notna()
    # fma_small is single-genre tracks only: every one here is in it; the multi-genre rows stay large.
    tracks[("set", "subset")] = ["small" if s else "large" for s in single]
    fma.write_tracks(tracks, root / "fma_metadata" / "tracks.csv")
    fma.write_genres(_genres_table(tracks, params["genres"]), root / "fma_metadata" / "genres.csv")
    metadata_s = time.perf_counter() - started

    audio_root = root / "fma_small"
    kind_of = {int(t): kind for kind, ids in faults.items() for t in ids}
    # Each genre has its own few clips, taken in turn, for a ``genre_share`` of its tracks; the others
    # take any clip in turn. The audio then tells the genres apart about as well as FMA's does (a model
    # scores about genre_share + (1 - genre_share) / 8), so training meets real data's difficulty (not
    # separable, not noise) and the run registers and publishes a model as a real one does.
    genres = params["genres"]
    pools = {g: clips[i :: len(genres)] or [clips[i % len(clips)]] for i, g in enumerate(genres)}
    taken = dict.fromkeys(genres, 0)
    rng = np.random.default_rng([seed, 13])
    sources, shared = {}, 0
    for track_id, genre in tracks.loc[single, ("track", "genre_top")].items():
        if int(track_id) in kind_of:
            continue
        if rng.random() < genre_share:
            pool = pools[genre]
            sources[int(track_id)] = pool[taken[genre] % len(pool)]
            taken[genre] += 1
        else:
            sources[int(track_id)] = clips[shared % len(clips)]
            shared += 1
    links = _link_audio(audio_root, sources)
    if kind_of:  # the planted faults, written as the sample writes them (from the first clip)
        cache = Path(fault_cache or clips[0].parent)
        short = cache / "fault_too_short.mp3"
        if not short.is_file():
            _write_atomic(short, transcode_to_fma(clips[0], _short_seconds(params["clip_seconds"])))
        faulty = {
            "empty_file": b"",
            "truncated": _truncate_mid_frame(clips[0].read_bytes(), _TRUNCATE_AT),
            "too_short": short.read_bytes(),
        }
        for track_id, kind in kind_of.items():
            if kind in faulty:
                target = audio_root / fma.audio_relpath(track_id)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(faulty[kind])
    summary = {
        "root": str(root),
        "tracks_csv_rows": int(len(tracks)),
        "small_tracks": int(single.sum()),
        "audio_files": int(
            sum(links.values()) + sum(k != "missing_file" for k in kind_of.values())
        ),
        "links": links,
        "faults": {kind: [int(t) for t in ids] for kind, ids in faults.items()},
        "clips": len(clips),
        "genre_share": genre_share,
        "metadata_s": round(metadata_s, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }
    (root / "collection_info.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# ----------------------------------------------------------------------------------------- fma_large
def build_fma_large(
    root: Path, clips: list[Path] | None, *, rows: int = LARGE_ROWS, seed: int = 42
) -> dict:
    """An fma_large-size ``fma_metadata/tracks.csv`` (and genres.csv) under ``root``, with every row's
    ``fma_large/NNN/NNNNNN.mp3`` linked to ``clips`` (none when ``clips`` is None: metadata only)."""
    import numpy as np
    import pandas as pd

    from music_genre.data import fma
    from music_genre.sample import _normalise_params
    from music_genre.sample.metadata import _build_metadata, _genres_table

    started = time.perf_counter()
    root = Path(root)
    genres = list(fma.TOP_LEVEL_GENRES.values())
    params = _normalise_params(seed=seed, genres=genres, tracks_per_genre=250, plant_faults=False)
    base, _faults, _mixes = _build_metadata(params)
    has_top = base[("track", "genre_top")].notna().to_numpy()
    with_top = round(rows * LARGE_WITH_TOP / LARGE_ROWS)
    n_small = round(rows * LARGE_SMALL / LARGE_ROWS)
    n_medium = round(rows * LARGE_MEDIUM / LARGE_ROWS)
    single, multi = base[has_top], base[~has_top]
    table = pd.concat(
        [
            single.iloc[np.resize(np.arange(len(single)), with_top)],
            multi.iloc[np.resize(np.arange(len(multi)), rows - with_top)],
        ]
    )
    rng = np.random.default_rng([seed, 11])
    table = table.iloc[rng.permutation(len(table))]
    ids = np.sort(rng.choice(np.arange(2, MAX_TRACK_ID + 1), size=rows, replace=False))
    table.index = pd.Index(ids, name="track_id")
    top_rank = np.cumsum(table[("track", "genre_top")].notna().to_numpy()) - 1
    top = table[("track", "genre_top")].notna().to_numpy()
    table[("set", "subset")] = np.where(
        top & (top_rank < n_small),
        "small",
        np.where(top & (top_rank < n_small + n_medium), "medium", "large"),
    )
    table = table.sort_index()
    fma.write_tracks(table, root / "fma_metadata" / "tracks.csv")
    fma.write_genres(_genres_table(table, genres), root / "fma_metadata" / "genres.csv")
    metadata_s = time.perf_counter() - started
    sources = {int(t): clips[i % len(clips)] for i, t in enumerate(table.index)} if clips else {}
    links = _link_audio(root / "fma_large", sources)
    subsets = table[("set", "subset")].value_counts()
    summary = {
        "root": str(root),
        "tracks_csv_rows": int(len(table)),
        "tracks_csv_mib": round((root / "fma_metadata" / "tracks.csv").stat().st_size / 2**20, 1),
        "with_genre_top": int(top.sum()),
        "subsets": {s: int(subsets.get(s, 0)) for s in fma.SUBSETS},
        "links": links,
        "clips": len(clips or []),
        "metadata_s": round(metadata_s, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }
    (root / "collection_info.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
