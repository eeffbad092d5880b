"""Genre tags in a music library's own files, read and written with mutagen (the library beets and Picard
use), in each format's own way.

* MP3, WAV and AIFF: ID3 (v2.3, v2.4; an MP3's ID3v1 genre byte too). ``TCON`` frames, numeric genres such
  as ``(17)`` read as their names; the tagger's note in a ``TXXX:MUSIC_GENRE_TAGGER`` frame.
* FLAC, Ogg Vorbis, Opus: Vorbis comments ``GENRE`` (any number of them); the note in
  ``MUSIC_GENRE_TAGGER``.
* MP4/M4A: ``©gen`` (and the numeric ``gnre`` atom); the note in the freeform atom
  ``----:com.apple.iTunes:MUSIC_GENRE_TAGGER``.

Reading splits each value on the usual separators (``;``, ``/``, ``, ``, NUL) and keeps every frame.
Writing never touches the audio or any other tag: the file's bytes are read once, the tag is changed on a
temporary copy beside the file, and the copy replaces the file (``os.replace``: atomic) only when the file
on disk is still the one that was read. mutagen loads inside functions so importing this stays cheap.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

# Formats whose genre tags are read and written (by suffix, as the rest of the project finds audio).
TAG_FORMATS = {
    ".mp3": "id3",
    ".wav": "id3",
    ".aif": "id3",
    ".aiff": "id3",
    ".flac": "vorbis",
    ".ogg": "vorbis",
    ".oga": "vorbis",
    ".opus": "vorbis",
    ".m4a": "mp4",
    ".mp4": "mp4",
}
NOTE_KEY = "MUSIC_GENRE_TAGGER"  # the tagger's own field: which model wrote the genre, how sure
MP4_NOTE = f"----:com.apple.iTunes:{NOTE_KEY}"
_SEPARATORS = re.compile(r"\s*(?:;|/|\x00|,\s)\s*")
_ID3V1_NUMERIC = re.compile(r"^\(?(\d{1,3})\)?$")

# Reasons a file's tags cannot be read or written: one line each, never an exception out of a listing.
UNSUPPORTED = "unsupported_format"
UNREADABLE_TAGS = "unreadable_tags"
READ_ONLY = "read_only"
CHANGED = "changed_since_read"


class TagError(Exception):
    """A file whose tags cannot be read or written; ``reason`` is one of the module's reason codes."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class FileTags:
    """What a file's tags say: its genre values (split, in order, duplicates dropped), the album it
    belongs to, and the tagger's note when this project wrote the genre."""

    path: str
    genres: list[str] = field(default_factory=list)
    artist: str | None = None
    album: str | None = None
    title: str | None = None
    note: str | None = None


def tag_format(path: str | os.PathLike) -> str | None:
    """``id3``, ``vorbis`` or ``mp4`` for a suffix this module handles, else None."""
    return TAG_FORMATS.get(Path(path).suffix.lower())


def split_genres(values) -> list[str]:
    """Every genre in a list of tag values: each split on ``;``, ``/``, ``, `` and NUL, stripped, empty
    ones dropped, duplicates (same spelling) dropped, in order."""
    out: list[str] = []
    for value in values:
        for part in _SEPARATORS.split(str(value)):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def _id3v1_name(value: str) -> str:
    """``(17)`` or ``17`` -> ``Rock`` (ID3v1's numeric genres, as mutagen names them); else unchanged."""
    from mutagen.id3 import TCON

    match = _ID3V1_NUMERIC.match(value.strip())
    if not match:
        return value
    index = int(match.group(1))
    return TCON.GENRES[index] if index < len(TCON.GENRES) else value


def _first(values) -> str | None:
    for value in values or []:
        text = str(value).strip()
        if text:
            return text
    return None


def _load(path: Path):
    import mutagen

    kind = tag_format(path)
    if kind is None:
        raise TagError(UNSUPPORTED, f"no genre tags for {path.suffix or 'files without a suffix'}")
    try:
        loaded = mutagen.File(str(path))
    except PermissionError as err:
        raise TagError(READ_ONLY, f"cannot read: {err.strerror}") from err
    except Exception as err:  # mutagen's errors vary by format: one line, the file is left alone
        raise TagError(
            UNREADABLE_TAGS, f"cannot read its tags: {' '.join(str(err).split())}"
        ) from err
    if loaded is None:
        raise TagError(UNSUPPORTED, "not a file mutagen recognises")
    return kind, loaded


def _id3_text(tags, frame: str) -> list[str]:
    return [str(v) for f in tags.getall(frame) for v in f.text] if tags is not None else []


def read_tags(path: str | os.PathLike) -> FileTags:
    """The genre values (and artist, album, title, the tagger's note) of one file.

    Raises:
        TagError: unsupported format or unreadable tags.
    """
    path = Path(path)
    kind, loaded = _load(path)
    tags = loaded.tags
    found = FileTags(str(path))
    if kind == "id3":
        if tags is not None:
            raw = [g for frame in tags.getall("TCON") for g in frame.genres]
            found.genres = split_genres(_id3v1_name(g) for g in raw)
            found.artist = _first(_id3_text(tags, "TPE1"))
            found.album = _first(_id3_text(tags, "TALB"))
            found.title = _first(_id3_text(tags, "TIT2"))
            notes = [str(v) for f in tags.getall(f"TXXX:{NOTE_KEY}") for v in f.text]
            found.note = _first(notes)
        if not found.genres:  # mutagen folds ID3v1 in only when the file has no ID3v2 frames
            found.genres = _id3v1_genre(path)
    elif kind == "vorbis":
        if tags is not None:
            values = {}
            for key, value in tags:
                values.setdefault(key.lower(), []).append(value)
            found.genres = split_genres(_id3v1_name(g) for g in values.get("genre", []))
            found.artist = _first(values.get("artist"))
            found.album = _first(values.get("album"))
            found.title = _first(values.get("title"))
            found.note = _first(values.get(NOTE_KEY.lower()))
    else:  # mp4
        if tags is not None:
            from mutagen.id3 import TCON

            raw = list(tags.get("\xa9gen", []))
            for number in tags.get("gnre", []):  # iTunes' numeric genre: ID3v1's index + 1
                if 0 < int(number) <= len(TCON.GENRES):
                    raw.append(TCON.GENRES[int(number) - 1])
            found.genres = split_genres(raw)
            found.artist = _first(tags.get("\xa9ART"))
            found.album = _first(tags.get("\xa9alb"))
            found.title = _first(tags.get("\xa9nam"))
            notes = [bytes(v).decode("utf-8", "replace") for v in tags.get(MP4_NOTE, [])]
            found.note = _first(notes)
    return found


