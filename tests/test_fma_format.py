"""FMA's tracks.csv / genres.csv read exactly as the real files are laid out."""

from __future__ import annotations

import pandas as pd
import pytest

# tracks.csv as the real file writes it: group row, name row, a track_id row, then tracks. The values of
from music_genre.data import fma, ingestion

# tracks.csv as the real file writes it: group row, name row, a track_id row, then tracks. The values of
# tracks 2, 10 and 20 are the ones fma-format.md quotes (bit_rate, duration, genre_top, genres, genres_all,
# title, subset, split); the rest are filled in the real file's style (quoted lists, text dates, blanks).
REAL_FORMAT_TRACKS_CSV = (
    ","
    + ",".join(group for group, _ in fma.TRACKS_COLUMNS)
    + "\n,"
    + ",".join(name for _, name in fma.TRACKS_COLUMNS)
    + "\ntrack_id"
    + "," * len(fma.TRACKS_COLUMNS)
    + "\n"
    # album(13) artist(17) set(2) track(20)
    + "2,0,2008-11-26 01:44:45,2009-01-05 00:00:00,,4,1,,6073,,[],AWOL - A Way Of Life,7,Album,"
    + "2006-01-01 00:00:00,,,,0,2008-11-26 01:42:32,9,1,40.05,New Jersey,-74.00,,AWOL,,[],,,"
    + "training,small,"
    + "256000,0,,2008-11-26 01:48:12,2008-11-26 00:00:00,168,2,Hip-Hop,[21],[21],,4656,en,"
    + '"Attribution-NonCommercial-ShareAlike 3.0 International",1293,,3,,[],Food\n'
    + "10,0,2008-11-26 01:45:08,2008-02-06 00:00:00,,4,6,,47632,,[],Constant Hitmaker,2,Album,"
    + ",,,,3,2008-11-26 01:42:55,74,6,,,,,Kurt Vile,,[],,,"
    + "training,small,"
    + "192000,0,Kurt Vile,2008-11-25 17:49:06,2008-11-26 00:00:00,161,178,Pop,[10],[10],,"
    + '54881,en,"Attribution-NonCommercial-NoDerivatives (aka Music Sharing) 3.0 International",'
    + "50135,,1,,[],Freeway\n"
    + "20,0,2008-11-26 01:45:05,2009-01-06 00:00:00,,2,4,,1972,,[],Niris,13,Album,"
    + "1979-01-01 00:00:00,,,,2,2008-11-26 01:42:52,10,4,51.89,Colchester England,0.90,,"
    + "Nicky Cook,,\"['tuatara']\",,,"
    + "training,large,"
    + '256000,0,,2008-11-26 01:48:56,2008-01-01 00:00:00,311,0,,"[76, 103]",'
    + '"[17, 10, 76, 103]",,1265,en,"Attribution-NonCommercial-NoDerivatives 3.0",1021,,4,,[],'
    + "Spiritual Level\n"
)


@pytest.fixture
def real_format_tracks(tmp_path):
    path = tmp_path / "tracks.csv"
    path.write_text(REAL_FORMAT_TRACKS_CSV)
    return path


def test_reader_parses_real_format_rows(real_format_tracks):
    tracks = fma.read_tracks(real_format_tracks)
    assert list(tracks.columns) == fma.TRACKS_COLUMNS
    assert len(fma.TRACKS_COLUMNS) == 52
    assert list(tracks.index) == [2, 10, 20]
    assert tracks.loc[2, ("track", "genre_top")] == "Hip-Hop"
    assert tracks.loc[2, ("track", "bit_rate")] == 256000
    assert tracks.loc[2, ("track", "duration")] == 168
    assert tracks.loc[2, ("track", "title")] == "Food"
    assert tracks.loc[2, ("track", "genres")] == [21]
    assert tracks.loc[20, ("track", "genres_all")] == [17, 10, 76, 103]
    assert tracks.loc[20, ("artist", "tags")] == ["tuatara"]
    assert pd.isna(tracks.loc[20, ("track", "genre_top")])
    assert tracks.loc[10, ("set", "subset")] == "small"
    assert tracks.loc[20, ("set", "subset")] == "large"
    assert tracks.loc[2, ("track", "date_created")] == "2008-11-26 01:48:12"


