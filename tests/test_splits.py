"""The seeded stratified split used where the data has no official one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from music_genre.data import ingestion
from music_genre.data.splits import stratified_group_split

RATIOS = {"training": 0.8, "validation": 0.1, "test": 0.1}


def _collection(n_genres=5, artists_per_genre=12, tracks_per_artist=(1, 5), seed=0):
    rng = np.random.default_rng(seed)
    labels, groups = [], []
    for g in range(n_genres):
        for a in range(artists_per_genre):
            for _ in range(rng.integers(*tracks_per_artist, endpoint=True)):
                labels.append(f"genre{g}")
                groups.append(f"artist{g}_{a}")
    return labels, groups


def test_no_artist_spans_two_splits_and_ratios_hold():
    labels, groups = _collection()
    splits = stratified_group_split(labels, groups, RATIOS, seed=7)
    frame = pd.DataFrame({"label": labels, "group": groups, "split": splits})
    assert (frame.groupby("group")["split"].nunique() == 1).all()
    shares = frame["split"].value_counts(normalize=True)
    assert abs(shares["training"] - 0.8) < 0.06
    assert abs(shares["validation"] - 0.1) < 0.05
    assert abs(shares["test"] - 0.1) < 0.05
    for _, per_genre in frame.groupby("label"):
        assert set(per_genre["split"]) == {"training", "validation", "test"}


def test_split_is_deterministic_and_seeded():
    labels, groups = _collection()
    first = stratified_group_split(labels, groups, RATIOS, seed=1)
    assert (first == stratified_group_split(labels, groups, RATIOS, seed=1)).all()
    assert (first != stratified_group_split(labels, groups, RATIOS, seed=2)).any()


def test_items_without_artist_are_stratified_individually():
    labels = ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    splits = stratified_group_split(labels, [None] * 30, RATIOS, seed=3)
    frame = pd.DataFrame({"label": labels, "split": splits})
    assert frame.groupby("label")["split"].value_counts().to_dict() == {
        (genre, split): count
        for genre in "abc"
        for split, count in (("training", 8), ("validation", 1), ("test", 1))
    }


def test_tiny_genres_still_feed_the_small_splits():
    """4 clips per genre (like the shared GTZAN subset): validation and test both get tracks overall."""
    labels = [f"g{g}" for g in range(10) for _ in range(4)]
    splits = stratified_group_split(labels, [None] * 40, RATIOS, seed=42)
    counts = pd.Series(splits).value_counts().to_dict()
    assert counts == {"training": 30, "validation": 5, "test": 5}


def test_official_split_is_kept_when_present():
    checked = pd.DataFrame(
        {
            "track_id": ["1", "2", "3"],
            "genre": ["Rock", "Rock", "Pop"],
            "split": ["test", "training", "validation"],
            "artist": ["x", "y", "z"],
            "ok": [True, True, True],
        }
    )
    out = ingestion.assign_splits(checked, {"seed": 0, "ratios": RATIOS})
    assert out["split"].tolist() == ["test", "training", "validation"]


def test_missing_split_is_filled_for_usable_tracks_only():
    checked = pd.DataFrame(
        {
            "track_id": [str(i) for i in range(20)],
            "genre": ["Rock"] * 10 + ["Pop"] * 10,
            "split": [None] * 20,
            "artist": [None] * 20,
            "ok": [True] * 19 + [False],
        }
    )
    out = ingestion.assign_splits(checked, {"seed": 0, "ratios": RATIOS})
    assert out.loc[:18, "split"].isin(["training", "validation", "test"]).all()
    assert out.loc[19, "split"] is None
