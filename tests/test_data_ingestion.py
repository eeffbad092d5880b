"""The data_ingestion pipeline through Kedro's real session, runner and catalog."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from music_genre.data import fma
from music_genre.data.ingestion import MANIFEST_COLUMNS
from tests.conftest import SMALL_SAMPLE, SMALL_SAMPLE_INGESTION


def _sample_params(root) -> dict:
    return {"dataset.root": str(root), **SMALL_SAMPLE, **SMALL_SAMPLE_INGESTION}


@pytest.fixture
def sample_copy(sample_archive, tmp_path):
    root = tmp_path / "sample"
    shutil.copytree(sample_archive, root)
    return root


def test_default_env_ingests_the_sample_and_lists_every_planted_fault(kedro_project, sample_copy):
    info = json.loads((sample_copy / "sample_info.json").read_text())["summary"]
    kedro_project.run(["data_ingestion"], params=_sample_params(sample_copy))

    manifest = kedro_project.load("manifest")
    exclusions = kedro_project.load("exclusions")
    assert list(manifest.columns) == MANIFEST_COLUMNS
    by_id = dict(zip(exclusions["track_id"], exclusions["reason"], strict=True))
    for reason in ("empty_file", "truncated", "too_short", "missing_file"):
        (track_id,) = info["faults"][reason]
        assert by_id[str(track_id)] == reason
    for track_id in info["no_genre_top"]:
        assert by_id[str(track_id)] == "no_top_genre"
    assert len(exclusions) == 4 + len(info["no_genre_top"])
    assert exclusions["detail"].str.len().gt(5).all()

    # everything else is kept, once, with its official split and real header values; the newest 12%
    # are held out as new releases, in dated batches, after every track training sees
    new_releases = kedro_project.load("new_releases")
    assert len(manifest) + len(new_releases) + len(exclusions) == info["tracks"]
    assert len(new_releases) == round(0.12 * (len(manifest) + len(new_releases)))
    assert set(new_releases["track_id"]).isdisjoint(manifest["track_id"])
    assert (
        pd.to_datetime(new_releases["date_created"]).min()
        >= pd.to_datetime(manifest["date_created"]).max()
    )
    first_day = pd.to_datetime(new_releases["date_created"]).dt.normalize().min()
    offsets = (pd.to_datetime(new_releases["batch"]) - first_day).dt.days
    assert (offsets % 7 == 0).all()  # weekly batches named by their first day
    days_in = (
        pd.to_datetime(new_releases["date_created"]).dt.normalize()
        - pd.to_datetime(new_releases["batch"])
    ).dt.days
    assert days_in.between(0, 6).all()
    assert manifest["track_id"].is_unique
    assert set(manifest["track_id"]).isdisjoint(exclusions["track_id"])
    tracks = fma.read_tracks(sample_copy / "fma_metadata" / "tracks.csv")
    official = tracks[("set", "split")].rename(index=str)
    assert (manifest["split"].to_numpy() == official[manifest["track_id"]].to_numpy()).all()
    assert manifest["genre"].nunique() == 8
    assert (manifest["sample_rate"] == 44100).all() and (manifest["channels"] == 2).all()
    assert manifest["duration"].between(11.5, 12.5).all()
    assert manifest["path"].map(lambda p: p.startswith(str(sample_copy))).all()


def test_sample_is_made_when_missing(kedro_project, tmp_path):
    """A fresh clone has no data: the default pipeline's first node synthesizes the sample."""
    root = tmp_path / "fresh"
    params = {
        **_sample_params(root),
        "sample_data.tracks_per_genre": 2,
        "sample_data.clip_seconds": 9.0,
        "sample_data.genres": ["Rock", "Hip-Hop"],
        "sample_data.plant_faults": False,
    }
    kedro_project.run(["data_ingestion"], params=params)
    assert (root / "fma_metadata" / "tracks.csv").is_file()
    manifest = kedro_project.load("manifest")
    assert sorted(manifest["genre"].unique()) == ["Hip-Hop", "Rock"]
    assert len(manifest) == 4


