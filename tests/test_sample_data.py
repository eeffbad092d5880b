"""The built-in sample archive: real files, FMA's formats, planted faults, determinism."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from music_genre.data import audio, fma
from music_genre.sample import (
    DEFAULT_GENRES,
    FAULT_KINDS,
    ensure_sample_archive,
    make_sample_archive,
    sample_is_current,
)

PARAMS = {"seed": 7, "tracks_per_genre": 4, "clip_seconds": 6.0}
N_MULTI = round(0.2 * 4 * 8)  # multi_genre_share (default 0.2) x tracks_per_genre x genres = 6
DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    summary = make_sample_archive(root, **PARAMS)
    raw = pd.read_csv(root / "fma_metadata" / "tracks.csv", index_col=0, header=[0, 1])
    return root, summary, raw


def all_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_tracks_csv_has_fma_header_and_columns(sample):
    root, summary, raw = sample
    lines = (root / "fma_metadata" / "tracks.csv").read_text().splitlines()
    assert lines[0].startswith(",album,album,")
    assert lines[1].startswith(",comments,date_created,date_released,")
    assert lines[2] == "track_id" + "," * 52
    assert list(raw.columns) == fma.TRACKS_COLUMNS
    assert raw.index.name == "track_id"
    assert raw.index.is_monotonic_increasing and raw.index.is_unique
    assert len(raw) == summary["tracks"] == 8 * 4 + N_MULTI
    assert raw.index.min() >= 2 and raw.index.max() <= 155_000
    # Spread over several NNN folders, like real FMA ids.
    assert len({fma.audio_relpath(i)[:3] for i in raw.index}) >= 4


def test_values_have_fma_forms(sample):
    _, _, raw = sample
    for column in [
        ("track", "genres"),
        ("track", "genres_all"),
        ("track", "tags"),
        ("album", "tags"),
    ]:
        parsed = raw[column].map(ast.literal_eval)
        assert parsed.map(lambda v: isinstance(v, list)).all()
    genres = raw[("track", "genres")].map(ast.literal_eval)
    genres_all = raw[("track", "genres_all")].map(ast.literal_eval)
    assert genres.map(len).min() >= 1
    assert all(set(g) <= set(a) for g, a in zip(genres, genres_all, strict=True))
    assert raw[("track", "genres")].str.match(r"^\[\d+(, \d+)*\]$").all()
    assert (raw[("track", "bit_rate")] == 256_000).all()
    assert (raw[("track", "duration")] > PARAMS["clip_seconds"]).all()
    assert raw[("track", "date_created")].map(lambda s: bool(DATE.match(s))).all()
    assert raw[("album", "date_created")].map(lambda s: bool(DATE.match(s))).all()
    tops_of = genres_all.map(lambda a: sorted(set(a) & set(fma.TOP_LEVEL_GENRES)))
    with_top = raw[("track", "genre_top")].notna()
    # genre_top is the single top-level genre in genres_all, and empty when there are several.
    assert (tops_of[with_top].map(len) == 1).all()
    assert (
        tops_of[with_top].map(lambda t: fma.TOP_LEVEL_GENRES[t[0]])
        == raw.loc[with_top, ("track", "genre_top")]
    ).all()
    assert (tops_of[~with_top].map(len) >= 2).all()
    # read_tracks (what ingestion uses) gets parsed lists and int ids.
    tracks = fma.read_tracks(Path(sample[0]) / "fma_metadata" / "tracks.csv")
    assert tracks[("track", "genres")].map(lambda v: isinstance(v, list)).all()
    assert sorted(tracks[("track", "genre_top")].dropna().unique()) == sorted(DEFAULT_GENRES)


def test_subsets_nest_and_small_is_balanced(sample):
    _, _, raw = sample
    subset = raw[("set", "subset")]
    assert set(subset) <= set(fma.SUBSETS)
    small = set(raw.index[fma.in_subset(subset, "small")])
    medium = set(raw.index[fma.in_subset(subset, "medium")])
    large = set(raw.index[fma.in_subset(subset, "large")])
    assert small < medium < large == set(raw.index)
    with_top = raw[raw[("track", "genre_top")].notna()]
    per_genre = (
        with_top[with_top[("set", "subset")] == "small"].groupby(("track", "genre_top")).size()
    )
    assert per_genre.to_dict() == dict.fromkeys(DEFAULT_GENRES, 2)  # half of 4, in every genre
    assert (raw.loc[raw[("track", "genre_top")].isna(), ("set", "subset")] == "large").all()


def test_split_is_artist_filtered(sample):
    _, summary, raw = sample
    split = raw[("set", "split")]
    assert set(split) == set(fma.SPLITS)
    by_artist = raw.groupby(raw[("artist", "id")])
    assert (by_artist[[("set", "split")]].nunique().iloc[:, 0] == 1).all()
    with_top = raw[raw[("track", "genre_top")].notna()]
    artists = with_top.groupby(with_top[("artist", "id")])
    assert (artists[[("track", "genre_top")]].nunique().iloc[:, 0] == 1).all()
    assert artists.size().between(2, 5).all()
    assert summary["splits"] == {s: int((split == s).sum()) for s in fma.SPLITS}


def test_split_proportions_at_default_size():
    """80/10/10 per genre with whole artists, computed without writing audio (metadata only)."""
    from music_genre.sample import _build_metadata, _normalise_params

    tracks, faults, _ = _build_metadata(_normalise_params(seed=1))
    with_top = tracks[tracks[("track", "genre_top")].notna()]
    counts = with_top.groupby([("track", "genre_top"), ("set", "split")]).size().unstack()
    assert (counts["training"] == 19).all() and (counts["validation"] == 3).all()
    assert (counts["test"] == 3).all()
    subsets = with_top.groupby([("track", "genre_top"), ("set", "subset")]).size().unstack()
    assert (subsets["small"] == 12).all() and (subsets["medium"] == 6).all()
    assert (subsets["large"] == 7).all()
    multi = tracks[tracks[("track", "genre_top")].isna()]
    assert len(multi) == round(0.2 * 25 * 8) == 40
    assert multi[("set", "split")].value_counts().to_dict() == {
        "training": 28,
        "validation": 6,
        "test": 6,
    }
    assert sorted(faults) == sorted(FAULT_KINDS)


def test_genres_csv(sample):
    root, _, raw = sample
    genres = pd.read_csv(root / "fma_metadata" / "genres.csv")
    assert list(genres.columns) == fma.GENRES_COLUMNS
    assert genres["genre_id"].is_unique
    tops = genres[genres["parent"] == 0]
    assert dict(zip(tops["genre_id"], tops["title"], strict=True)) == fma.TOP_LEVEL_GENRES
    assert (tops["top_level"] == tops["genre_id"]).all()
    assert set(genres["parent"]) - {0} <= set(genres["genre_id"])
    assert genres.loc[genres["genre_id"] == 1235, "title"].item() == "Instrumental"
    assert genres.loc[genres["genre_id"] == 103, ["parent", "top_level"]].values.tolist() == [
        [17, 17]
    ]
    genres_all = raw[("track", "genres_all")].map(ast.literal_eval)
    used = {g for lst in genres_all for g in lst}
    assert used <= set(genres["genre_id"])
    for row in genres.itertuples(index=False):
        assert row[1] == sum(row.genre_id in lst for lst in genres_all)


def test_audio_files_are_stereo_mp3_of_the_requested_length(sample):
    root, summary, raw = sample
    faulty = {i for ids in summary["faults"].values() for i in ids}
    files = sorted((root / "fma_sample").rglob("*.mp3"))
    assert len(files) == summary["audio_files"] == len(raw) - 1  # the missing one
    for track_id in raw.index:
        path = fma.audio_path(root / "fma_sample", track_id)
        if track_id in faulty:
            continue
        info = sf.info(str(path))
        assert info.format == "MP3"
        assert info.samplerate == 44100 and info.channels == 2
        assert info.duration == pytest.approx(PARAMS["clip_seconds"], abs=0.15)
        # 256 kbps constant bit rate: size follows the duration.
        assert path.stat().st_size == pytest.approx(256_000 / 8 * info.duration, rel=0.02)
    assert not [
        p for p in root.rglob("*") if ".tmp" in p.name or p.name.startswith(".sample-build")
    ]


def test_planted_faults_are_classified_by_probe(sample):
    root, summary, raw = sample
    faults = summary["faults"]
    assert sorted(faults) == sorted(FAULT_KINDS)
    assert all(len(ids) == 1 for ids in faults.values())
    ids = [ids[0] for ids in faults.values()]
    rows = raw.loc[ids]
    assert (rows[("set", "subset")] == "small").all()
    assert (rows[("set", "split")] == "training").all()
    assert rows[("track", "genre_top")].nunique() == 4  # four different genres

    def reason(track_id, min_duration=0.0):
        try:
            audio.probe(fma.audio_path(root / "fma_sample", track_id), min_duration=min_duration)
        except audio.AudioError as err:
            return err.reason
        return "ok"

    assert reason(faults["empty_file"][0]) == audio.EMPTY_FILE
    assert (fma.audio_path(root / "fma_sample", faults["empty_file"][0])).stat().st_size == 0
    assert reason(faults["truncated"][0]) == audio.TRUNCATED
    truncated = fma.audio_path(root / "fma_sample", faults["truncated"][0])
    assert audio.mp3_truncated_bytes(truncated) > 0
    assert reason(faults["missing_file"][0]) == audio.MISSING_FILE
    short = faults["too_short"][0]
    assert reason(short, min_duration=4.0) == audio.TOO_SHORT
    assert reason(short) == "ok"  # a valid MP3, just short
    assert summary["short_clip_seconds"] == 1.5
    info = audio.probe(fma.audio_path(root / "fma_sample", short))
    assert info.duration == pytest.approx(1.5, abs=0.1)
    healthy = [i for i in raw.index if i not in set(ids)]
    assert all(reason(i, min_duration=5.0) == "ok" for i in healthy)


def test_multi_genre_tracks_list_both_genres_and_have_audio(sample):
    root, summary, raw = sample
    multi = summary["multi_genre"]
    assert len(multi) == N_MULTI
    assert sorted(int(i) for i in multi) == sorted(summary["no_genre_top"])
    assert sorted(summary["no_genre_top"]) == sorted(raw.index[raw[("track", "genre_top")].isna()])
    rows = raw.loc[[int(i) for i in multi]]
    # every split holds some: a multi-label model learns on training, tunes on validation, scores on test
    assert rows[("set", "split")].value_counts().to_dict() == {
        "training": 4,
        "validation": 1,
        "test": 1,
    }
    assert (rows[("set", "subset")] == "large").all()
    assert rows[("track", "genre_top")].isna().all()
    genres_csv = pd.read_csv(root / "fma_metadata" / "genres.csv", index_col="genre_id")
    top_id = {title: gid for gid, title in fma.TOP_LEVEL_GENRES.items()}
    for track_id, pair in multi.items():
        a, b = pair
        assert a != b and {a, b} <= set(DEFAULT_GENRES)
        row = raw.loc[int(track_id)]
        genres = ast.literal_eval(row[("track", "genres")])
        genres_all = ast.literal_eval(row[("track", "genres_all")])
        assert {top_id[a], top_id[b]} <= set(genres_all)
        assert set(genres_all) & set(fma.TOP_LEVEL_GENRES) == {top_id[a], top_id[b]}
        # one genre (or sub-genre) of each top-level genre, like real FMA
        assert sorted(genres_csv.loc[g, "top_level"] for g in genres) == sorted(
            [top_id[a], top_id[b]]
        )
        path = fma.audio_path(root / "fma_sample", int(track_id))
        signal = audio.load(path, sample_rate=None)
        assert len(signal) / 44100 == pytest.approx(PARAMS["clip_seconds"], abs=0.15)
        assert np.sqrt(np.mean(signal**2)) > 1e-3  # not silence
    flat = fma.flat_track_table(fma.read_tracks(root / "fma_metadata" / "tracks.csv"))
    assert flat["genre"].isna().sum() == N_MULTI


@pytest.mark.parametrize(
    ("tracks_per_genre", "share", "expected"),
    [
        (25, 0.2, {"training": 28, "validation": 6, "test": 6}),
        (20, 0.2, {"training": 22, "validation": 5, "test": 5}),
        (20, 0.5, {"training": 56, "validation": 12, "test": 12}),
        (1, 0.375, {"training": 1, "validation": 1, "test": 1}),  # 3: one held out in each
        (1, 0.25, {"training": 2, "validation": 0, "test": 0}),
        (20, 0.0, {"training": 0, "validation": 0, "test": 0}),
    ],
)
def test_multi_genre_count_splits_and_pairs(tracks_per_genre, share, expected):
    """Metadata only: count = round(share x tracks_per_genre x genres), ~70/15/15, every pair in turn."""
    from itertools import combinations

    from music_genre.sample import _build_metadata, _normalise_params

    params = _normalise_params(
        seed=3, tracks_per_genre=tracks_per_genre, multi_genre_share=share, plant_faults=False
    )
    tracks, _, mixes = _build_metadata(params)
    multi = tracks[tracks[("track", "genre_top")].isna()]
    count = round(share * tracks_per_genre * len(DEFAULT_GENRES))
    assert len(multi) == count == sum(expected.values())
    assert multi[("set", "split")].value_counts().reindex(fma.SPLITS, fill_value=0).to_dict() == (
        expected
    )
    assert (multi[("set", "subset")] == "large").all()
    # albums of one artist, within one split
    by_album = multi.groupby(multi[("album", "id")])
    assert (by_album[[("artist", "id")]].nunique().iloc[:, 0] == 1).all()
    assert (by_album[[("set", "split")]].nunique().iloc[:, 0] == 1).all()
    # the first len(genres) // 2 pair adjacent genres (format 1's extra tracks, kept so that single-genre
    # tracks and faults do not change); the rest cycle through all 28 unordered pairs before any repeats
    pairs = [frozenset(mixes[i]) for i in multi.index]
    assert all(len(p) == 2 for p in pairs)
    all_pairs = {frozenset(p) for p in combinations(DEFAULT_GENRES, 2)}
    assert set(pairs) <= all_pairs
    first = min(len(DEFAULT_GENRES) // 2, expected["training"])
    adjacent = [frozenset(DEFAULT_GENRES[2 * i : 2 * i + 2]) for i in range(first)]
    rest = list(pairs)
    for pair in adjacent:
        rest.remove(pair)
    assert len(set(rest)) == min(len(rest), len(all_pairs))
    if len(rest) >= len(all_pairs):
        per_pair = pd.Series(rest).value_counts()
        assert per_pair.max() - per_pair.min() <= 1


def test_multi_genre_share_leaves_single_genre_tracks_and_faults_alone():
    from music_genre.sample import _build_metadata, _normalise_params

    with_multi, faults, _ = _build_metadata(_normalise_params(seed=5, tracks_per_genre=8))
    more, faults_more, _ = _build_metadata(
        _normalise_params(seed=5, tracks_per_genre=8, multi_genre_share=0.6)
    )
    assert (
        more[("track", "genre_top")].isna().sum() > with_multi[("track", "genre_top")].isna().sum()
    )
    single = with_multi[with_multi[("track", "genre_top")].notna()]
    assert single.equals(more[more[("track", "genre_top")].notna()])
    assert len(single) == 8 * 8
    assert faults == faults_more
    without, _, mixes_0 = _build_metadata(
        _normalise_params(seed=5, tracks_per_genre=8, multi_genre_share=0)
    )
    assert without[("track", "genre_top")].notna().all() and len(without) == 8 * 8
    assert all(len(m) == 1 for m in mixes_0.values())


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan"), "many", None])
def test_invalid_multi_genre_share_is_refused(tmp_path, share):
    with pytest.raises(ValueError, match="multi_genre_share"):
        make_sample_archive(tmp_path / "s", multi_genre_share=share)
    assert not (tmp_path / "s").exists()
    with pytest.raises(ValueError, match="multi_genre_share"):
        sample_is_current(tmp_path, multi_genre_share=share)


def test_deterministic_and_rebuilt_cleanly(sample, tmp_path):
    root, _, _ = sample
    again = tmp_path / "again"
    make_sample_archive(again, **PARAMS)
    first, second = all_files(root), all_files(again)
    assert first.keys() == second.keys()
    assert all(first[name] == second[name] for name in first)  # byte-identical, MP3s included

    # Another seed into the same root replaces the whole sample: other ids, other bytes, no leftovers.
    summary = make_sample_archive(again, **{**PARAMS, "seed": 8})
    third = all_files(again)
    assert third["fma_metadata/tracks.csv"] != first["fma_metadata/tracks.csv"]
    mp3s = {name for name in third if name.endswith(".mp3")}
    assert len(mp3s) == summary["audio_files"]
    info = json.loads((again / "sample_info.json").read_text())
    assert mp3s == {f"fma_sample/{rel}" for rel in info["audio_files"]}
    shared = mp3s & set(first)
    assert all(first[name] != third[name] for name in shared)
    assert {p.name for p in again.iterdir()} == {"fma_metadata", "fma_sample", "sample_info.json"}


def test_sample_is_current(sample, tmp_path):
    root, _, _ = sample
    assert sample_is_current(root, **PARAMS)
    assert sample_is_current(root, **PARAMS, genres=list(DEFAULT_GENRES), sample_rate=44100)
    assert not sample_is_current(root, **{**PARAMS, "seed": 8})
    assert not sample_is_current(root, **{**PARAMS, "clip_seconds": 30.0})
    assert not sample_is_current(root)  # defaults: 25 tracks per genre, 30 s
    assert not sample_is_current(tmp_path / "nothing", **PARAMS)
    with pytest.raises(ValueError, match="unknown genre"):
        sample_is_current(root, **{**PARAMS, "genres": ["Polka"]})

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    assert sample_is_current(copy, **PARAMS)
    summary = ensure_sample_archive(copy, **PARAMS)
    assert summary["rebuilt"] is False and summary["tracks"] == 8 * 4 + N_MULTI
    next(iter(sorted((copy / "fma_sample").rglob("*.mp3")))).unlink()
    assert not sample_is_current(copy, **PARAMS)
    (copy / "sample_info.json").unlink()
    assert not sample_is_current(copy, **PARAMS)


def test_fewer_genres_without_faults(tmp_path):
    summary = make_sample_archive(
        tmp_path, genres=["Rock", "Jazz"], tracks_per_genre=6, clip_seconds=2.0, plant_faults=False
    )
    assert summary["faults"] == {}
    assert summary["genre_top"] == {"Rock": 6, "Jazz": 6}
    # round(0.2 x 6 x 2) = 2 multi-genre tracks: fewer than 3, so both in training
    assert summary["audio_files"] == summary["tracks"] == 12 + 2
    assert summary["splits"] == {"training": 10, "validation": 2, "test": 2}
    (pair,) = {tuple(p) for p in summary["multi_genre"].values()}
    assert pair == ("Rock", "Jazz")
    assert all(audio.probe(p, min_duration=1.9) for p in (tmp_path / "fma_sample").rglob("*.mp3"))


def test_multi_genre_share_zero_and_a_single_genre_give_none(tmp_path):
    small = {"tracks_per_genre": 3, "clip_seconds": 1.0, "plant_faults": False}
    summary = make_sample_archive(
        tmp_path / "zero", genres=["Rock", "Folk"], multi_genre_share=0, **small
    )
    assert summary["multi_genre"] == {} and summary["no_genre_top"] == []
    assert summary["tracks"] == summary["audio_files"] == 6
    summary = make_sample_archive(tmp_path / "one", genres=["Rock"], multi_genre_share=1.0, **small)
    assert summary["multi_genre"] == {} and summary["tracks"] == 3
