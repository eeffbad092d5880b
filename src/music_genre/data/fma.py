"""FMA's metadata formats (tracks.csv, genres.csv) and archive layout, read and written exactly.

Plain pandas, no Kedro: the ingestion pipeline, the sample generator and the tests share it.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pandas as pd

# tracks.csv: 52 columns under a 2-row header (group, name), in file order.
TRACKS_COLUMNS: list[tuple[str, str]] = (
    [
        ("album", name)
        for name in (
            "comments date_created date_released engineer favorites id information listens "
            "producer tags title tracks type"
        ).split()
    ]
    + [
        ("artist", name)
        for name in (
            "active_year_begin active_year_end associated_labels bio comments date_created favorites "
            "id latitude location longitude members name related_projects tags website "
            "wikipedia_page"
        ).split()
    ]
    + [("set", "split"), ("set", "subset")]
    + [
        ("track", name)
        for name in (
            "bit_rate comments composer date_created date_recorded duration favorites genre_top "
            "genres genres_all information interest language_code license listens lyricist number "
            "publisher tags title"
        ).split()
    ]
)
LIST_COLUMNS = [
    ("track", "tags"),
    ("album", "tags"),
    ("artist", "tags"),
    ("track", "genres"),
    ("track", "genres_all"),
]
GENRES_COLUMNS = ["genre_id", "#tracks", "parent", "title", "top_level"]

# The 16 top-level genres of FMA with their official ids (genres.csv rows whose parent is 0).
TOP_LEVEL_GENRES: dict[int, str] = {
    2: "International",
    3: "Blues",
    4: "Jazz",
    5: "Classical",
    8: "Old-Time / Historic",
    9: "Country",
    10: "Pop",
    12: "Rock",
    13: "Easy Listening",
    14: "Soul-RnB",
    15: "Electronic",
    17: "Folk",
    20: "Spoken",
    21: "Hip-Hop",
    38: "Experimental",
    1235: "Instrumental",
}

SUBSETS = ("small", "medium", "large")
SPLITS = ("training", "validation", "test")


def audio_relpath(track_id: int | str) -> str:
    """``NNN/NNNNNN.mp3``: the id zero-padded to 6 digits, filed under its first 3 digits."""
    padded = f"{int(track_id):06d}"
    return f"{padded[:3]}/{padded}.mp3"


def audio_path(audio_root: str | os.PathLike, track_id: int | str) -> Path:
    return Path(audio_root) / audio_relpath(track_id)


def read_tracks(path: str | os.PathLike) -> pd.DataFrame:
    """tracks.csv as FMA's own ``utils.load`` gives it: 2-level columns, list literals parsed."""
    tracks = pd.read_csv(path, index_col=0, header=[0, 1], low_memory=False)
    missing = [col for col in [("set", "subset"), ("track", "genre_top")] if col not in tracks]
    if missing:
        raise ValueError(
            f"{path}: not an FMA tracks.csv (no column {', '.join('/'.join(c) for c in missing)})"
        )
    for column in LIST_COLUMNS:
        if column in tracks:
            tracks[column] = tracks[column].map(_parse_list)
    tracks.index = tracks.index.astype(int)
    tracks.index.name = "track_id"
    return tracks


def _parse_list(value) -> list:
    if isinstance(value, list):
        return value
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return []
    return list(ast.literal_eval(value))


def write_tracks(tracks: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write in tracks.csv's exact layout: group row, name row, a ``track_id`` row, then the tracks."""
    frame = tracks.reindex(columns=pd.MultiIndex.from_tuples(TRACKS_COLUMNS)).copy()
    for column in LIST_COLUMNS:
        frame[column] = frame[column].map(lambda v: str(list(v)) if isinstance(v, list) else v)
    frame.index.name = "track_id"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path)


def read_genres(path: str | os.PathLike) -> pd.DataFrame:
    genres = pd.read_csv(path)
    if list(genres.columns) != GENRES_COLUMNS:
        raise ValueError(f"{path}: not an FMA genres.csv (columns {list(genres.columns)})")
    return genres


def write_genres(genres: pd.DataFrame, path: str | os.PathLike) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    genres[GENRES_COLUMNS].to_csv(path, index=False)


def genre_titles(genres_csv: str | os.PathLike | None) -> dict[int, str]:
    """Genre id -> title from genres.csv; without the file, the 16 official top-level genres only."""
    titles = dict(TOP_LEVEL_GENRES)
    if genres_csv and Path(genres_csv).is_file():
        genres = read_genres(genres_csv)
        titles.update(zip(genres["genre_id"].astype(int), genres["title"].astype(str), strict=True))
    return titles


def join_tags(genre_ids, titles: dict[int, str]) -> str | None:
    """A track's ``genres_all`` as ``Electronic|Techno``: titles in id order (ids without a title are
    left out); None for a track with none."""
    names = [titles[int(g)] for g in sorted({int(g) for g in genre_ids or []}) if int(g) in titles]
    return "|".join(names) or None


def first_top_level(genre_ids) -> str | None:
    """The first top-level genre among ``genre_ids`` (``genres_all`` holds every ancestor): a track's
    stand-in ``genre`` where FMA gives it several."""
    for genre_id in genre_ids or []:
        if int(genre_id) in TOP_LEVEL_GENRES:
            return TOP_LEVEL_GENRES[int(genre_id)]
    return None


def in_subset(subsets: pd.Series, subset: str) -> pd.Series:
    """Tracks of ``subset``: the column holds the smallest subset a track is in (small ⊂ medium ⊂ large)."""
    if subset not in SUBSETS:
        raise ValueError(f"unknown FMA subset {subset!r}: choose one of {', '.join(SUBSETS)}")
    allowed = SUBSETS[: SUBSETS.index(subset) + 1]
    return subsets.isin(allowed)


def flat_track_table(tracks: pd.DataFrame) -> pd.DataFrame:
    """The few columns ingestion needs, flat, one row per track (track_id as text)."""

    def column(group: str, name: str) -> pd.Series:
        if (group, name) in tracks:
            return tracks[(group, name)]
        return pd.Series([None] * len(tracks), index=tracks.index)

    artist_id = column("artist", "id")
    flat = pd.DataFrame(
        {
            "track_id": tracks.index.astype(int).astype(str),
            "genre": column("track", "genre_top").astype("object"),
            "split": column("set", "split").astype("object"),
            "subset": column("set", "subset").astype("object"),
            "artist": artist_id.map(lambda v: None if pd.isna(v) else str(int(v))),
            "artist_name": column("artist", "name").astype("object"),
            "title": column("track", "title").astype("object"),
            "date_created": column("track", "date_created").astype("object"),
        }
    )
    flat = flat.reset_index(drop=True)
    for name in ("genre", "split", "subset", "artist_name", "title", "date_created"):
        flat[name] = flat[name].where(flat[name].notna(), None)
    return flat
