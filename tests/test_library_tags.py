"""A music library's genre tags: read in every format mutagen handles, normalised and rolled up FMA's tree,
written and undone byte for byte. Real files synthesized here (soundfile, ffmpeg for M4A), real tags
(mutagen), no ../shared."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

mutagen = pytest.importorskip("mutagen")
sf = pytest.importorskip("soundfile")

from mutagen.id3 import APIC, COMM, TALB, TCON, TIT2, TPE1, TXXX  # noqa: E402

from music_genre.data import audio, genre_vocabulary, library, tag_io  # noqa: E402
from music_genre.serving import tagging  # noqa: E402

RATE = 22050
HAS_FFMPEG = shutil.which("ffmpeg") is not None


def _signal(seconds: float = 1.0, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype("float32")


def _make(path, seconds: float = 1.0):
    suffix = path.suffix
    signal = _signal(seconds)
    if suffix == ".m4a":
        wav = path.with_suffix(".src.wav")
        sf.write(wav, signal, RATE)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", str(path)],
                       check=True)  # fmt: skip
        wav.unlink()
    elif suffix == ".opus":
        wav = path.with_suffix(".src.wav")
        sf.write(wav, signal, RATE)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "libopus", str(path)],
                       check=True)  # fmt: skip
        wav.unlink()
    elif suffix == ".ogg":
        sf.write(path, signal, RATE, format="OGG", subtype="VORBIS")
    elif suffix == ".mp3":
        sf.write(path, signal, RATE, format="MP3")
    elif suffix == ".aiff":
        sf.write(path, signal, RATE, format="AIFF")
    else:
        sf.write(path, signal, RATE)
    return path


def _id3_file(path, genres, version=4, extra=True):
    _make(path)
    loaded = mutagen.File(str(path))
    loaded.add_tags()
    loaded.tags.add(TCON(encoding=3 if version == 4 else 1, text=genres))
    if extra:
        loaded.tags.add(TIT2(encoding=1, text=["A title"]))
        loaded.tags.add(TPE1(encoding=1, text=["An artist"]))
        loaded.tags.add(TALB(encoding=1, text=["An album"]))
        loaded.tags.add(COMM(encoding=1, lang="eng", desc="", text=["a comment"]))
        loaded.tags.add(TXXX(encoding=1, desc="REPLAYGAIN_TRACK_GAIN", text=["-6.50 dB"]))
        loaded.tags.add(
            APIC(encoding=1, mime="image/png", type=3, desc="cover", data=b"\x89PNG" * 50)
        )
    loaded.save(v2_version=version)
    return path


def _vorbis_file(path, genres):
    _make(path)
    loaded = mutagen.File(str(path))
    if loaded.tags is None:
        loaded.add_tags()
    if genres:
        loaded.tags["GENRE"] = genres
    loaded.tags["TITLE"] = ["A title"]
    loaded.tags["REPLAYGAIN_TRACK_GAIN"] = ["-6.50 dB"]
    loaded.tags["COMMENT"] = ["a comment"]
    loaded.save()
    return path


# ------------------------------------------------------------------------------------------------
# reading


def test_id3v23_several_values_and_numeric_genres(tmp_path):
    path = _id3_file(tmp_path / "a.mp3", ["(17)", "Hip-Hop; Rap/Trap"], version=3)
    assert tag_io.read_tags(path).genres == ["Rock", "Hip-Hop", "Rap", "Trap"]


def test_id3v24_several_frames_values(tmp_path):
    path = _id3_file(tmp_path / "a.mp3", ["Jazz", "Blues, Soul"], version=4)
    found = tag_io.read_tags(path)
    assert found.genres == ["Jazz", "Blues", "Soul"]
    assert (found.title, found.artist, found.album) == ("A title", "An artist", "An album")


def test_id3v1_only_numeric_genre(tmp_path):
    path = _make(tmp_path / "v1.mp3")
    tag = b"TAG" + b"t".ljust(30, b"\0") + b"a".ljust(30, b"\0") + b"b".ljust(30, b"\0")
    tag += b"1999" + b"".ljust(30, b"\0") + bytes([9])  # 9: Metal
    with open(path, "ab") as handle:
        handle.write(tag)
    assert tag_io.read_tags(path).genres == ["Metal"]


def test_id3v1_numeric_genre_beside_id3v2_frames_without_a_genre(tmp_path):
    path = _id3_file(tmp_path / "v1v2.mp3", ["Jazz"], version=3)
    loaded = mutagen.File(str(path))
    loaded.tags.delall("TCON")
    loaded.save(v2_version=3, v1=0)
    tag = b"TAG" + b"t".ljust(30, b"\0") + b"a".ljust(30, b"\0") + b"b".ljust(30, b"\0")
    tag += b"1999" + b"".ljust(30, b"\0") + bytes([9])  # 9: Metal
    with open(path, "ab") as handle:
        handle.write(tag)
    found = tag_io.read_tags(path)
    assert found.genres == ["Metal"] and found.title == "A title"
    with open(path, "r+b") as handle:  # 255: no genre
        handle.seek(-1, 2)
        handle.write(bytes([255]))
    assert tag_io.read_tags(path).genres == []


@pytest.mark.parametrize("suffix", [".flac", ".ogg"])
def test_vorbis_comments_several_comments(tmp_path, suffix):
    path = _vorbis_file(tmp_path / f"a{suffix}", ["Heavy metal", "Death-Metal / Rock"])
    assert tag_io.read_tags(path).genres == ["Heavy metal", "Death-Metal", "Rock"]


@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg is not installed (it encodes the M4A and Opus)")
def test_mp4_and_opus(tmp_path):
    m4a = _make(tmp_path / "a.m4a")
    loaded = mutagen.File(str(m4a))
    loaded.tags["\xa9gen"] = ["Reggae; Dub"]
    loaded.save()
    assert tag_io.read_tags(m4a).genres == ["Reggae", "Dub"]
    opus = _vorbis_file(tmp_path / "a.opus", ["Pop"])
    assert tag_io.read_tags(opus).genres == ["Pop"]
    signal, rate = audio.load_with_rate(m4a, None)  # ffmpeg decodes what libsndfile cannot
    assert rate == RATE and abs(len(signal) / rate - 1.0) < 0.1


@pytest.mark.parametrize("suffix", [".wav", ".aiff"])
def test_wav_aiff_id3_chunks(tmp_path, suffix):
    path = _make(tmp_path / f"a{suffix}")
    loaded = mutagen.File(str(path))
    loaded.add_tags()
    loaded.tags.add(TCON(encoding=3, text=["Classical", "Opera"]))
    loaded.save()
    assert tag_io.read_tags(path).genres == ["Classical", "Opera"]


def test_unsupported_file_is_one_reason(tmp_path):
    path = tmp_path / "notes.au"
    sf.write(path, _signal(), RATE, format="AU")
    with pytest.raises(tag_io.TagError) as caught:
        tag_io.read_tags(path)
    assert caught.value.reason == tag_io.UNSUPPORTED


# ------------------------------------------------------------------------------------------------
# the library's genres


def test_spellings_merge_into_one_key():
    keys = {genre_vocabulary.genre_key(s) for s in ("Hip-Hop", "hip hop", "HIPHOP", " Hip  Hop ")}
    assert keys == {"hiphop"}
    assert genre_vocabulary.genre_key("R&B") == genre_vocabulary.genre_key("R and B")
    assert genre_vocabulary.genre_key("Drum & Bass") == genre_vocabulary.genre_key("drum and bass")


def test_rare_tags_roll_up_to_the_nearest_class():
    files = ([["Hip-Hop"]] * 3 + [["hip hop"]] * 2 + [["Rap"]] + [["Metal"]] * 3 + [["Heavy metal"]] * 2
             + [["Death-Metal"]] + [["Classical"]] * 5 + [["Opera"]] + [["Polka"]])  # fmt: skip
    vocab = genre_vocabulary.build_vocabulary(files, min_files=4)
    assert vocab.classes == ["Classical", "Hip-Hop", "Metal"]
    assert vocab.genres_of(["Death-Metal"]) == ["Metal"]
    assert vocab.genres_of(["Rap"]) == ["Hip-Hop"]
    assert vocab.genres_of(["Opera"]) == ["Classical"]
    assert vocab.genres_of(["HEAVY METAL"]) == ["Metal"]  # a synonym FMA's tree lacks
    assert vocab.genres_of(["Polka"]) == []  # too rare, no ancestor is a class
    rows = {r["raw_tag"]: r for r in vocab.table}
    assert rows["Death-Metal"] == {"raw_tag": "Death-Metal", "key": "deathmetal", "files": 1,
                                   "became": "Metal", "how": "rollup"}  # fmt: skip
    assert rows["hip hop"]["files"] == 2 and rows["hip hop"]["how"] == "class"
    assert rows["Polka"]["became"] is None and rows["Polka"]["how"] == "rare"


def test_rare_siblings_make_their_parent_a_class():
    vocab = genre_vocabulary.build_vocabulary([["Death-Metal"]] * 2 + [["Black-Metal"]] * 3, 5)
    assert vocab.classes == ["Metal"]
    assert vocab.genres_of(["Black-Metal", "Death-Metal"]) == ["Metal"]


def test_the_users_mapping_wins(tmp_path):
    mapping_file = tmp_path / "genres.yml"
    mapping_file.write_text("Rap: Spoken Beats\nvoice memo: ignore\nMetal: Rock\n")
    mapping = genre_vocabulary.load_mapping(mapping_file)
    files = [["Rap"]] * 5 + [["Metal"]] * 5 + [["voice memo"]] * 5 + [["Rock"]] * 5
    vocab = genre_vocabulary.build_vocabulary(files, 5, mapping)
    assert vocab.genres_of(["rap"]) == ["Spoken Beats"]
    assert vocab.genres_of(["Metal"]) == ["Rock"]
    assert vocab.genres_of(["Voice Memo"]) == []
    assert {r["raw_tag"]: r["how"] for r in vocab.table}["voice memo"] == "ignored"


def test_spoken_word_is_never_a_class():
    vocab = genre_vocabulary.build_vocabulary(
        [["Podcast"]] * 6 + [["Audiobook"]] * 6 + [["Rock"]] * 6, 5
    )
    assert vocab.classes == ["Rock"]
    assert vocab.is_not_music(["Podcast"]) and not vocab.is_not_music(["Rock"])


def test_library_listing_groups_albums_and_excludes_untagged(tmp_path):
    for album in ("One", "Two"):
        for n in range(3):
            path = tmp_path / "Artist" / album / f"{n}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            _vorbis_file(path, ["Rock"] if n else [])
            loaded = mutagen.File(str(path))
            loaded.tags["ALBUM"], loaded.tags["ARTIST"] = [album], ["Artist"]
            loaded.save()
    from music_genre.data.ingestion import EXCLUSION_COLUMNS, TRACK_COLUMNS

    location = {"root": str(tmp_path), "min_files_per_genre": 2}
    tracks, excluded, vocabulary = library.list_library_tracks(
        location, TRACK_COLUMNS, EXCLUSION_COLUMNS
    )
    assert sorted(tracks["album"].unique()) == ["artist / one", "artist / two"]
    assert set(tracks["genre"]) == {"Rock"} and len(tracks) == 4
    assert list(excluded["reason"]) == [library.UNTAGGED] * 2
    assert vocabulary.set_index("raw_tag").loc["Rock", "files"] == 4


# ------------------------------------------------------------------------------------------------
# writing and undoing


def _other_tags(path):
    """Every tag but the genre and the tagger's note, as comparable values."""
    loaded = mutagen.File(str(path))
    if isinstance(loaded.tags, mutagen.id3.ID3):
        return sorted(repr(f) for k, f in loaded.tags.items()
                      if not k.startswith("TCON") and tag_io.NOTE_KEY not in k)  # fmt: skip
    return sorted((k.lower(), str(v)) for k, v in loaded.tags.items()
                  if k.lower() not in ("genre", tag_io.NOTE_KEY.lower(), "\xa9gen", tag_io.MP4_NOTE.lower()))  # fmt: skip


