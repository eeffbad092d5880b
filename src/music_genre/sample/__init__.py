"""The built-in FMA-shaped sample: a small synthetic archive that the project can make for itself.

Why: the real FMA archives are gigabytes away and not reachable from every machine, yet ingestion, features,
training and serving all need an archive with FMA's exact layout and quirks to run end to end. This module
writes one from a seed: ``fma_metadata/tracks.csv`` and ``genres.csv`` in FMA's formats (via
:mod:`music_genre.data.fma`), ``fma_sample/NNN/NNNNNN.mp3`` clips (stereo MP3, 44.1 kHz), multi-genre tracks,
and a few planted faults (empty, truncated, too-short and missing files) that ingestion must catch. Genres
are synthetic sound distributions (tempo, rhythm, timbre, harmony, noise) that overlap, so a classifier
learns them well above chance but not perfectly.

Multi-genre tracks (``multi_genre_share`` of the single-genre count) mix two genres' sounds and list both in
``genres`` / ``genres_all`` with an empty ``genre_top``, as on FMA: single-label runs exclude them, while a
multi-label classifier needs them to learn from and to be scored on, so they cycle through every pair of
genres and reach all three splits (about 70/15/15). Plain numpy/pandas, no Kedro.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from music_genre.data import fma

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
FAULT_KINDS = ("empty_file", "truncated", "too_short", "missing_file")
METADATA_DIR = "fma_metadata"
AUDIO_DIR = "fma_sample"
INFO_FILE = "sample_info.json"
_MAX_TRACK_ID = 155_000  # real FMA ids run from 2 to about 155,000
_TRUNCATE_AT = 0.4  # the truncated MP3 keeps this fraction of its bytes

# A few real FMA sub-genres (genre_id, parent, title, top_level), copied from FMA's genres.csv so the sample's
# genres / genres_all lists use real ids and real parent chains.
SUB_GENRES: tuple[tuple[int, int, str, int], ...] = (
    (1, 38, "Avant-Garde", 38),
    (11, 14, "Disco", 14),
    (18, 1235, "Soundtrack", 1235),
    (19, 14, "Funk", 14),
    (25, 12, "Punk", 12),
    (31, 12, "Metal", 12),
    (32, 38, "Noise", 38),
    (33, 17, "Psych-Folk", 17),
    (42, 15, "Ambient Electronic", 15),
    (46, 2, "Latin America", 2),
    (47, 38, "Drone", 38),
    (49, 17, "Free-Folk", 17),
    (58, 12, "Psych-Rock", 12),
    (63, 9, "Bluegrass", 9),
    (66, 12, "Indie-Rock", 12),
    (74, 4, "Free-Jazz", 4),
    (76, 10, "Experimental Pop", 10),
    (77, 2, "French", 2),
    (79, 2, "Reggae - Dub", 2),
    (100, 21, "Alternative Hip-Hop", 21),
    (103, 17, "Singer-Songwriter", 17),
    (107, 1235, "Ambient", 1235),
    (137, 9, "Americana", 9),
    (181, 15, "Techno", 15),
    (182, 15, "House", 15),
    (187, 5, "20th Century Classical", 5),
    (188, 20, "Poetry", 20),
    (236, 15, "IDM", 15),
    (250, 38, "Improv", 38),
    (267, 1235, "New Age", 1235),
    (286, 15, "Trip-Hop", 15),
    (311, 13, "Lounge", 13),
    (362, 10, "Synth Pop", 10),
    (378, 20, "Spoken Word", 20),
    (401, 181, "Bigbeat", 15),
    (442, 5, "Chamber Music", 5),
    (539, 21, "Rap", 21),
    (567, 3, "Gospel", 3),
    (811, 21, "Hip-Hop Beats", 21),
    (906, 4, "Modern Jazz", 4),
)

_GENRE_IDS = {title: genre_id for genre_id, title in fma.TOP_LEVEL_GENRES.items()}


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------


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


def encode_mp3(stereo: np.ndarray, sample_rate: int = 44100, bit_rate_kbps: int = 256) -> bytes:
    """Float stereo samples (n, 2) in [-1, 1] to constant-bit-rate MP3 bytes (no tags: deterministic)."""
    import lameenc  # noqa: PLC0415 - heavy import only when encoding

    pcm = np.clip(np.round(stereo * 32767.0), -32768, 32767).astype("<i2")
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(int(bit_rate_kbps))
    encoder.set_in_sample_rate(int(sample_rate))
    encoder.set_out_sample_rate(int(sample_rate))
    encoder.set_channels(int(pcm.shape[1]) if pcm.ndim == 2 else 1)
    encoder.set_quality(7)
    encoder.silence()
    data = bytes(encoder.encode(np.ascontiguousarray(pcm).tobytes()))
    return data + bytes(encoder.flush())


def _truncate_mid_frame(data: bytes, fraction: float) -> bytes:
    """Cut MP3 bytes at ``fraction`` of their length, nudged so the cut never falls on a frame boundary."""
    from music_genre.data.audio import _mpeg_frame_length  # noqa: PLC0415

    cut = int(len(data) * fraction)
    boundaries, pos = set(), 0
    while pos < len(data):
        length = _mpeg_frame_length(data, pos)
        if length <= 4:
            break
        boundaries.add(pos)
        pos += length
    while cut in boundaries or cut - 1 in boundaries or cut + 1 in boundaries:
        cut += 97
    return data[:cut]


def _write_audio(audio_root: Path, tracks: pd.DataFrame, faults: dict, mixes: dict, params: dict):
    """Synthesize and encode every clip (planting the faults); returns {relpath: size} of written files."""
    seconds = params["clip_seconds"]
    short_seconds = _short_seconds(seconds)
    kind_of = {tid: kind for kind, ids in faults.items() for tid in ids}
    files: dict[str, int] = {}
    from tqdm.auto import tqdm  # noqa: PLC0415

    # One bar in a terminal (tqdm stays silent when stderr is not one): the sample takes a minute.
    for track_id in tqdm(tracks.index, desc="Synthesizing the sample", unit="clip", disable=None):
        kind = kind_of.get(track_id)
        if kind == "missing_file":
            continue
        relpath = fma.audio_relpath(track_id)
        path = audio_root / relpath
        if kind == "empty_file":
            data = b""
        else:
            rng = np.random.default_rng([params["seed"], 7, int(track_id)])
            clip_len = short_seconds if kind == "too_short" else seconds
            stereo = synthesize_clip(mixes[track_id], rng, clip_len, params["sample_rate"])
            data = encode_mp3(stereo, params["sample_rate"], params["bit_rate_kbps"])
            if kind == "truncated":
                data = _truncate_mid_frame(data, _TRUNCATE_AT)
        _write_bytes(path, data)
        files[relpath] = len(data)
    return files


def _short_seconds(clip_seconds: float) -> float:
    return round(min(3.0, clip_seconds / 4.0), 3)


# --------------------------------------------------------------------------------------------------
# Metadata (tracks.csv, genres.csv)
# --------------------------------------------------------------------------------------------------

_NAME_WORDS = (
    "Amber Arc Atlas Aurora Basalt Bloom Cedar Cinder Cobalt Comet Coral Crane Delta Drift Dune Ember "
    "Fable Fern Flint Fox Glacier Harbor Hollow Indigo Iris Ivory Juniper Kestrel Lantern Linen Lotus "
    "Lumen Maple Marrow Meadow Mercury Mesa Mirror Moss Nectar Nova Oak Onyx Orbit Orchid Paper Pebble "
    "Pilot Prism Quartz Raven Reef River Rust Saffron Salt Signal Silver Slate Solstice Sparrow Static "
    "Stone Tide Timber Velvet Vessel Violet Willow Winter Wren Zephyr"
).split()
_TITLE_WORDS = (
    "after all alone around at before between blue broken city cold dance dark dawn days dream "
    "electric empty end fading fire for glass gold heart hidden home in last light lost midnight "
    "moon morning night no of on one open paper rain red river road run shadow silent sky slow "
    "song summer sun the through time under waiting water waves where white wild wind without"
).split()
_PLACES = (
    ("Brooklyn, NY", 40.6782, -73.9442),
    ("Chicago, IL", 41.8781, -87.6298),
    ("Portland, OR", 45.5051, -122.675),
    ("Austin, TX", 30.2672, -97.7431),
    ("Montreal, Quebec", 45.5017, -73.5673),
    ("London, UK", 51.5074, -0.1278),
    ("Berlin, Germany", 52.52, 13.405),
    ("Paris, France", 48.8566, 2.3522),
    ("Mexico City", 19.4326, -99.1332),
    ("São Paulo, Brazil", -23.5505, -46.6333),
    ("Lagos, Nigeria", 6.5244, 3.3792),
    ("Tokyo, Japan", 35.6762, 139.6503),
    ("Melbourne, Australia", -37.8136, 144.9631),
    ("Istanbul, Turkey", 41.0082, 28.9784),
    ("Philadelphia, PA", 39.9526, -75.1652),
    ("Lisbon, Portugal", 38.7223, -9.1393),
)
_LICENSES = (
    "Attribution-NonCommercial-ShareAlike 3.0 International",
    "Attribution-Noncommercial-Share Alike 3.0 United States",
    "Attribution-NonCommercial-NoDerivatives (aka Music Sharing) 3.0 International",
    "Attribution 3.0 International",
    "Creative Commons Attribution-NonCommercial-NoDerivatives 4.0",
    "Attribution-ShareAlike 3.0 International",
)
_ALBUM_TYPES = ("Album", "Album", "Album", "Single Track", "Live Performance")
_FMA_START = pd.Timestamp("2008-11-26 01:40:00")
_FMA_END = pd.Timestamp("2017-03-30 12:00:00")


def _date_for_id(track_id: int, rng: np.random.Generator, days_before: float = 0.0) -> str:
    """FMA ids grow with upload time: map an id to a plausible upload date (text, like FMA)."""
    frac = min(max(track_id / _MAX_TRACK_ID, 0.0), 1.0)
    when = _FMA_START + (_FMA_END - _FMA_START) * frac
    when -= pd.Timedelta(days=days_before, seconds=int(rng.integers(0, 86_400)))
    when = max(when, _FMA_START)
    return when.strftime("%Y-%m-%d %H:%M:%S")


def _words(rng: np.random.Generator, pool, low: int, high: int) -> str:
    count = int(rng.integers(low, high + 1))
    return " ".join(pool[int(i)] for i in rng.choice(len(pool), size=count, replace=False))


def _partition(count: int, rng: np.random.Generator) -> list[int]:
    """Split ``count`` tracks into artists of 2-5 tracks each (one artist when fewer than 2)."""
    sizes, left = [], count
    while left > 0:
        if left <= 5:
            sizes.append(left)
            break
        size = int(rng.integers(2, min(5, left - 2) + 1))
        sizes.append(size)
        left -= size
    return sizes


def _split_counts(n: int, genre_index: int) -> dict[str, int]:
    """Per-genre split sizes, about 80/10/10; each non-empty evaluation split holds at least 2 tracks."""
    if n >= 10:
        held = max(2, int(0.1 * n + 0.5))
        return {"training": n - 2 * held, "validation": held, "test": held}
    if n >= 4:  # too few for both: alternate validation and test between genres
        held_split = "validation" if genre_index % 2 == 0 else "test"
        counts = {"training": n - 2, "validation": 0, "test": 0}
        counts[held_split] = 2
        return counts
    return {"training": n, "validation": 0, "test": 0}


def _multi_genre_split_counts(count: int) -> dict[str, int]:
    """Multi-genre tracks per split, about 70/15/15; from 3 on, validation and test get at least one each.

    A multi-label model tunes its thresholds on validation and is scored on test, so both need some.
    """
    held = max(1, int(0.15 * count + 0.5)) if count >= 3 else 0
    return {"training": count - 2 * held, "validation": held, "test": held}


def _allocate(split_sizes: dict[str, int], total: int, available: dict[str, int]) -> dict[str, int]:
    """Spread ``total`` picks over splits in proportion to their sizes, the remainder going to training."""
    n = sum(split_sizes.values())
    out = {}
    for split in ("validation", "test"):
        share = int(split_sizes[split] * total / n + 0.5) if n else 0
        out[split] = min(share, available[split])
    out["training"] = min(total - out["validation"] - out["test"], available["training"])
    return out


def _build_metadata(params: dict):
    """The tracks table (FMA columns), the planted faults by kind, and each track's genre mix for audio."""
    rng = np.random.default_rng([params["seed"], 1])
    genres = params["genres"]
    n = params["tracks_per_genre"]
    subs_of = {}
    for genre_id, _parent, _title, top in SUB_GENRES:
        subs_of.setdefault(top, []).append(genre_id)
    used_ids: set[int] = set()
    used_artists: set[int] = set()
    used_albums: set[int] = set()

    def unique_id(used: set[int], high: int) -> int:
        while True:
            value = int(rng.integers(1, high))
            if value not in used:
                used.add(value)
                return value

    rows: dict[int, dict] = {}
    mixes: dict[int, tuple[str, ...]] = {}
    name_used: set[str] = set()

    def new_ids(count: int) -> list[int]:
        while True:  # an album's tracks get consecutive ids (small gaps), like uploads on FMA
            base = int(rng.integers(2, _MAX_TRACK_ID - 3 * count))
            ids = (base + np.cumsum(rng.integers(1, 3, size=count)) - 1).tolist()
            if not used_ids.intersection(ids):
                used_ids.update(ids)
                return [int(i) for i in ids]

    def artist_name() -> str:
        while True:
            style = rng.integers(0, 4)
            words = _words(rng, _NAME_WORDS, 1, 2)
            name = {0: f"The {words}s", 1: words, 2: f"DJ {words}", 3: f"{words} Collective"}[
                int(style)
            ]
            if name not in name_used:
                name_used.add(name)
                return name

    def add_artist(count: int, split: str, genre_lists, genre_top, mix) -> list[int]:
        artist_id = unique_id(used_artists, 24_000)
        album_id = unique_id(used_albums, 22_000)
        ids = new_ids(count)
        place, lat, lon = _PLACES[int(rng.integers(len(_PLACES)))]
        name = artist_name()
        has_location = rng.random() < 0.7
        album_date = _date_for_id(ids[0], rng, days_before=float(rng.uniform(0, 2)))
        begin = int(rng.integers(1990, 2016))
        artist = {
            ("artist", "active_year_begin"): f"{begin}-01-01 00:00:00"
            if rng.random() < 0.3
            else None,
            ("artist", "active_year_end"): None,
            ("artist", "associated_labels"): None,
            ("artist", "bio"): f"<p>{name} make music in {place}.</p>"
            if rng.random() < 0.6
            else None,
            ("artist", "comments"): int(rng.poisson(0.5)),
            ("artist", "date_created"): _date_for_id(
                ids[0], rng, days_before=float(rng.uniform(2, 200))
            ),
            ("artist", "favorites"): int(rng.poisson(5)),
            ("artist", "id"): artist_id,
            ("artist", "latitude"): lat if has_location else np.nan,
            ("artist", "location"): place if has_location else None,
            ("artist", "longitude"): lon if has_location else np.nan,
            ("artist", "members"): None,
            ("artist", "name"): name,
            ("artist", "related_projects"): None,
            ("artist", "tags"): [name.lower()] if rng.random() < 0.5 else [],
            ("artist", "website"): (
                f"http://www.{name.lower().replace(' ', '')}.com" if rng.random() < 0.5 else None
            ),
            ("artist", "wikipedia_page"): None,
        }
        album = {
            ("album", "comments"): int(rng.poisson(0.3)),
            ("album", "date_created"): album_date,
            ("album", "date_released"): album_date[:10] + " 00:00:00"
            if rng.random() < 0.7
            else None,
            ("album", "engineer"): None,
            ("album", "favorites"): int(rng.poisson(1.5)),
            ("album", "id"): album_id,
            ("album", "information"): "<p></p>" if rng.random() < 0.5 else None,
            ("album", "listens"): int(rng.lognormal(8, 1.2)),
            ("album", "producer"): None,
            ("album", "tags"): [],
            ("album", "title"): _words(rng, _TITLE_WORDS, 1, 3).title(),
            ("album", "tracks"): count + int(rng.integers(0, 9)),
            ("album", "type"): _ALBUM_TYPES[int(rng.integers(len(_ALBUM_TYPES)))],
        }
        license_ = _LICENSES[int(rng.integers(len(_LICENSES)))]
        for number, (track_id, genre_list) in enumerate(
            zip(ids, genre_lists, strict=True), start=1
        ):
            genres_all = _genres_all(genre_list)
            rows[track_id] = {
                **album,
                **artist,
                ("set", "split"): split,
                ("set", "subset"): None,
                ("track", "bit_rate"): params["bit_rate_kbps"] * 1000,
                ("track", "comments"): int(rng.poisson(0.2)),
                ("track", "composer"): None,
                ("track", "date_created"): _date_for_id(track_id, rng),
                ("track", "date_recorded"): (
                    album_date[:10] + " 00:00:00" if rng.random() < 0.1 else None
                ),
                ("track", "duration"): int(
                    max(params["clip_seconds"] + 5, rng.lognormal(np.log(230), 0.35))
                ),
                ("track", "favorites"): int(rng.poisson(2)),
                ("track", "genre_top"): genre_top,
                ("track", "genres"): genre_list,
                ("track", "genres_all"): genres_all,
                ("track", "information"): None,
                ("track", "interest"): int(rng.lognormal(7.5, 1.0)),
                ("track", "language_code"): "en" if rng.random() < 0.3 else None,
                ("track", "license"): license_,
                ("track", "listens"): int(rng.lognormal(7, 1.1)),
                ("track", "lyricist"): None,
                ("track", "number"): number,
                ("track", "publisher"): None,
                ("track", "tags"): [],
                ("track", "title"): _words(rng, _TITLE_WORDS, 1, 4).capitalize(),
            }
            mixes[track_id] = mix
        return ids

    def genre_list_for(genre_id: int) -> list[int]:
        subs = subs_of.get(genre_id, [])
        roll = rng.random()
        if not subs or roll < 0.4:
            return [genre_id]
        if roll < 0.8 or len(subs) < 2:
            return [int(rng.choice(subs))]
        return sorted(int(g) for g in rng.choice(subs, size=2, replace=False))

    subset_of: dict[int, str] = {}
    for index, genre in enumerate(genres):
        genre_id = _GENRE_IDS[genre]
        split_sizes = _split_counts(n, index)
        by_split: dict[str, list[int]] = {}
        for split in fma.SPLITS:
            by_split[split] = []
            for size in _partition(split_sizes[split], rng):
                lists = [genre_list_for(genre_id) for _ in range(size)]
                by_split[split] += add_artist(size, split, lists, genre, (genre,))
        # Subsets: about half small, a quarter medium, the rest large, the same counts in every genre.
        left = {split: list(rng.permutation(ids)) for split, ids in by_split.items()}
        for subset, total in (("small", max(1, n // 2)), ("medium", n // 4)):
            picks = _allocate(split_sizes, total, {s: len(v) for s, v in left.items()})
            for split, count in picks.items():
                for track_id in left[split][:count]:
                    subset_of[int(track_id)] = subset
                left[split] = left[split][count:]
        for ids in left.values():
            for track_id in ids:
                subset_of[int(track_id)] = "large"

    # Multi-genre tracks (several top-level genres, empty genre_top): their audio mixes the two genres and
    # genres / genres_all list both; in the large subset only, like FMA. The first len(genres) // 2 are the
    # format-1 sample's (training, adjacent genres paired), drawn before the faults as they were then, so
    # that the single-genre tracks and the planted faults stay those of format 1 and single-label runs do
    # not change. The rest cycle through every pair of genres in a seeded order (so each genre shows up in
    # several pairs), spread about 70/15/15 over the splits, in small one-artist albums.
    n_multi = round(params["multi_genre_share"] * n * len(genres)) if len(genres) >= 2 else 0
    per_split = _multi_genre_split_counts(n_multi)
    n_first = min(len(genres) // 2, per_split["training"])
    per_split["training"] -= n_first

    def add_mixed(pairs: list[tuple[str, str]], split: str) -> None:
        """Multi-genre tracks of ``split``, one per pair, in albums of one artist each."""
        for size in _partition(len(pairs), rng):
            chunk, pairs = pairs[:size], pairs[size:]
            lists = [
                sorted({genre_list_for(_GENRE_IDS[a])[0], genre_list_for(_GENRE_IDS[b])[0]})
                for a, b in chunk
            ]
            for track_id, pair in zip(
                add_artist(size, split, lists, None, None), chunk, strict=True
            ):
                subset_of[track_id] = "large"
                mixes[track_id] = tuple(pair)

    add_mixed([(genres[2 * i], genres[2 * i + 1]) for i in range(n_first)], "training")

    faults = {kind: [] for kind in FAULT_KINDS} if params["plant_faults"] else {}
    if params["plant_faults"]:
        candidates = {
            track_id: row[("track", "genre_top")]
            for track_id, row in rows.items()
            if subset_of[track_id] == "small" and row[("set", "split")] == "training"
        }
        order = [genres[int(i)] for i in rng.permutation(len(genres))]
        chosen: set[int] = set()
        for k, kind in enumerate(FAULT_KINDS):
            for genre in order[k % len(order) :] + order[: k % len(order)]:
                pool = sorted(
                    t for t, top in candidates.items() if top == genre and t not in chosen
                )
                if pool:
                    track_id = int(pool[int(rng.integers(len(pool)))])
                    chosen.add(track_id)
                    faults[kind].append(track_id)
                    break
            else:
                raise ValueError(
                    "too few small training tracks to plant the faults: raise tracks_per_genre"
                )

    all_pairs = list(combinations(genres, 2))
    pair_order = [all_pairs[int(i)] for i in rng.permutation(len(all_pairs))]
    n_rest = sum(per_split.values())
    pairs = [pair_order[k % len(pair_order)] for k in range(n_rest)] if pair_order else []
    for split, count in per_split.items():
        chosen_pairs, pairs = pairs[:count], pairs[count:]
        add_mixed(chosen_pairs, split)

    tracks = pd.DataFrame.from_dict(rows, orient="index")
    tracks.columns = pd.MultiIndex.from_tuples(tracks.columns)
    tracks = tracks.sort_index()
    tracks[("set", "subset")] = [subset_of[int(i)] for i in tracks.index]
    tracks = tracks.reindex(columns=pd.MultiIndex.from_tuples(fma.TRACKS_COLUMNS))
    tracks.index.name = "track_id"
    return tracks, faults, mixes


def _ancestors(genre_id: int) -> list[int]:
    parents = {g: p for g, p, _t, _top in SUB_GENRES}
    chain = [genre_id]
    while parents.get(chain[-1], 0):
        chain.append(parents[chain[-1]])
    return chain


def _genres_all(genre_list: list[int]) -> list[int]:
    return sorted({a for g in genre_list for a in _ancestors(g)})


def _genres_table(tracks: pd.DataFrame, genres: list[str]) -> pd.DataFrame:
    """genres.csv: all 16 top-level genres plus the sub-genre table, ``#tracks`` counted over genres_all."""
    counts: dict[int, int] = {}
    for genre_list in tracks[("track", "genres_all")]:
        for g in genre_list:
            counts[g] = counts.get(g, 0) + 1
    rows = [(gid, 0, title, gid) for gid, title in fma.TOP_LEVEL_GENRES.items()]
    rows += [(gid, parent, title, top) for gid, parent, title, top in SUB_GENRES]
    table = pd.DataFrame(rows, columns=["genre_id", "parent", "title", "top_level"])
    table["#tracks"] = table["genre_id"].map(lambda g: counts.get(g, 0)).astype(int)
    return table.sort_values("genre_id").reset_index(drop=True)[fma.GENRES_COLUMNS]


def _summary(tracks: pd.DataFrame, faults: dict, files: dict, mixes: dict, params: dict) -> dict:
    top = tracks[("track", "genre_top")]
    return {
        "tracks": int(len(tracks)),
        "audio_files": int(len(files)),
        "genre_top": {g: int((top == g).sum()) for g in params["genres"]},
        "no_genre_top": [int(i) for i in tracks.index[top.isna()]],
        # track id -> the two genres its audio mixes (JSON keys are text)
        "multi_genre": {
            str(int(i)): list(mixes[i]) for i in tracks.index if len(mixes.get(i, ())) > 1
        },
        "subsets": {s: int((tracks[("set", "subset")] == s).sum()) for s in fma.SUBSETS},
        "splits": {s: int((tracks[("set", "split")] == s).sum()) for s in fma.SPLITS},
        "faults": {kind: [int(i) for i in ids] for kind, ids in faults.items()},
        "short_clip_seconds": _short_seconds(params["clip_seconds"]) if faults else None,
    }


# --------------------------------------------------------------------------------------------------
# Audio synthesis
# --------------------------------------------------------------------------------------------------
# Each genre is a set of distributions over musical parameters, in five groups. A track draws every group
# from its own genre, except that with probability _BORROW a group comes from another genre: together with
# the wide per-genre distributions this makes neighbouring genres overlap, so they are learnable, not trivial.

_BORROW = 0.05
_GROUPS = ("rhythm", "timbre", "harmony", "noise", "mix")


def _n(mean, sd, lo=None, hi=None):
    return ("n", mean, sd, lo, hi)


def _ln(median, factor):
    return ("ln", median, factor)


def _c(**weights):
    return ("c", weights)


def _u(lo, hi):
    return ("u", lo, hi)


def _draw(spec, rng: np.random.Generator):
    kind = spec[0]
    if kind == "n":
        _, mean, sd, lo, hi = spec
        value = rng.normal(mean, sd)
        return float(np.clip(value, -np.inf if lo is None else lo, np.inf if hi is None else hi))
    if kind == "ln":
        return float(spec[1] * np.exp(rng.normal(0.0, np.log(spec[2]))))
    if kind == "u":
        return float(rng.uniform(spec[1], spec[2]))
    if kind == "c":
        names = list(spec[1])
        weights = np.array([spec[1][k] for k in names], dtype=float)
        return names[int(rng.choice(len(names), p=weights / weights.sum()))]
    raise ValueError(spec)


_BASE_PROFILE = {
    "rhythm": {
        "bpm": _n(115, 15, 55, 190),
        "swing": _n(0.05, 0.05, 0.0, 0.35),
        "drums": _n(-6, 3, -30, 0),
        "pattern": _c(backbeat=1),
        "hats": _c(**{"8": 1}),
        "fill": _n(0.04, 0.03, 0.0, 0.3),
        "kick_hz": _n(55, 8, 35, 90),
        "kick_decay": _n(0.25, 0.08, 0.06, 0.7),
        "snare_tone": _n(0.3, 0.15, 0.0, 1.0),
        "hat_decay": _n(0.04, 0.015, 0.01, 0.3),
        "hat_gain": _n(0.35, 0.1, 0.0, 1.0),
        "perc_gain": _n(0.5, 0.1, 0.0, 1.5),
        "humanize_ms": _n(4, 3, 0, 25),
    },
    "timbre": {
        "comp": _c(quarter=1),
        "chord_osc": _c(saw=1),
        "chord_rolloff": _n(1.2, 0.3, 0.6, 3.0),
        "chord_attack": _ln(0.01, 2.0),
        "chord_decay": _ln(0.6, 1.8),
        "lead_osc": _c(tri=1),
        "lead_rolloff": _n(1.5, 0.4, 0.6, 3.0),
        "lead_attack": _ln(0.02, 2.0),
        "lead_decay": _ln(0.8, 2.0),
        "lead_density": _n(1.0, 0.5, 0.1, 4.0),
        "vibrato_cents": _n(15, 10, 0, 80),
        "vibrato_hz": _n(5.5, 1.0, 2.0, 9.0),
        "bass_osc": _c(sine=1, tri=1),
        "bass_pattern": _c(quarter=1),
        "fm_index": _n(1.5, 1.0, 0.0, 8.0),
        "fm_ratio": _c(**{"1": 2, "2": 2, "3": 1, "1.41": 0.5, "3.5": 0.5}),
        "cutoff": _ln(6000, 1.6),
    },
    "harmony": {
        "mode": _c(major=1, minor=1),
        "progression": _c(pop=1, minor=1, two=1, static=0.5, random=0.5),
        "chord_bars": _c(**{"1": 1, "2": 1}),
        "voicing": _c(triad=3, seventh=1),
        "chord_octave": _n(4.0, 0.5, 2.5, 5.5),
        "lead_octave": _n(5.0, 0.5, 3.5, 6.5),
    },
    "noise": {
        "noise_db": _n(-40, 6, -70, -8),
        "noise_beta": _n(1.0, 0.5, 0.0, 2.0),
        "crackle": _n(0.0, 0.5, 0.0, 20.0),
        "drive": _n(0.2, 0.3, 0.0, 6.0),
    },
    "mix": {
        "chord_db": _n(-8, 3, -40, 0),
        "lead_db": _n(-8, 3, -40, 0),
        "bass_db": _n(-6, 3, -40, 0),
        "width": _n(0.5, 0.2, 0.0, 1.0),
        "echo": _n(0.15, 0.1, 0.0, 0.6),
        "loudness_db": _n(-16, 3, -30, -8),
    },
}

_GENRE_PROFILES: dict[str, dict[str, dict]] = {
    "Electronic": {
        "rhythm": {
            "bpm": _n(126, 7),
            "swing": _n(0.02, 0.04),
            "drums": _n(-3, 2),
            "pattern": _c(four=8, breaks=1, halftime=1),
            "hats": _c(**{"16": 5, "off": 4, "8": 0.5}),
            "kick_hz": _n(50, 6),
            "kick_decay": _n(0.3, 0.1),
            "hat_decay": _n(0.025, 0.01),
            "hat_gain": _n(0.6, 0.15),
            "humanize_ms": _n(0.5, 1.0),
        },
        "timbre": {
            "comp": _c(sustain=4, arp16=4, offbeat=1),
            "chord_osc": _c(saw=3, square=3, fm=1),
            "chord_rolloff": _n(1.0, 0.3),
            "lead_osc": _c(saw=3, square=3, fm=1, sine=1),
            "lead_density": _n(1.5, 0.8),
            "vibrato_cents": _n(5, 8),
            "bass_osc": _c(saw=2, square=1, sine=2),
            "bass_pattern": _c(offbeat=3, eighth=2, sixteenth=1, whole=1),
            "cutoff": _ln(2800, 1.7),
        },
        "harmony": {
            "mode": _c(minor=4, dorian=2, phrygian=1, major=1),
            "progression": _c(minor=3, two=2, static=2, pop=1),
            "chord_bars": _c(**{"1": 1, "2": 2, "4": 2}),
            "voicing": _c(triad=2, seventh=2, sus=1),
        },
        "noise": {"noise_db": _n(-48, 6), "noise_beta": _n(0.6, 0.5), "drive": _n(0.1, 0.2)},
        "mix": {
            "bass_db": _n(-2, 2),
            "width": _n(0.8, 0.15),
            "echo": _n(0.25, 0.1),
            "loudness_db": _n(-13, 2.5),
        },
    },
    "Experimental": {
        "rhythm": {
            "bpm": _u(55, 180),
            "swing": _n(0.1, 0.1),
            "drums": _n(-12, 8),
            "pattern": _c(sparse=6, breaks=1, none=3),
            "hats": _c(**{"0": 3, "16": 1, "rand": 3}),
            "fill": _n(0.1, 0.08),
            "kick_hz": _n(60, 20),
            "humanize_ms": _n(15, 10),
        },
        "timbre": {
            "comp": _c(sustain=4, random=4, quarter=1),
            "chord_osc": _c(fm=5, saw=1, square=1, sine=1),
            "chord_attack": _ln(0.2, 4.0),
            "chord_decay": _ln(2.0, 3.0),
            "lead_osc": _c(fm=4, sine=1, square=1),
            "lead_density": _n(0.8, 0.8),
            "vibrato_cents": _n(30, 30),
            "fm_index": _n(3.5, 2.0),
            "fm_ratio": _c(**{"1.41": 3, "3.5": 3, "2.76": 3, "1": 1}),
            "bass_pattern": _c(none=3, whole=2, random=2),
            "cutoff": _ln(5000, 3.0),
        },
        "harmony": {
            "mode": _c(chromatic=4, whole_tone=2, phrygian=1, minor=1),
            "progression": _c(random=5, static=2, two=1),
            "chord_bars": _c(**{"1": 1, "2": 1, "4": 2}),
            "voicing": _c(cluster=4, sus=2, seventh=1),
            "chord_octave": _n(4.0, 1.0),
            "lead_octave": _n(5.0, 1.0),
        },
        "noise": {
            "noise_db": _n(-20, 9),
            "noise_beta": _n(1.0, 0.8),
            "crackle": _n(1.0, 3.0),
            "drive": _n(1.0, 1.5),
        },
        "mix": {
            "chord_db": _n(-8, 6),
            "lead_db": _n(-10, 6),
            "width": _n(0.6, 0.3),
            "echo": _n(0.3, 0.2),
            "loudness_db": _n(-18, 5),
        },
    },
    "Folk": {
        "rhythm": {
            "bpm": _n(104, 15),
            "swing": _n(0.08, 0.07),
            "drums": _n(-11, 4),
            "pattern": _c(shaker=6, backbeat=1, none=1),
            "hats": _c(**{"8": 4, "16": 2, "0": 1}),
            "hat_gain": _n(0.5, 0.1),
            "kick_hz": _n(70, 10),
            "snare_tone": _n(0.5, 0.2),
            "humanize_ms": _n(9, 5),
        },
        "timbre": {
            "comp": _c(arp8=5, strum=3, quarter=1),
            "chord_osc": _c(pluck=7, tri=1, saw=1),
            "chord_rolloff": _n(1.6, 0.4),
            "chord_decay": _ln(0.5, 1.6),
            "lead_osc": _c(tri=3, sine=2, pluck=1),
            "lead_attack": _ln(0.05, 2.0),
            "lead_density": _n(0.8, 0.4),
            "vibrato_cents": _n(25, 12),
            "bass_osc": _c(sine=2, tri=2),
            "bass_pattern": _c(quarter=2, half=2, whole=1),
            "cutoff": _ln(7500, 1.4),
        },
        "harmony": {
            "mode": _c(major=5, mixolydian=2, dorian=1, minor=2),
            "progression": _c(folk=4, pop=2, two=1),
            "voicing": _c(triad=5, open=3, seventh=1),
        },
        "noise": {"noise_db": _n(-42, 7), "noise_beta": _n(1.3, 0.4), "drive": _n(0.05, 0.1)},
        "mix": {"width": _n(0.4, 0.2), "echo": _n(0.2, 0.1), "loudness_db": _n(-19, 3)},
    },
    "Hip-Hop": {
        "rhythm": {
            "bpm": _n(90, 7),
            "swing": _n(0.18, 0.08),
            "drums": _n(-2, 2),
            "pattern": _c(boombap=6, halftime=2, backbeat=1),
            "hats": _c(**{"8": 4, "16": 2, "0": 1}),
            "kick_hz": _n(45, 6),
            "kick_decay": _n(0.45, 0.15),
            "snare_tone": _n(0.2, 0.1),
            "humanize_ms": _n(5, 3),
        },
        "timbre": {
            "comp": _c(sustain=3, quarter=2, offbeat=1),
            "chord_osc": _c(organ=2, tri=2, saw=1, fm=1),
            "chord_rolloff": _n(1.8, 0.4),
            "lead_osc": _c(sine=2, tri=2, square=1),
            "lead_density": _n(0.6, 0.4),
            "bass_osc": _c(sine=4, tri=1),
            "bass_pattern": _c(syncopated=3, whole=2, quarter=1),
            "cutoff": _ln(3200, 1.6),
        },
        "harmony": {
            "mode": _c(minor=4, dorian=3, pent_minor=1, major=1),
            "progression": _c(two=3, minor=2, static=2),
            "chord_bars": _c(**{"1": 1, "2": 2}),
            "voicing": _c(seventh=3, triad=2),
            "chord_octave": _n(3.8, 0.4),
        },
        "noise": {
            "noise_db": _n(-34, 7),
            "noise_beta": _n(1.2, 0.5),
            "crackle": _n(4.0, 3.0),
            "drive": _n(0.2, 0.2),
        },
        "mix": {
            "bass_db": _n(-3, 2),
            "lead_db": _n(-14, 5),
            "width": _n(0.4, 0.2),
            "echo": _n(0.08, 0.06),
            "loudness_db": _n(-14, 2.5),
        },
    },
    "Instrumental": {
        "rhythm": {
            "bpm": _n(88, 15),
            "drums": _n(-20, 6),
            "pattern": _c(none=5, halftime=2, backbeat=1),
            "hats": _c(**{"8": 2, "0": 2, "4": 1}),
            "humanize_ms": _n(6, 4),
        },
        "timbre": {
            "comp": _c(sustain=6, arp8=1, quarter=1),
            "chord_osc": _c(sine=3, tri=2, organ=3, fm=1),
            "chord_rolloff": _n(2.0, 0.4),
            "chord_attack": _ln(0.3, 2.5),
            "chord_decay": _ln(1.5, 2.0),
            "lead_osc": _c(sine=3, tri=2, fm=1),
            "lead_attack": _ln(0.08, 2.0),
            "lead_density": _n(0.6, 0.4),
            "vibrato_cents": _n(20, 12),
            "bass_pattern": _c(whole=3, half=2, none=1),
            "cutoff": _ln(3500, 1.5),
        },
        "harmony": {
            "mode": _c(major=3, lydian=2, dorian=2, minor=2),
            "progression": _c(pop=2, folk=1, minor=2, static=1),
            "chord_bars": _c(**{"1": 1, "2": 2, "4": 1}),
            "voicing": _c(seventh=3, open=3, triad=2),
        },
        "noise": {"noise_db": _n(-48, 8), "noise_beta": _n(1.2, 0.5), "drive": _n(0.02, 0.05)},
        "mix": {"width": _n(0.7, 0.2), "echo": _n(0.4, 0.1), "loudness_db": _n(-22, 3)},
    },
    "International": {
        "rhythm": {
            "bpm": _n(108, 15),
            "swing": _n(0.06, 0.06),
            "drums": _n(-6, 3),
            "pattern": _c(clave=5, tresillo=3, backbeat=1),
            "hats": _c(**{"8": 3, "16": 2, "off": 1}),
            "kick_hz": _n(85, 20, 40, 200),
            "kick_decay": _n(0.15, 0.06),
            "snare_tone": _n(0.6, 0.2),
            "perc_gain": _n(1.0, 0.2),
            "humanize_ms": _n(6, 3),
        },
        "timbre": {
            "comp": _c(offbeat=4, arp8=2, strum=2),
            "chord_osc": _c(square=3, organ=2, pluck=1, tri=1),
            "chord_rolloff": _n(1.3, 0.3),
            "lead_osc": _c(saw=1, square=1, pluck=2, tri=1),
            "lead_density": _n(1.8, 0.7),
            "vibrato_cents": _n(35, 15),
            "vibrato_hz": _n(6.5, 1.0),
            "bass_pattern": _c(tresillo=3, quarter=1, syncopated=1),
            "cutoff": _ln(7000, 1.5),
        },
        "harmony": {
            "mode": _c(phrygian_dominant=3, harmonic_minor=3, pent_major=2, major=1, minor=1),
            "progression": _c(two=3, folk=2, minor=1, static=1),
            "voicing": _c(triad=4, open=1, seventh=1),
            "lead_octave": _n(5.3, 0.4),
        },
        "noise": {"noise_db": _n(-38, 7), "noise_beta": _n(0.8, 0.5), "drive": _n(0.1, 0.2)},
        "mix": {"width": _n(0.5, 0.2), "echo": _n(0.12, 0.08), "loudness_db": _n(-16, 3)},
    },
    "Pop": {
        "rhythm": {
            "bpm": _n(114, 10),
            "swing": _n(0.02, 0.03),
            "drums": _n(-4, 2),
            "pattern": _c(backbeat=6, four=1, halftime=1),
            "hats": _c(**{"8": 5, "16": 1}),
            "humanize_ms": _n(2, 1.5),
        },
        "timbre": {
            "comp": _c(quarter=4, eighth=2, arp8=1, sustain=1),
            "chord_osc": _c(tri=3, pluck=2, organ=1, saw=1),
            "chord_rolloff": _n(1.3, 0.3),
            "lead_osc": _c(square=2, tri=3, saw=1),
            "lead_density": _n(1.5, 0.5),
            "vibrato_cents": _n(18, 8),
            "bass_pattern": _c(eighth=3, quarter=2, syncopated=1),
            "cutoff": _ln(9000, 1.4),
        },
        "harmony": {
            "mode": _c(major=6, mixolydian=1, minor=2),
            "progression": _c(pop=6, folk=2, minor=1),
            "chord_bars": _c(**{"1": 3, "2": 2}),
            "voicing": _c(triad=5, seventh=1, sus=1),
            "lead_octave": _n(5.2, 0.3),
        },
        "noise": {"noise_db": _n(-46, 7), "noise_beta": _n(0.8, 0.4), "drive": _n(0.2, 0.2)},
        "mix": {
            "lead_db": _n(-5, 2),
            "width": _n(0.6, 0.15),
            "echo": _n(0.15, 0.08),
            "loudness_db": _n(-14, 2),
        },
    },
    "Rock": {
        "rhythm": {
            "bpm": _n(132, 16),
            "swing": _n(0.02, 0.03),
            "drums": _n(-3, 2),
            "pattern": _c(backbeat=6, halftime=1, breaks=1),
            "hats": _c(**{"8": 6, "16": 1, "4": 1}),
            "kick_hz": _n(60, 8),
            "kick_decay": _n(0.2, 0.06),
            "fill": _n(0.06, 0.04),
            "humanize_ms": _n(6, 3),
        },
        "timbre": {
            "comp": _c(eighth=5, strum=2, sustain=1),
            "chord_osc": _c(saw=5, square=3),
            "chord_rolloff": _n(0.9, 0.25),
            "lead_osc": _c(saw=2, square=2),
            "lead_density": _n(1.4, 0.6),
            "vibrato_cents": _n(20, 15),
            "bass_osc": _c(saw=2, tri=2),
            "bass_pattern": _c(eighth=5, quarter=2),
            "cutoff": _ln(6500, 1.5),
        },
        "harmony": {
            "mode": _c(minor=3, mixolydian=3, major=2, pent_minor=2),
            "progression": _c(rock=5, minor=2, pop=1, two=1),
            "voicing": _c(power=6, triad=2),
            "chord_octave": _n(3.6, 0.4),
        },
        "noise": {"noise_db": _n(-36, 6), "noise_beta": _n(0.5, 0.4), "drive": _n(2.5, 1.2)},
        "mix": {
            "chord_db": _n(-5, 2),
            "width": _n(0.6, 0.2),
            "echo": _n(0.08, 0.06),
            "loudness_db": _n(-12, 2),
        },
    },
}
# The other top-level genres, for callers who ask for them: blends of two synthesized genres.
_BLENDED = {
    "Blues": ("Rock", "Folk"),
    "Jazz": ("Instrumental", "Hip-Hop"),
    "Classical": ("Instrumental", "Folk"),
    "Old-Time / Historic": ("Folk", "Experimental"),
    "Country": ("Folk", "Pop"),
    "Easy Listening": ("Instrumental", "Pop"),
    "Soul-RnB": ("Hip-Hop", "Pop"),
    "Spoken": ("Experimental", "Folk"),
}

_MODES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "phrygian_dominant": (0, 1, 4, 5, 7, 8, 10),
    "pent_major": (0, 2, 4, 7, 9),
    "pent_minor": (0, 3, 5, 7, 10),
    "whole_tone": (0, 2, 4, 6, 8, 10),
    "chromatic": tuple(range(12)),
}
_PROGRESSIONS = {  # scale degrees (0-based), one per chord
    "pop": ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4)),
    "rock": ((0, 6, 3, 0), (0, 3, 6, 3), (0, 2, 3, 0), (0, 0, 6, 3)),
    "folk": ((0, 3, 0, 4), (0, 0, 3, 4), (0, 4, 0, 3), (0, 3, 4, 0)),
    "two": ((0, 3), (0, 6), (0, 4), (0, 1)),
    "static": ((0,), (0, 0, 3, 0)),
}
# Drum patterns: per-step hit probabilities over one 4/4 bar of 16 steps (kick, snare, percussion).
_PATTERNS = {
    "four": ({0: 1, 4: 1, 8: 1, 12: 1, 14: 0.1}, {4: 0.6, 12: 0.6}, {}),
    "backbeat": ({0: 1, 8: 1, 10: 0.4, 6: 0.2, 14: 0.15}, {4: 1, 12: 1}, {}),
    "boombap": ({0: 1, 3: 0.3, 7: 0.6, 10: 0.7, 13: 0.2}, {4: 1, 12: 1, 15: 0.15}, {}),
    "halftime": ({0: 1, 10: 0.6, 3: 0.2}, {8: 1}, {}),
    "breaks": ({0: 1, 10: 0.8, 11: 0.4, 6: 0.3}, {4: 1, 12: 1, 7: 0.3, 15: 0.3, 9: 0.2}, {}),
    "clave": ({0: 0.8, 8: 0.6}, {}, {0: 1, 3: 1, 6: 1, 10: 1, 12: 1, 14: 0.3}),
    "tresillo": ({0: 1, 6: 1, 12: 0.8}, {12: 0.3}, {3: 0.6, 8: 0.6, 11: 0.5, 14: 0.5}),
    "shaker": ({0: 0.6, 8: 0.5}, {}, {}),
    "sparse": (
        {k: 0.12 for k in range(16)},
        {k: 0.08 for k in range(16)},
        {k: 0.1 for k in range(16)},
    ),
    "none": ({}, {}, {}),
}


def _profile(genre: str) -> dict[str, dict]:
    """The full parameter distributions of one genre (its overrides on the base)."""
    if genre not in _GENRE_PROFILES and _BLENDED.get(genre):
        a, b = _BLENDED[genre]
        merged = {}
        for i, group in enumerate(
            _GROUPS
        ):  # alternate groups between the two parents: a fixed blend
            merged[group] = _profile((a, b)[i % 2])[group]
        return merged
    overrides = _GENRE_PROFILES.get(genre, {})
    merged = {}
    for group in _GROUPS:
        specs = dict(_BASE_PROFILE[group])
        for name, spec in overrides.get(group, {}).items():
            base = specs[name]
            if spec[0] == "n" and base[0] == "n":  # keep the base's physical bounds
                spec = (
                    "n",
                    spec[1],
                    spec[2],
                    base[3] if spec[3] is None else spec[3],
                    base[4] if spec[4] is None else spec[4],
                )
            specs[name] = spec
        merged[group] = specs
    return merged


def draw_track_parameters(mix, rng: np.random.Generator) -> dict:
    """One track's musical parameters: each group from one of its genres, or borrowed from another one."""
    mix = tuple(mix) if isinstance(mix, (list, tuple)) else (mix,)
    others = list(_GENRE_PROFILES)
    params = {}
    for group in _GROUPS:
        source = mix[int(rng.integers(len(mix)))]
        if rng.random() < _BORROW:
            source = others[int(rng.integers(len(others)))]
        for name, spec in _profile(source)[group].items():
            params[name] = _draw(spec, rng)
    return params


def _wavetable(kind: str, rolloff: float, f0: float, cutoff: float, sr: int, size: int = 2048):
    """One cycle of an oscillator as a sum of harmonics, low-passed at ``cutoff`` and band-limited.

    Shaping the harmonics here gives each line its brightness for free (no filter pass over the signal).
    """
    max_harmonic = max(1, int(sr * 0.45 / max(f0, 20.0)))
    if kind == "sine":
        harmonics = {1: 1.0, 2: 0.08}
    elif kind == "tri":
        harmonics = {h: (-1) ** ((h - 1) // 2) / h**2 for h in range(1, max_harmonic + 1, 2)}
    elif kind == "square":
        harmonics = {h: 1 / h**rolloff for h in range(1, max_harmonic + 1, 2)}
    elif kind == "organ":
        harmonics = {1: 1.0, 2: 0.6, 3: 0.4, 4: 0.3, 6: 0.2, 8: 0.15}
    elif kind == "pluck":
        harmonics = {h: 1 / h ** (rolloff + 0.3) for h in range(1, max_harmonic + 1)}
    else:  # saw
        harmonics = {h: 1 / h**rolloff for h in range(1, max_harmonic + 1)}
    phase = np.arange(size) / size
    table = np.zeros(size)
    for h, amp in harmonics.items():
        if h <= max_harmonic:
            gain = 1.0 / np.sqrt(1.0 + (h * f0 / cutoff) ** 4)  # 2nd-order low-pass response
            table += amp * gain * np.sin(2 * np.pi * h * phase)
    table /= np.max(np.abs(table)) or 1.0
    return table.astype(np.float32)


_SINE = np.sin(2 * np.pi * np.arange(4096) / 4096).astype(np.float32)


def _render_line(
    n: int,
    sr: int,
    onsets: np.ndarray,
    lengths: np.ndarray,
    freqs: np.ndarray,
    vels: np.ndarray,
    osc: str,
    p: dict,
    prefix: str,
    rng: np.random.Generator,
    pans: np.ndarray | None = None,
) -> np.ndarray:
    """Notes (onset/length in samples, frequencies (notes, voices), velocities) to a stereo signal.

    A note rings until the next onset (its release starts after its length). Envelope and phase are
    written note by note from short precomputed ramps (slices, no per-sample Python), then all voices go
    through one table lookup and one panning matrix product.
    """
    out = np.zeros((2, n), dtype=np.float32)
    keep = onsets < n
    onsets, lengths, freqs, vels = onsets[keep], lengths[keep], freqs[keep], vels[keep]
    if len(onsets) == 0:
        return out
    order = np.argsort(onsets, kind="stable")
    onsets, lengths, vels = onsets[order], lengths[order], vels[order]
    freqs = freqs[order].reshape(len(onsets), -1).astype(np.float32)
    voices = freqs.shape[1]
    ends = np.append(onsets[1:], n)
    longest = int((ends - onsets).max())
    ramp = np.arange(longest, dtype=np.float32) / np.float32(sr)
    attack = max(p[f"{prefix}_attack"], 0.002)
    decay = max(p[f"{prefix}_decay"], 0.02)
    if osc == "pluck":
        decay = min(decay, 0.35)
    shape = np.minimum(ramp / np.float32(attack), 1.0) * np.exp(-ramp / np.float32(decay))
    release = np.exp(-ramp / np.float32(0.015))
    depth = 2 ** (p["vibrato_cents"] / 1200.0) - 1.0 if prefix == "lead" else 0.0
    if depth > 0:  # phase of a vibrato note in closed form: integral of 1 + d*sin(w t)
        w = 2 * np.pi * p["vibrato_hz"]
        wobble = np.cos(np.arange(n, dtype=np.float32) * np.float32(w / sr)) * np.float32(depth / w)
    env = np.zeros(n, dtype=np.float32)
    phase = np.zeros((voices, n), dtype=np.float32)
    start_phase = rng.random((len(onsets), voices)).astype(np.float32)
    for i in range(len(onsets)):
        s, e = int(onsets[i]), int(ends[i])
        size = e - s
        if size <= 0:
            continue
        seg = env[s:e]
        np.multiply(shape[:size], np.float32(vels[i]), out=seg)
        held = int(lengths[i])
        if held < size:
            seg[held:] *= release[: size - held]
        u = ramp[:size] if depth <= 0 else ramp[:size] - (wobble[s:e] - wobble[s])
        np.add(freqs[i][:, None] * u, start_phase[i][:, None], out=phase[:, s:e])
    if osc == "fm":
        ratio = np.float32(float(p["fm_ratio"]) * 4096)
        mod = _SINE[(phase * ratio).astype(np.int32) & 4095]
        mod *= np.float32(p["fm_index"] / (2 * np.pi))
        phase += mod
        phase *= np.float32(4096)
        wave = _SINE[phase.astype(np.int32) & 4095]
    else:
        f0 = float(np.median(freqs))
        table = _wavetable(osc, p[f"{prefix}_rolloff"], f0, p["cutoff"], sr)
        phase *= np.float32(2048)
        wave = table[phase.astype(np.int32) & 2047]
    if pans is None:
        pans = np.zeros(voices)
    angle = (np.asarray(pans, dtype=float) + 1) * np.pi / 4
    gains = np.stack([np.cos(angle), np.sin(angle)]).astype(np.float32)  # (2, voices)
    out = gains @ wave if voices > 1 else gains[:, :1] * wave
    out *= env
    return out


def _midi_hz(midi) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


def _chord_notes(scale, degree: int, voicing: str) -> list[int]:
    """Semitone offsets (from the key's root) of the chord on ``degree`` of ``scale``."""
    size = len(scale)

    def step(k):
        return scale[k % size] + 12 * (k // size)

    if voicing == "power":
        root = step(degree)
        return [root, root + 7, root + 12]
    if voicing == "cluster":
        return [step(degree), step(degree + 1), step(degree + 2), step(degree + 3)]
    if voicing == "sus":
        return [step(degree), step(degree + 3), step(degree + 4)]
    if voicing == "seventh":
        return [step(degree), step(degree + 2), step(degree + 4), step(degree + 6)]
    if voicing == "open":
        return [step(degree), step(degree + 4), step(degree + 9)]
    return [step(degree), step(degree + 2), step(degree + 4)]


def synthesize_clip(mix, rng: np.random.Generator, seconds: float = 30.0, sample_rate: int = 44100):
    """A synthetic stereo clip (float32, shape (n, 2), peak <= 1) for a genre (or a tuple of genres).

    The genre only chooses the distributions its parameters are drawn from (see ``_GENRE_PROFILES``).
    """
    p = draw_track_parameters(mix, rng)
    sr = int(sample_rate)
    n = int(round(seconds * sr))
    beat = 60.0 / p["bpm"]
    step = beat / 4
    n_bars = int(np.ceil(seconds / (4 * beat))) + 1
    steps = np.arange(n_bars * 16)
    step_times = steps * step + np.where(steps % 2 == 1, p["swing"] * step, 0.0)
    bar_of = steps // 16

    def to_samples(times):
        times = np.asarray(times, dtype=float)
        jitter = rng.normal(0, p["humanize_ms"] / 1000.0, size=times.shape)
        return np.maximum(np.round((times + jitter) * sr), 0).astype(
            np.int64
        )  # >= n: dropped later

    mixbus = np.zeros((2, n), dtype=np.float32)

    # Harmony: key, scale, chord progression.
    key = int(rng.integers(0, 12))
    scale = _MODES[p["mode"]]
    if p["progression"] == "random":
        progression = [int(d) for d in rng.integers(0, len(scale), size=4)]
    else:
        options = _PROGRESSIONS[p["progression"]]
        progression = list(options[int(rng.integers(len(options)))])
    chord_bars = int(p["chord_bars"])
    chord_root = 12 * (int(round(p["chord_octave"])) + 1) + key
    n_chords = int(np.ceil(n_bars / chord_bars))
    chords = [
        _chord_notes(scale, progression[i % len(progression)], p["voicing"])
        for i in range(n_chords)
    ]
    chord_at_step = np.minimum(bar_of // chord_bars, n_chords - 1)

    # Chord instrument: a rhythm of strikes, each sounding the current chord.
    comp = p["comp"]
    comp_steps = {
        "sustain": steps[steps % (16 * chord_bars) == 0],
        "quarter": steps[steps % 4 == 0],
        "eighth": steps[steps % 2 == 0],
        "offbeat": steps[steps % 4 == 2],
        "strum": steps[np.isin(steps % 16, (0, 6, 8, 12, 14))],
        "random": steps[rng.random(len(steps)) < 0.12],
    }.get(comp)
    voices = max(len(c) for c in chords)
    chord_pans = np.linspace(-p["width"], p["width"], voices) * 0.8
    chord_gain = 10 ** (p["chord_db"] / 20)
    if comp in ("arp8", "arp16"):
        every = 2 if comp == "arp8" else 1
        arp_steps = steps[steps % every == 0]
        pattern = rng.permutation(4) if rng.random() < 0.5 else np.arange(4)
        notes = [
            chords[chord_at_step[s]][pattern[i % 4] % len(chords[chord_at_step[s]])]
            for i, s in enumerate(arp_steps)
        ]
        freqs = _midi_hz(chord_root + np.array(notes))[:, None]
        lengths = np.full(len(arp_steps), int(step * every * sr * 1.5))
        vels = rng.uniform(0.6, 1.0, len(arp_steps))
        chord_sig = _render_line(
            n,
            sr,
            to_samples(step_times[arp_steps]),
            lengths,
            freqs,
            vels,
            p["chord_osc"],
            p,
            "chord",
            rng,
            pans=np.array([rng.uniform(-p["width"], p["width"])]),
        )
    else:
        strikes = comp_steps
        nxt = np.append(strikes[1:], len(steps))
        lengths = ((nxt - strikes) * step * sr * 0.9).astype(np.int64)
        notes = np.array(
            [(chords[chord_at_step[s]] * voices)[:voices] for s in strikes], dtype=float
        ).reshape(len(strikes), voices)
        freqs = _midi_hz(chord_root + notes)
        vels = rng.uniform(0.7, 1.0, len(strikes))
        chord_sig = _render_line(
            n,
            sr,
            to_samples(step_times[strikes]),
            lengths,
            freqs,
            vels,
            p["chord_osc"],
            p,
            "chord",
            rng,
            pans=chord_pans,
        ) / np.float32(np.sqrt(voices))
    if p["drive"] > 0.05:  # distortion on the chord instrument, like an overdriven guitar
        drive = np.float32(1 + p["drive"] * 3)
        chord_sig = np.tanh(chord_sig * drive) / np.tanh(drive)
    chord_sig *= np.float32(chord_gain)
    mixbus += chord_sig

    # Bass: chord roots in a pattern, two octaves below the chords.
    bass_steps = {
        "whole": steps[steps % 16 == 0],
        "half": steps[steps % 8 == 0],
        "quarter": steps[steps % 4 == 0],
        "eighth": steps[steps % 2 == 0],
        "sixteenth": steps,
        "offbeat": steps[steps % 4 == 2],
        "syncopated": steps[np.isin(steps % 16, (0, 3, 6, 10))],
        "tresillo": steps[np.isin(steps % 16, (0, 6, 12))],
        "random": steps[rng.random(len(steps)) < 0.1],
        "none": steps[:0],
    }[p["bass_pattern"]]
    if len(bass_steps):
        nxt = np.append(bass_steps[1:], len(steps))
        lengths = ((nxt - bass_steps) * step * sr * 0.85).astype(np.int64)
        roots = np.array([chords[chord_at_step[s]][0] for s in bass_steps], dtype=float)
        octave_up = (rng.random(len(bass_steps)) < 0.15) * 12
        freqs = _midi_hz(chord_root - 24 + roots + octave_up)[:, None]
        bass_params = dict(
            p, bass_attack=0.005, bass_decay=0.3 + 0.7 * rng.random(), bass_rolloff=1.5
        )
        bass = _render_line(
            n,
            sr,
            to_samples(step_times[bass_steps]),
            lengths,
            freqs,
            rng.uniform(0.75, 1.0, len(bass_steps)),
            p["bass_osc"],
            bass_params,
            "bass",
            rng,
        )
        mixbus += bass * np.float32(10 ** (p["bass_db"] / 20))

    # Lead: a random walk on the scale, denser or sparser, with vibrato.
    if p["lead_db"] > -35:
        rate = p["lead_density"] / 4  # notes per 16th step
        lead_steps = steps[rng.random(len(steps)) < min(rate, 1.0)]
        if len(lead_steps):
            walk = np.cumsum(rng.choice([-2, -1, -1, 0, 1, 1, 2], size=len(lead_steps)))
            walk = (np.abs((walk + 14) % 28 - 14) - 7).astype(int)  # reflect into about two octaves
            semis = np.array([scale[k % len(scale)] + 12 * (k // len(scale)) for k in walk])
            lead_root = 12 * (int(round(p["lead_octave"])) + 1) + key
            nxt = np.append(lead_steps[1:], len(steps))
            lengths = ((nxt - lead_steps) * step * sr * rng.uniform(0.5, 1.0)).astype(np.int64)
            lead = _render_line(
                n,
                sr,
                to_samples(step_times[lead_steps]),
                lengths,
                _midi_hz(lead_root + semis)[:, None],
                rng.uniform(0.6, 1.0, len(lead_steps)),
                p["lead_osc"],
                p,
                "lead",
                rng,
                pans=np.array([rng.uniform(-0.3, 0.3)]),
            )
            mixbus += lead * np.float32(10 ** (p["lead_db"] / 20))

    # Drums: one-shot samples placed on the pattern's steps.
    drums_db = p["drums"]
    if p["pattern"] != "none" and drums_db > -28:
        mixbus += _drums(n, sr, p, rng, steps, step_times, to_samples) * np.float32(
            10 ** (drums_db / 20)
        )

    # Echo: a few decaying taps, different left and right, for space and width.
    if p["echo"] > 0.01:
        wet = np.zeros_like(mixbus)
        for tap in range(1, 4):
            gain = np.float32(p["echo"] ** tap)
            for ch in (0, 1):
                delay = int(sr * (0.75 * beat * tap + (0.011 if ch else 0.0)))
                if delay < n:
                    wet[ch, delay:] += gain * mixbus[1 - ch if tap % 2 else ch, : n - delay]
        mixbus += wet

    # Noise: coloured (1/f^beta) hiss plus vinyl-like crackle.
    level = np.float32(_rms(mixbus) + 1e-4)
    noise = _coloured_noise(n, p["noise_beta"], rng)
    noise *= level * np.float32(10 ** ((p["noise_db"] + 10) / 20))
    mixbus += noise
    crackles = int(p["crackle"] * seconds * 5)
    if crackles > 0:
        where = rng.integers(0, n, size=(2, crackles))
        amp = rng.uniform(-1, 1, size=(2, crackles)).astype(np.float32) * level * 4
        for ch in (0, 1):
            np.add.at(mixbus[ch], where[ch], amp[ch])

    # Loudness: scale to the drawn RMS level, then soft-limit the peaks above a knee (like a limiter).
    loudness = p["loudness_db"] + rng.normal(0, 1.5)
    mixbus *= np.float32(10 ** (loudness / 20) / (_rms(mixbus) + 1e-9))
    flat = mixbus.reshape(-1)
    loud = np.flatnonzero(np.abs(flat) > 0.7)
    if len(loud):
        over = np.abs(flat[loud]) - np.float32(0.7)
        flat[loud] = np.sign(flat[loud]) * (0.7 + 0.28 * np.tanh(over / np.float32(0.28)))
    fade = min(n // 2, int(0.005 * sr))
    if fade:
        ramp = np.linspace(0, 1, fade, dtype=np.float32)
        mixbus[:, :fade] *= ramp
        mixbus[:, n - fade :] *= ramp[::-1]
    return np.ascontiguousarray(mixbus.T)


def _rms(x: np.ndarray) -> float:
    flat = x.reshape(-1)
    return float(np.sqrt(np.dot(flat, flat) / max(len(flat), 1)))


def _coloured_noise(n: int, beta: float, rng: np.random.Generator) -> np.ndarray:
    """Stereo noise with a 1/f^beta spectrum (0 white, 1 pink, 2 brown), unit RMS per channel.

    Made in the frequency domain over a few seconds and tiled (different period per channel), which is
    an order of magnitude cheaper than shaping the whole clip and sounds the same.
    """
    out = np.empty((2, n), dtype=np.float32)
    for ch, period in enumerate((1 << 17, (1 << 17) - 4099)):
        size = period // 2 + 1
        spectrum = rng.standard_normal(size) + 1j * rng.standard_normal(size)
        freqs = np.arange(size, dtype=float)
        freqs[0] = 1.0
        spectrum *= freqs ** (-beta / 2)
        spectrum[0] = 0
        tile = np.fft.irfft(spectrum, n=period)
        tile /= tile.std() + 1e-12
        out[ch] = np.resize(tile.astype(np.float32), n)
    return out


def _drums(n, sr, p, rng, steps, step_times, to_samples) -> np.ndarray:
    """Kick, snare, percussion and hi-hat one-shots synthesized once per track and placed on the grid."""
    out = np.zeros((2, n), dtype=np.float32)
    t = np.arange(int(0.6 * sr), dtype=np.float32) / sr
    sweep = p["kick_hz"] * (1 + 2.5 * np.exp(-t / 0.03))
    kick = np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.exp(-t / p["kick_decay"])
    ts = t[: int(0.3 * sr)]
    noise = rng.standard_normal(len(ts)).astype(np.float32)
    noise = np.diff(noise, prepend=0.0)
    snare = (1 - p["snare_tone"]) * noise * np.exp(-ts / 0.06) + p["snare_tone"] * np.sin(
        2 * np.pi * 185 * ts
    ) * np.exp(-ts / 0.08)
    perc_hz = p["kick_hz"] * 5
    perc = np.sin(2 * np.pi * perc_hz * ts * (1 + 0.3 * np.exp(-ts / 0.02))) * np.exp(-ts / 0.07)
    th = t[: int(0.25 * sr)]
    hiss = np.diff(
        np.diff(rng.standard_normal(len(th)).astype(np.float32), prepend=0.0), prepend=0.0
    )
    hat = hiss / 4 * np.exp(-th / p["hat_decay"])

    kick_p, snare_p, perc_p = _PATTERNS[p["pattern"]]
    hats = p["hats"]
    hat_p = {
        "0": {},
        "4": {k: 0.9 for k in (0, 4, 8, 12)},
        "8": {k: 0.9 for k in range(0, 16, 2)},
        "16": {k: 0.85 for k in range(16)},
        "off": {k: 0.95 for k in (2, 6, 10, 14)},
        "rand": {k: 0.25 for k in range(16)},
    }[hats]
    bar_pos = steps % 16
    for shot, probs, gain, pan in (
        (kick, kick_p, 1.0, 0.0),
        (snare, snare_p, 0.7, 0.1),
        (perc, perc_p, p["perc_gain"], -0.4),
        (hat, hat_p, p["hat_gain"], 0.3),
    ):
        # A fixed bar pattern for the track (drawn from the genre's probabilities), varied a little per bar.
        bar = np.array([rng.random() < probs.get(k, 0.0) for k in range(16)])
        hits = bar[bar_pos] & (rng.random(len(steps)) > 0.05)
        hits |= rng.random(len(steps)) < p["fill"] * (0.3 if shot is kick else 1.0)
        if shot is hat and hats == "rand":
            hits = rng.random(len(steps)) < 0.25
        where = to_samples(step_times[hits])
        vel = rng.uniform(0.7, 1.0, len(where)).astype(np.float32)
        vel, where = vel[where < n], where[where < n]
        shot = shot.astype(np.float32)
        mono = np.zeros(n, dtype=np.float32)
        for start, v in zip(where, vel, strict=True):
            stop = min(n, start + len(shot))
            mono[start:stop] += v * shot[: stop - start]
        out[0] += mono * np.float32(gain * np.cos((pan + 1) * np.pi / 4))
        out[1] += mono * np.float32(gain * np.sin((pan + 1) * np.pi / 4))
    return out
