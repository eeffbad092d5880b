"""A music library as a collection (``dataset.format: tags``): every audio file under the root, its genre
learned from the genre tags it already carries.

Each file's tags are read by :mod:`music_genre.data.tag_io`; the library's own genres come from
:mod:`music_genre.data.genre_vocabulary` (spellings merged, rare tags rolled up FMA's tree, the user's
mapping first). A file with a usable genre is a training candidate; one without is excluded with reason
``untagged``: it is what ``music-genre tag`` proposes a genre for. Files of one album share a split group
(``album``: artist + album tag, else the folder), so no album is in two splits.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from music_genre.common.errors import ExpectedError
from music_genre.data import audio, genre_vocabulary, tag_io
from music_genre.data.labels import SEPARATOR

UNTAGGED = "untagged"  # no usable genre tag: the files to tag
NOT_MUSIC = (
    "not_music"  # tagged as spoken word, a podcast, sound effects: neither learned nor tagged
)
TAG_READ_ERROR = "unreadable_tags"
LIBRARY_COLUMNS = ["path", "genres_raw", "artist", "album", "title", "tag_error"]


class LibraryNotFoundError(ExpectedError, FileNotFoundError):
    """The library root holds no audio file this project reads."""


def library_files(root: str | Path) -> list[Path]:
    """Every audio file under ``root`` whose tags this project reads, sorted; hidden files skipped."""
    root = Path(root)
    return [
        p
        for p in audio.find_audio_files(root)
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]


def read_library(root: str | Path) -> pd.DataFrame:
    """One row per audio file: its raw genre values (a list), artist, album, title, and the reason its
    tags could not be read (None when they were)."""
    rows = []
    for path in library_files(root):
        try:
            found = tag_io.read_tags(path)
        except tag_io.TagError as err:
            rows.append(dict.fromkeys(LIBRARY_COLUMNS) | {"path": str(path), "genres_raw": [],
                                                          "tag_error": err.message})  # fmt: skip
            continue
        rows.append(
            {
                "path": str(path),
                "genres_raw": found.genres,
                "artist": found.artist,
                "album": found.album,
                "title": found.title,
                "tag_error": None,
            }
        )
    return pd.DataFrame(rows, columns=LIBRARY_COLUMNS)


def album_group(path: str, artist: str | None, album: str | None, root: str | Path) -> str:
    """The split group of a file: ``artist / album`` from its tags, else its folder under the root."""
    if album:
        return f"{(artist or '').strip().lower()} / {album.strip().lower()}"
    return Path(path).parent.relative_to(root).as_posix() or "."


def vocabulary_for(files: pd.DataFrame, library: Mapping) -> genre_vocabulary.Vocabulary:
    """The library's genres from its files' raw tags, with the environment's settings
    (``min_files_per_genre``, ``genre_map``)."""
    mapping = genre_vocabulary.load_mapping(library.get("genre_map"))
    return genre_vocabulary.build_vocabulary(
        files["genres_raw"].tolist(), int(library.get("min_files_per_genre", 5)), mapping
    )


def list_library_tracks(
    location: Mapping, track_columns: list[str], exclusion_columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The tagged files as candidate tracks (``genre`` the first class its tags name, ``genres_all`` all
    of them joined by ``|``), the untagged and unreadable ones as exclusions, and the vocabulary table."""
    root = Path(location["root"])
    files = read_library(root)
    if files.empty:
        looked = ", ".join(sorted(tag_io.TAG_FORMATS))
        raise LibraryNotFoundError(f"no audio files under {root} (looked for {looked})")
    vocabulary = vocabulary_for(files, location)
    rows, excluded = [], []
    for row in files.itertuples(index=False):
        track_id = Path(row.path).relative_to(root).with_suffix("").as_posix()
        genres = vocabulary.genres_of(row.genres_raw)
        if row.tag_error or not genres:
            raw = ", ".join(row.genres_raw) or "none"
            if row.tag_error:
                reason, detail = TAG_READ_ERROR, row.tag_error
            elif vocabulary.is_not_music(row.genres_raw):
                reason, detail = NOT_MUSIC, f"tagged as not music ({raw}): not learned, not tagged"
            else:
                reason, detail = UNTAGGED, f"no usable genre tag (tags: {raw}): a file to tag"
            excluded.append({"track_id": track_id, "path": row.path, "genre": None,
                             "reason": reason, "detail": detail})  # fmt: skip
            continue
        rows.append(
            {
                "track_id": track_id,
                "path": row.path,
                "genre": genres[0],
                "split": None,
                "artist": row.artist,
                "title": row.title or Path(row.path).stem,
                "subset": None,
                "date_created": None,
                "genres_all": SEPARATOR.join(genres),
                "multi_genre": False,
                "album": album_group(row.path, row.artist, row.album, root),
            }
        )
    table = pd.DataFrame(vocabulary.table, columns=genre_vocabulary.VOCABULARY_COLUMNS)
    return (
        pd.DataFrame(rows, columns=track_columns),
        pd.DataFrame(excluded, columns=exclusion_columns),
        table,
    )