def _decoded(path):
    return audio.load_with_rate(path, None)[0]


def _library_files(tmp_path):
    files = [
        _id3_file(tmp_path / "v23.mp3", [], version=3),
        _id3_file(tmp_path / "v24.mp3", [], version=4),
        _vorbis_file(tmp_path / "a.flac", []),
        _vorbis_file(tmp_path / "a.ogg", []),
        _id3_file(tmp_path / "a.wav", []),
    ]
    if HAS_FFMPEG:
        files.append(_make(tmp_path / "a.m4a"))
    for path in files:  # no genre at all
        loaded = mutagen.File(str(path))
        if loaded.tags is not None:
            for key in [
                k for k in loaded.tags.keys() if k.startswith("TCON") or k.lower() == "genre"
            ]:
                del loaded.tags[key]
            loaded.save()
    return files


def _plan(root, predicted="Jazz", confidence=0.9, unfamiliar=False):
    vocabulary = tagging.vocabulary_for_library(root, {"min_files_per_genre": 1})

    def predict(path):
        return {"genre": predicted, "confidence": confidence, "unfamiliar": unfamiliar,
                f"proba_{predicted}": confidence, "proba_Rock": 1 - confidence}  # fmt: skip

    return tagging.plan_library(root, vocabulary, predict, [predicted, "Rock"])