def _id3v1_genre(path: Path) -> list[str]:
    """The genre of the file's ID3v1 block (its last 128 bytes, ``TAG`` first; the genre byte last,
    255 for none), read directly: a file with ID3v2 frames but no genre frame still has this one."""
    from mutagen.id3 import TCON

    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() < 128:
                return []
            handle.seek(-128, os.SEEK_END)
            block = handle.read(128)
    except OSError:
        return []
    number = block[127]
    if not block.startswith(b"TAG") or number >= len(TCON.GENRES):
        return []
    return split_genres([TCON.GENRES[number]])


def file_digest(data: bytes) -> str:
    """The SHA-256 of a file's bytes (what the journal and the changed-on-disk check compare)."""
    return hashlib.sha256(data).hexdigest()


def digest_of(path: str | os.PathLike) -> str:
    return file_digest(Path(path).read_bytes())


def _set_genre(path: Path, genre: str, note: str) -> None:
    """Replace the genre tag and set the tagger's note of the file at ``path`` (a private copy)."""
    kind, loaded = _load(path)
    if kind == "id3":
        from mutagen.id3 import ID3, TCON, TXXX

        if loaded.tags is None:
            loaded.add_tags()
        tags = loaded.tags
        version = tags.version[1] if tags.version and tags.version[0] == 2 else 4
        tags.delall("TCON")
        tags.delall(f"TXXX:{NOTE_KEY}")
        tags.add(TCON(encoding=3 if version == 4 else 1, text=[genre]))
        tags.add(TXXX(encoding=3 if version == 4 else 1, desc=NOTE_KEY, text=[note]))
        if isinstance(loaded.tags, ID3) and path.suffix.lower() == ".mp3":
            loaded.save(
                v2_version=3 if version == 3 else 4, v1=1
            )  # an ID3v1 tag kept if there was one
        else:
            loaded.save(v2_version=3 if version == 3 else 4)
    elif kind == "vorbis":
        if loaded.tags is None:
            loaded.add_tags()
        for key in [k for k in loaded.tags.keys() if k.lower() in ("genre", NOTE_KEY.lower())]:
            del loaded.tags[key]
        loaded.tags["GENRE"] = [genre]
        loaded.tags[NOTE_KEY] = [note]
        loaded.save()
    else:
        from mutagen.mp4 import MP4FreeForm

        if loaded.tags is None:
            loaded.add_tags()
        for key in ("\xa9gen", "gnre", MP4_NOTE):
            loaded.tags.pop(key, None)
        loaded.tags["\xa9gen"] = [genre]
        loaded.tags[MP4_NOTE] = [MP4FreeForm(note.encode("utf-8"))]
        loaded.save()


def write_genre(path: str | os.PathLike, genre: str, note: str, expected_digest: str) -> str:
    """Write ``genre`` (replacing the file's genre values) and the tagger's ``note`` into the file's own
    tag format, atomically, if the file is still the one whose bytes hash to ``expected_digest``.

    The original bytes are copied to a temporary file beside the original, the tag is changed there,
    the copy keeps the original's permission bits, and ``os.replace`` swaps it in only if the file on
    disk has not changed meanwhile: a kill at any moment leaves the old file or the new one.

    Returns:
        The SHA-256 of the new file.

    Raises:
        TagError: ``changed_since_read``, ``read_only``, ``unsupported_format`` or ``unreadable_tags``;
            the file is then exactly as it was.
    """
    path = Path(path)
    # a file without its owner's write bit is read-only by the user's wish, even to root
    writable = path.stat().st_mode & 0o200 and os.access(path, os.W_OK)
    if not writable or not os.access(path.parent, os.W_OK):
        raise TagError(READ_ONLY, "read-only: the file or its folder cannot be written")
    original = path.read_bytes()
    if file_digest(original) != expected_digest:
        raise TagError(CHANGED, "changed on disk since it was read: left alone")
    before = path.stat()
    temporary = path.with_name(f".{path.name}.music-genre-{os.getpid()}.tmp{path.suffix}")
    try:
        temporary.write_bytes(original)
        os.chmod(temporary, before.st_mode & 0o7777)
        _set_genre(temporary, genre, note)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
            new_digest = file_digest(handle.read())
        now = path.stat()
        if (now.st_mtime_ns, now.st_size) != (before.st_mtime_ns, before.st_size):
            raise TagError(CHANGED, "changed on disk while it was being tagged: left alone")
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return new_digest


def restore_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Put ``data`` back as the file at ``path``, atomically (a temporary copy beside it, then
    ``os.replace``), keeping the file's permission bits."""
    path = Path(path)
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    temporary = path.with_name(f".{path.name}.music-genre-{os.getpid()}.undo")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