def test_writer_reproduces_the_real_layout(real_format_tracks, tmp_path):
    tracks = fma.read_tracks(real_format_tracks)
    copy = tmp_path / "copy.csv"
    fma.write_tracks(tracks, copy)
    original_lines = real_format_tracks.read_text().splitlines()
    written_lines = copy.read_text().splitlines()
    assert written_lines[:3] == original_lines[:3]
    assert written_lines[2] == "track_id" + "," * 52
    again = fma.read_tracks(copy)
    pd.testing.assert_frame_equal(again, tracks)


@pytest.mark.parametrize(
    ("subset", "expected"),
    [("small", ["2", "10"]), ("medium", ["2", "10"]), ("large", ["2", "10"])],
)
def test_subset_selection_keeps_tracks_with_a_top_genre(
    real_format_tracks, tmp_path, subset, expected
):
    audio_root = tmp_path / "fma_small"
    audio_root.mkdir()
    location = {
        "format": "fma",
        "tracks_csv": str(real_format_tracks),
        "audio_root": str(audio_root),
        "subset": subset,
    }
    kept, excluded = ingestion.list_fma_tracks(location)
    assert kept["track_id"].tolist() == expected
    assert kept["path"].tolist() == [
        str(audio_root / "000" / "000002.mp3"),
        str(audio_root / "000" / "000010.mp3"),
    ]
    assert kept["split"].tolist() == ["training", "training"]
    assert kept["artist"].tolist() == ["1", "6"]
    # track 20 is only in `large`, and has no top genre: it is an exclusion only where it is selected
    assert excluded["track_id"].tolist() == (["20"] if subset == "large" else [])
    assert set(excluded["reason"]) <= {ingestion.NO_TOP_GENRE}


def test_subsets_nest():
    subsets = pd.Series(["small", "medium", "large", "small", "large"])
    assert fma.in_subset(subsets, "small").tolist() == [True, False, False, True, False]
    assert fma.in_subset(subsets, "medium").tolist() == [True, True, False, True, False]
    assert fma.in_subset(subsets, "large").tolist() == [True] * 5
    with pytest.raises(ValueError, match="unknown FMA subset"):
        fma.in_subset(subsets, "tiny")


def test_audio_paths_follow_fma_layout(tmp_path):
    assert fma.audio_relpath(2) == "000/000002.mp3"
    assert fma.audio_relpath("155066") == "155/155066.mp3"
    assert fma.audio_path(tmp_path, 99134) == tmp_path / "099" / "099134.mp3"


def test_real_genres_csv_reads(shared_fma_excerpt):
    genres = fma.read_genres(shared_fma_excerpt / "fma_metadata" / "genres.csv")
    assert len(genres) == 163
    top = genres[genres["parent"] == 0]
    assert dict(zip(top["genre_id"], top["title"], strict=True)) == fma.TOP_LEVEL_GENRES


def test_real_fma_small_track_list_through_the_reader(shared_fma_excerpt, tmp_path):
    """The real fma_small membership, written in tracks.csv's format and read back: 8 genres x 1,000."""
    listing = pd.read_csv(shared_fma_excerpt / "fma_metadata" / "fma_small_tracklist.csv")
    genres = fma.read_genres(shared_fma_excerpt / "fma_metadata" / "genres.csv")
    genre_ids = dict(zip(genres["title"], genres["genre_id"], strict=True))
    tracks = pd.DataFrame(index=pd.Index(listing["track_id"], name="track_id"))
    tracks[("set", "subset")] = "small"
    tracks[("track", "genre_top")] = listing["genre"].to_numpy()
    tracks[("track", "title")] = listing["title"].to_numpy()
    tracks[("track", "genres")] = [[genre_ids[g]] for g in listing["genre"]]
    path = tmp_path / "tracks.csv"
    fma.write_tracks(tracks, path)

    location = {
        "format": "fma",
        "tracks_csv": str(path),
        "audio_root": str(tmp_path / "fma_small"),
        "subset": "small",
    }
    kept, excluded = ingestion.list_fma_tracks(location)
    assert len(kept) == 8000 and excluded.empty
    assert kept["genre"].value_counts().to_dict() == {
        genre: 1000
        for genre in [
            "Electronic",
            "Experimental",
            "Folk",
            "Hip-Hop",
            "Instrumental",
            "International",
            "Pop",
            "Rock",
        ]
    }
    assert "2" in set(kept["track_id"])
    assert kept.loc[kept["track_id"] == "2", "genre"].item() == "Hip-Hop"