def test_write_then_undo_is_byte_identical_and_never_touches_audio(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    files = _library_files(root)
    before = {p: (p.read_bytes(), _other_tags(p), _decoded(p)) for p in files}
    rows = _plan(root)
    assert {r.action for r in rows} == {tagging.WRITE}
    journal = tmp_path / "journal.jsonl"
    tagging.apply_plan(rows, journal, "test-model")
    for path in files:
        found = tag_io.read_tags(path)
        assert found.genres == ["Jazz"]
        assert found.note.startswith("music-genre model=test-model confidence=0.900")
        assert _other_tags(path) == before[path][1]  # title, artist, cover, ReplayGain, comments
        np.testing.assert_array_equal(_decoded(path), before[path][2])
        assert path.read_bytes() != before[path][0]
    again = _plan(root)  # a rerun knows what it wrote
    assert {r.action for r in again} == {tagging.KEEP}
    assert all(r.reason.startswith(tagging.TAGGED_BEFORE) for r in again)
    results = tagging.undo_journal(journal)
    assert {r.action for r in results} == {"restored"}
    for path in files:
        assert path.read_bytes() == before[path][0]
    assert {r.action for r in tagging.undo_journal(journal)} == {"unchanged"}


def test_unfamiliar_files_are_never_written(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    path = _vorbis_file(root / "memo.flac", [])
    original = path.read_bytes()
    rows = _plan(root, unfamiliar=True)
    assert [(r.action, r.reason.split(":")[0]) for r in rows] == [
        (tagging.SKIP, tagging.UNFAMILIAR)
    ]
    tagging.apply_plan(rows, tmp_path / "j.jsonl", "m")
    assert path.read_bytes() == original


def test_uncertain_answers_are_never_written_leaning_ones_are(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    path = _vorbis_file(root / "clicks.flac", [])
    original = path.read_bytes()
    vocabulary = tagging.vocabulary_for_library(root, {"min_files_per_genre": 1})
    classes = [f"G{i}" for i in range(10)]
    spread = {f"proba_{g}": 0.84 / 9 for g in classes[1:]}

    def plan(top):  # ten genres: chance 10%; leaning needs 2 x chance and 10 points ahead
        row = {"genre": "G0", "confidence": top, "unfamiliar": False, "proba_G0": top}
        rest = (1 - top) / 9
        return tagging.plan_library(
            root, vocabulary, lambda p: {**row, **{k: rest for k in spread}}, classes
        )

    uncertain = plan(0.16)  # the clicks MP3 of the library benchmark: "Metal" at 16%
    assert [(r.action, r.reason.split(":")[0]) for r in uncertain] == [
        (tagging.SKIP, tagging.UNCERTAIN)
    ]
    tagging.apply_plan(uncertain, tmp_path / "j.jsonl", "m")
    assert path.read_bytes() == original
    assert [r.action for r in plan(0.25)] == [tagging.WRITE]  # 2.5 x chance, 17 points ahead
    assert [r.action for r in plan(0.19)] == [tagging.SKIP]  # 1.9 x chance: a guess


def test_undo_exit_status_counts_only_what_was_not_put_back(tmp_path, capsys):
    from music_genre.serving import tag_command

    root = tmp_path / "lib"
    root.mkdir()
    files = _library_files(root)
    journal = tmp_path / "j.jsonl"
    tagging.apply_plan(_plan(root), journal, "m")
    files[0].write_bytes(files[0].read_bytes())  # rewritten identically: still the tagger's
    assert tag_command.run_undo(journal, as_json=True) == tag_command.EXIT_OK
    assert tag_command.run_undo(journal, as_json=True) == tag_command.EXIT_OK  # all unchanged
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[-1]["summary"]["restored"] == 0 and lines[-1]["summary"]["skipped"] == 0
    tagging.apply_plan(_plan(root), journal2 := tmp_path / "k.jsonl", "m")
    loaded = mutagen.File(str(files[2]))
    loaded.tags["TITLE"] = ["edited by the user after tagging"]
    loaded.save()
    edited = files[2].read_bytes()
    assert tag_command.run_undo(journal2, as_json=True) == tag_command.EXIT_FAILED
    assert files[2].read_bytes() == edited  # never overwritten
    assert tag_command.run_undo(tmp_path / "missing.jsonl", as_json=True) == tag_command.EXIT_USAGE


def test_text_mode_lines_and_summary_of_a_dry_run(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    untagged = _vorbis_file(root / "untagged.flac", [])
    rock = _vorbis_file(root / "rock.flac", ["Rock"])
    rows = {Path(r.path).name: r for r in _plan(root, predicted="Jazz", confidence=0.9)}
    assert tagging.text_line(rows["untagged.flac"]) == f"{untagged}: no genre -> Jazz (90%)"
    assert tagging.text_line(rows["rock.flac"]) == (  # Rock given 10%, Jazz 90%: suspect
        f"{rock}: keep Rock; suspect: the model hears Jazz (90%)"
    )
    quiet = _plan(root, predicted="Jazz", confidence=0.52)  # 52% vs 48%: uncertain
    line = tagging.text_line(next(r for r in quiet if r.path == str(untagged)))
    assert line == f"{untagged}: skip (uncertain: the model is uncertain, a guess is not written)"
    counts = tagging.summary(list(rows.values()), written=False)
    assert counts == {"files": 2, "write": 1, "keep": 1, "skip": 0, "suspect": 1, "unfamiliar": 0,
                      "written": False}  # fmt: skip
    assert tagging.summary_text(counts) == (
        "2 files: 1 to write (dry run: --write writes them), 1 kept, 0 skipped, 1 suspect tags, "
        "0 unfamiliar"
    )
    assert tagging.summary_text({**counts, "written": True}).startswith(
        "2 files: 1 written, 1 kept"
    )


def test_a_file_changed_since_it_was_read_is_skipped(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    path = _library_files(root)[2]
    rows = _plan(root)
    loaded = mutagen.File(str(path))
    loaded.tags["TITLE"] = ["edited meanwhile"]
    loaded.save()
    edited = path.read_bytes()
    tagging.apply_plan(rows, tmp_path / "j.jsonl", "m")
    row = next(r for r in rows if r.path == str(path))
    assert row.action == tagging.SKIP and row.reason.startswith(tag_io.CHANGED)
    assert path.read_bytes() == edited


def test_read_only_file_is_one_line(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    path = _library_files(root)[2]
    path.chmod(stat.S_IRUSR)
    rows = _plan(root)
    tagging.apply_plan(rows, tmp_path / "j.jsonl", "m")
    row = next(r for r in rows if r.path == str(path))
    assert row.action == tagging.SKIP and row.reason.startswith(tag_io.READ_ONLY)


def test_a_killed_write_is_finished_by_the_same_command_and_undone(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    files = _library_files(root)
    originals = {p: p.read_bytes() for p in files}
    journal = tmp_path / "j.jsonl"
    rows = _plan(root)
    tagging.apply_plan(rows[:2], journal, "m")  # killed after two files
    # a kill between the journal line and the replace: the entry is there, the file untouched
    with open(journal, "a") as handle:
        handle.write(json.dumps({"path": str(Path(rows[-1].path).resolve()), "before": rows[-1].digest,
                                 "backup": rows[-1].digest, "genre": "Jazz", "note": "x"}) + "\n")  # fmt: skip
    tag_io.restore_bytes(
        tagging.originals_dir(journal) / rows[-1].digest, originals[Path(rows[-1].path)]
    )
    second = _plan(root)
    assert sum(r.action == tagging.WRITE for r in second) == len(files) - 2
    tagging.apply_plan(second, journal, "m")
    assert all(tag_io.read_tags(p).genres == ["Jazz"] for p in files)
    tagging.undo_journal(journal)
    assert all(p.read_bytes() == originals[p] for p in files)


def test_write_is_atomic_no_temporary_left(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    _library_files(root)
    tagging.apply_plan(_plan(root), tmp_path / "j.jsonl", "m")
    assert not [p for p in root.iterdir() if p.name.startswith(".")]