def test_fma_small_env_selects_exactly_the_small_subset_and_its_official_split(
    kedro_project, sample_archive, tmp_path
):
    """An FMA-format root (fma_metadata/ + fma_small/) under --env=fma_small."""
    root = tmp_path / "fma"
    shutil.copytree(sample_archive / "fma_metadata", root / "fma_metadata")
    (root / "fma_small").symlink_to(sample_archive / "fma_sample", target_is_directory=True)
    kedro_project.run(
        ["data_ingestion"],
        env="fma_small",
        params={"dataset.root": str(root), **SMALL_SAMPLE_INGESTION},
    )
    manifest = kedro_project.load("manifest", env="fma_small")
    exclusions = kedro_project.load("exclusions", env="fma_small")

    tracks = fma.read_tracks(root / "fma_metadata" / "tracks.csv")
    small = tracks[tracks[("set", "subset")] == "small"]
    assert small[("track", "genre_top")].notna().all()
    expected = set(small.index.astype(str))
    assert set(manifest["track_id"]) | set(exclusions["track_id"]) == expected
    assert set(manifest["track_id"]) <= expected
    assert (manifest["subset"] == "small").all()
    official = small[("set", "split")].rename(index=str)
    assert (manifest["split"].to_numpy() == official[manifest["track_id"]].to_numpy()).all()
    # files of this environment live under its own folders
    assert (kedro_project.path / "data" / "03_primary" / "fma_small" / "manifest.parquet").is_file()
    assert not (kedro_project.path / "data" / "03_primary" / "sample").exists()


def test_gtzan_env_ingests_a_real_folder_collection(kedro_project, shared_gtzan):
    kedro_project.run(["data_ingestion"], env="gtzan", params={"dataset.root": str(shared_gtzan)})
    manifest = kedro_project.load("manifest", env="gtzan")
    exclusions = kedro_project.load("exclusions", env="gtzan")
    assert len(manifest) == 40 and exclusions.empty
    assert manifest.groupby("genre").size().to_dict() == {
        genre: 4
        for genre in [
            "blues",
            "classical",
            "country",
            "disco",
            "hiphop",
            "jazz",
            "metal",
            "pop",
            "reggae",
            "rock",
        ]
    }
    assert "blues/blues.00000" in set(manifest["track_id"])
    assert (manifest["sample_rate"] == 22050).all() and (manifest["channels"] == 1).all()
    assert manifest["duration"].between(29.0, 31.0).all()
    assert manifest["split"].value_counts().to_dict() == {
        "training": 30,
        "validation": 5,
        "test": 5,
    }


def test_gtzan_layout_with_a_bad_file_and_noise(kedro_project, shared_gtzan, tmp_path):
    """A user's collection: a non-audio file is ignored, a corrupt one excluded, the run goes on."""
    root = tmp_path / "collection"
    for genre in ("blues", "jazz"):
        shutil.copytree(shared_gtzan / genre, root / genre)
    (root / "jazz" / "notes.txt").write_text("not audio")
    (root / "jazz" / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    (root / "blues" / "empty.mp3").write_bytes(b"")
    kedro_project.run(["data_ingestion"], env="gtzan", params={"dataset.root": str(root)})
    manifest = kedro_project.load("manifest", env="gtzan")
    exclusions = kedro_project.load("exclusions", env="gtzan")
    assert len(manifest) == 8
    assert dict(zip(exclusions["track_id"], exclusions["reason"], strict=True)) == {
        "jazz/broken": "unreadable",
        "blues/empty": "empty_file",
    }


def test_missing_root_is_one_clear_line(kedro_project, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"FMA metadata not found .*--pipelines=download"):
        kedro_project.run(
            ["data_ingestion"], env="fma_small", params={"dataset.root": str(tmp_path / "nope")}
        )


def test_exclusions_parquet_reads_without_kedro(kedro_project, sample_copy):
    kedro_project.run(["data_ingestion"], params=_sample_params(sample_copy))
    frame = pd.read_parquet(
        kedro_project.path / "data" / "03_primary" / "sample" / "exclusions.parquet"
    )
    assert set(frame.columns) == {"track_id", "path", "genre", "reason", "detail"}
