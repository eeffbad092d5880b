"""Turn a raw collection (FMA archive or folder-per-genre tree) into a manifest of usable tracks.

Plain pandas: the data_ingestion pipeline's nodes call these functions, and so can a notebook or a test.
Every track that is dropped gets one row in the exclusions table with a reason code and a readable detail;
nothing here raises for a bad file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from music_genre.common.errors import ExpectedError
from music_genre.common.run_logging import DETAIL
from music_genre.data import audio, fma
from music_genre.data.splits import SPLIT_NAMES, stratified_group_split

log = logging.getLogger(__name__)

NO_TOP_GENRE = "no_top_genre"
# Until the manifest is written: whether a track is one of FMA's tracks of several top-level genres, kept
# (with a stand-in genre) only where the task learns every genre of a track. Never held out, so the
# new-release batches are the same whatever the task.
MULTI_GENRE = "multi_genre"

TRACK_COLUMNS = [
    "track_id",
    "path",
    "genre",
    "split",
    "artist",
    "title",
    "subset",
    "date_created",
    "genres_all",
    MULTI_GENRE,
    "album",  # the split group of a library's files (dataset.format: tags); None elsewhere
]
MANIFEST_COLUMNS = [
    "track_id",
    "path",
    "genre",
    "split",
    "duration",
    "sample_rate",
    "channels",
    "artist",
    "title",
    "subset",
    "date_created",
    "genres_all",
    "fingerprint",
]
# The usable tracks before the new releases are held out: manifest rows and the multi-genre mark.
USABLE_COLUMNS = [*MANIFEST_COLUMNS, MULTI_GENRE]
# The held-out new releases: manifest rows plus the batch (the first day of its window) they arrive in.
NEW_RELEASE_COLUMNS = [*MANIFEST_COLUMNS, "batch"]
EXCLUSION_COLUMNS = ["track_id", "path", "genre", "reason", "detail"]


class DatasetNotFoundError(ExpectedError, FileNotFoundError):
    """The configured dataset root does not hold what its format needs."""


def locate_dataset(dataset: Mapping) -> dict:
    """Resolve and check the dataset root; raise one clear line that says how to get the data (an
    empty root too: ``--params=dataset.root=`` gives None, and so does ``$(realpath missing/folder)``)."""
    given = dataset.get("root")
    if given is None or not str(given).strip():
        raise DatasetNotFoundError(
            "dataset.root is empty: pass the collection folder, `--params=dataset.root=/abs/path` (an "
            "empty value also comes from `$(realpath ...)` of a folder that does not exist)"
        )
    root = Path(str(given)).expanduser().resolve()
    data_format = dataset.get("format", "fma")
    if data_format == "fma":
        tracks_csv = root / "fma_metadata" / "tracks.csv"
        genres_csv = root / "fma_metadata" / "genres.csv"
        audio_root = root / dataset.get("audio_dir", f"fma_{dataset.get('subset', 'small')}")
        if not tracks_csv.is_file():
            raise DatasetNotFoundError(
                f"FMA metadata not found at {tracks_csv}: download it with "
                f"`kedro run --pipelines=download --env=fma_small` (or fma_medium, fma_large), or point "
                f"`--params=dataset.root=/path` at a folder holding fma_metadata/ and {audio_root.name}/"
            )
        if not audio_root.is_dir():
            raise DatasetNotFoundError(
                f"FMA audio folder not found at {audio_root}: download it with the `download` pipeline "
                f"or set dataset.audio_dir"
            )
        return {
            "name": dataset.get("name"),
            "format": "fma",
            "root": str(root),
            "tracks_csv": str(tracks_csv),
            "audio_root": str(audio_root),
            "subset": dataset.get("subset", "large"),
            "genres_csv": str(genres_csv) if genres_csv.is_file() else None,
        }
    if data_format == "folder":
        if not root.is_dir():
            raise DatasetNotFoundError(
                f"collection folder not found at {root}: pass "
                f"`--params=dataset.root=/abs/path` to a folder holding <genre>/<audio files>"
            )
        return {"name": dataset.get("name"), "format": "folder", "root": str(root)}
    if data_format == "tags":
        if not root.is_dir():
            raise DatasetNotFoundError(
                f"music library not found at {root}: pass `--params=dataset.root=/abs/path` to the "
                f"folder holding your tagged audio files (any depth)"
            )
        return {
            "name": dataset.get("name"),
            "format": "tags",
            "root": str(root),
            "min_files_per_genre": int(dataset.get("min_files_per_genre", 5)),
            "genre_map": dataset.get("genre_map"),
        }
    raise ValueError(f"unknown dataset.format {data_format!r}: use 'fma', 'folder' or 'tags'")


def list_fma_tracks(
    location: Mapping, keep_multi_genre: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tracks of the chosen subset from tracks.csv, with their audio paths and their ``genres_all`` as
    genre titles (``Rock|Punk``). Tracks without a top genre (FMA leaves genre_top empty for tracks of
    several top genres) go to the exclusions, unless ``keep_multi_genre`` (a task that learns every genre
    of a track): then those of several top-level genres are kept, marked ``multi_genre``, their ``genre``
    (used to stratify and to display) the first top-level genre of their tags."""
    tracks = fma.read_tracks(location["tracks_csv"])
    tracks = tracks[fma.in_subset(tracks[("set", "subset")], location["subset"])]
    flat = fma.flat_track_table(tracks)
    flat["path"] = [str(fma.audio_path(location["audio_root"], tid)) for tid in flat["track_id"]]
    titles = fma.genre_titles(location.get("genres_csv"))
    genre_ids = (
        tracks[("track", "genres_all")]
        if ("track", "genres_all") in tracks
        else pd.Series([[]] * len(tracks), index=tracks.index)
    )
    flat["genres_all"] = [fma.join_tags(ids, titles) for ids in genre_ids]
    has_genre = flat["genre"].notna() & (flat["genre"].astype(str).str.strip() != "")
    flat[MULTI_GENRE] = False
    if keep_multi_genre:
        first_top = [fma.first_top_level(ids) for ids in genre_ids]
        rescued = ~has_genre & pd.Series([g is not None for g in first_top])
        flat.loc[rescued, "genre"] = [g for g, r in zip(first_top, rescued, strict=True) if r]
        flat.loc[rescued, MULTI_GENRE] = True
        has_genre = has_genre | rescued
        if rescued.any():
            log.info(
                "Multi-label: kept %d tracks of several top-level genres (FMA's empty genre_top)",
                int(rescued.sum()),
            )
    excluded = flat.loc[~has_genre, ["track_id", "path", "genre"]].copy()
    excluded["reason"] = NO_TOP_GENRE
    excluded["detail"] = "no top-level genre (FMA lists several, or none)"
    kept = flat.loc[has_genre].copy()
    kept["album"] = None
    kept["split"] = kept["split"].where(kept["split"].isin(SPLIT_NAMES), None)
    return kept[TRACK_COLUMNS].reset_index(drop=True), excluded[EXCLUSION_COLUMNS].reset_index(
        drop=True
    )


def list_folder_tracks(location: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every audio file under ``<root>/<genre>/`` (any depth); the genre is the top folder's name."""
    root = Path(location["root"])
    rows = []
    for genre_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in audio.find_audio_files(genre_dir):
            if path.name.startswith("."):
                continue
            relative = path.relative_to(root).with_suffix("").as_posix()
            rows.append(
                {
                    "track_id": relative,
                    "path": str(path),
                    "genre": genre_dir.name,
                    "split": None,
                    "artist": None,
                    "title": path.stem,
                    "subset": None,
                    "date_created": None,
                    "genres_all": None,
                    MULTI_GENRE: False,
                }
            )
    if not rows:
        raise DatasetNotFoundError(
            f"no audio files under {root}/<genre>/ (looked for {', '.join(audio.AUDIO_EXTENSIONS)})"
        )
    return pd.DataFrame(rows, columns=TRACK_COLUMNS), pd.DataFrame(columns=EXCLUSION_COLUMNS)


def list_tracks(
    location: Mapping, keep_multi_genre: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The candidate tracks and the ones their metadata excludes (a folder collection has one genre per
    track: ``keep_multi_genre`` changes nothing there; a library's files keep every genre they carry in
    ``genres_all``)."""
    if location["format"] == "fma":
        return list_fma_tracks(location, keep_multi_genre)
    if location["format"] == "tags":
        return list_library(location)[:2]
    return list_folder_tracks(location)


def list_library(location: Mapping) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A library's tagged files, its untagged ones (excluded: the files to tag), and its genre
    vocabulary (for every raw tag: how many files carry it, what it became)."""
    from music_genre.data import library

    return library.list_library_tracks(location, TRACK_COLUMNS, EXCLUSION_COLUMNS)


def check_audio_files(tracks: pd.DataFrame, min_duration_s: float) -> pd.DataFrame:
    """Probe every file cheaply (header and tail only); one row per track with ``ok`` and a reason."""
    records = []
    for row in tracks.itertuples(index=False):
        record = row._asdict()
        try:
            info = audio.probe(row.path, min_duration=min_duration_s)
        except audio.AudioError as err:
            record.update(ok=False, reason=err.reason, detail=err.message)
            records.append(record)
            continue
        except OSError as err:  # permissions, vanished files: recorded, never fatal
            record.update(ok=False, reason=audio.UNREADABLE, detail=f"cannot read file: {err}")
            records.append(record)
            continue
        record.update(
            ok=True,
            reason=None,
            detail=None,
            duration=info.duration,
            sample_rate=info.sample_rate,
            channels=info.channels,
            fingerprint=audio.fingerprint(row.path),
        )
        records.append(record)
    columns = TRACK_COLUMNS + [
        "ok",
        "reason",
        "detail",
        "duration",
        "sample_rate",
        "channels",
        "fingerprint",
    ]
    return pd.DataFrame(records, columns=columns)


def assign_splits(checked: pd.DataFrame, split_params: Mapping) -> pd.DataFrame:
    """Keep an official split where the data has one; otherwise a seeded stratified split, grouped by
    artist when artists are known, computed over the usable files only. Multi-genre tracks are split
    apart from the others, so that keeping them never moves another track to another split."""
    checked = checked.copy()
    usable = checked["ok"].astype(bool)
    official = checked["split"].isin(SPLIT_NAMES)
    if usable.any() and official[usable].all():
        return checked
    multi = (
        checked[MULTI_GENRE].fillna(False).astype(bool)
        if MULTI_GENRE in checked
        else pd.Series(False, index=checked.index)
    )
    for group in (~multi, multi):
        todo = usable & ~official & group
        if not todo.any():
            continue
        albums = checked["album"] if "album" in checked else pd.Series(None, index=checked.index)
        groups = (
            # a library's album (no album in two splits), else the artist
            albums.where(albums.notna(), checked["artist"]).loc[todo].tolist()
            if split_params.get("group_by_artist", True)
            else [None] * int(todo.sum())
        )
        checked.loc[todo, "split"] = stratified_group_split(
            checked.loc[todo, "genre"].tolist(),
            groups,
            split_params.get("ratios", {"training": 0.8, "validation": 0.1, "test": 0.1}),
            int(split_params.get("seed", 42)),
        )
    return checked


def build_manifest(
    checked: pd.DataFrame, metadata_exclusions: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the checked tracks into the usable ones (the manifest's columns and the multi-genre mark)
    and the exclusions (one reason each)."""
    usable = checked["ok"].astype(bool)
    checked = checked.assign(
        **{MULTI_GENRE: checked[MULTI_GENRE].fillna(False).astype(bool)}
        if MULTI_GENRE in checked
        else {MULTI_GENRE: False}
    )
    manifest = checked.loc[usable, USABLE_COLUMNS].reset_index(drop=True)
    manifest["sample_rate"] = manifest["sample_rate"].astype("int64")
    manifest["channels"] = manifest["channels"].astype("int64")
    manifest["duration"] = manifest["duration"].astype("float64")
    exclusions = pd.concat(
        [metadata_exclusions, checked.loc[~usable, EXCLUSION_COLUMNS]], ignore_index=True
    )
    exclusions = exclusions.astype({"track_id": str, "reason": str})
    return manifest, exclusions.reset_index(drop=True)


def hold_out_new_releases(
    manifest: pd.DataFrame, new_releases: Mapping
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Take the newest tracks out of the manifest as a stream of dated batches that training never sees.

    ``holdout`` is a fraction of the dated tracks (0 = none) or a date (every track created on or after
    it); tracks created within ``batch_days`` of a batch's first day form that batch, named by the day
    (``2017-03-19``), so a daily job scores one batch after another like a service's new releases.

    The batches are drawn from the tracks of one top-level genre only: multi-genre tracks (kept only
    where the task learns every genre of a track) are never held out and never counted, so the batches,
    what the daily job scores, are the same whichever task ran ingestion.
    """
    multi = (
        manifest[MULTI_GENRE].fillna(False).astype(bool).to_numpy()
        if MULTI_GENRE in manifest
        else np.zeros(len(manifest), dtype=bool)
    )
    manifest = manifest[[c for c in manifest.columns if c != MULTI_GENRE]]
    holdout = new_releases.get("holdout") or 0
    empty = pd.DataFrame(columns=NEW_RELEASE_COLUMNS)
    dates = pd.to_datetime(manifest["date_created"], errors="coerce")
    if not holdout:
        return manifest, empty
    if dates.isna().all():
        log.warning(
            "data_ingestion.new_releases.holdout is set but this dataset has no track dates "
            "(date_created): no new releases held out"
        )
        return manifest, empty
    candidates = dates.where(~multi)  # a multi-genre track is never a new release
    if isinstance(holdout, (int, float)) and not isinstance(holdout, bool):
        if not 0 < float(holdout) < 1:
            raise ExpectedError(
                f"data_ingestion.new_releases.holdout {holdout}: give a fraction between 0 and 1 "
                "or a date such as 2017-03-01"
            )
        count = int(round(float(holdout) * int(candidates.notna().sum())))
        newest = candidates.dropna().sort_values(kind="stable").index[-count:] if count else []
        held = manifest.index.isin(newest)
    else:
        try:
            since = pd.Timestamp(str(holdout))
        except ValueError as err:
            raise ExpectedError(
                f"data_ingestion.new_releases.holdout {holdout!r} is neither a fraction nor a date"
            ) from err
        held = (candidates >= since).to_numpy()
    released = manifest.loc[held].copy()
    if released.empty:
        return manifest, empty
    days = max(1, int(new_releases.get("batch_days", 1)))
    day = dates[held].dt.normalize()
    first = day.min()
    start = first + pd.to_timedelta(((day - first).dt.days // days) * days, unit="D")
    released["batch"] = start.dt.strftime("%Y-%m-%d").to_numpy()
    released = released.assign(_date=dates[held]).sort_values(["_date", "track_id"], kind="stable")
    kept = manifest.loc[~held].reset_index(drop=True)
    log.info(
        "Held out the %d newest tracks (from %s) as %d new-release batches of %d day(s): training "
        "never sees them; `kedro run --pipelines=inference` scores the next one",
        len(released),
        released["batch"].iloc[0],
        released["batch"].nunique(),
        days,
        extra=DETAIL,
    )
    return kept, released[NEW_RELEASE_COLUMNS].reset_index(drop=True)


def summarize(name: str, manifest: pd.DataFrame, exclusions: pd.DataFrame) -> str:
    """One line: kept, excluded by reason, per-split counts."""
    total = len(manifest) + len(exclusions)
    reasons = exclusions["reason"].value_counts()
    reason_text = ", ".join(f"{reason} {count}" for reason, count in reasons.items()) or "none"
    splits = manifest["split"].value_counts()
    split_text = " / ".join(f"{split} {int(splits.get(split, 0))}" for split in SPLIT_NAMES)
    return (
        f"{name}: kept {len(manifest)} of {total} tracks in {manifest['genre'].nunique()} genres; "
        f"excluded {len(exclusions)} ({reason_text}); splits {split_text}"
    )


def exclusion_lines(exclusions: pd.DataFrame, examples: int = 3) -> list[str]:
    """One line per exclusion reason: its count, what it means (the first track's detail) and the first
    few track ids; the full list stays in the ``exclusions`` table. On fma_large, tens of thousands of
    tracks have no single top genre: one line, not one per track."""
    if exclusions is None or exclusions.empty:
        return []
    lines = []
    for reason, group in exclusions.groupby("reason", sort=False):
        ids = [str(track) for track in group["track_id"].head(examples)]
        more = f" and {len(group) - len(ids)} more" if len(group) > len(ids) else ""
        detail = " ".join(str(group["detail"].iloc[0]).split())
        lines.append(
            f"Excluded {len(group)} track{'s' if len(group) != 1 else ''} ({reason}: {detail}): "
            f"{', '.join(ids)}{more}"
        )
    return lines
