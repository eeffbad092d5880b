"""The similarity index, its neighbours, duplicates and playlists, on features synthesized here (clusters
of tracks with planted duplicates), asserting on values computed independently with numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from music_genre.similarity.index import SimilarityError, build_index, index_columns
from music_genre.similarity.neighbours import near_duplicates, neighbours
from music_genre.similarity.playlist import cluster_playlists, m3u8, path_playlist

EMBEDDING = [f"msd_musicnn_mean_{i:03d}" for i in range(1, 21)]
HANDCRAFTED = ["mfcc_mean_01", "mfcc_mean_02", "tempo"]
SETTINGS = {"feature_set": "handcrafted+embedding", "embedding": "msd_musicnn"}


def collection(n_per_genre: int = 12, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four genres, each a cluster in embedding space; track t003 is an exact copy of t001 and t005 a
    near copy (tiny noise) of t004."""
    rng = np.random.default_rng(seed)
    genres = ["rock", "jazz", "hiphop", "classical"]
    centres = rng.normal(size=(len(genres), len(EMBEDDING))) * 3
    rows, meta = [], []
    for g, genre in enumerate(genres):
        for i in range(n_per_genre):
            track = f"t{len(rows):03d}"
            values = centres[g] + rng.normal(size=len(EMBEDDING))
            rows.append({"track_id": track, **dict(zip(EMBEDDING, values, strict=True)),
                         **dict(zip(HANDCRAFTED, rng.normal(size=3), strict=True))})  # fmt: skip
            meta.append({"track_id": track, "path": f"/music/{genre}/{track}.mp3", "genre": genre,
                         "artist": f"{genre}-artist-{i % 3}", "title": f"song {i}"})  # fmt: skip
    features = pd.DataFrame(rows)
    features.loc[3, EMBEDDING] = features.loc[1, EMBEDDING].to_numpy()
    features.loc[3, HANDCRAFTED] = features.loc[1, HANDCRAFTED].to_numpy()
    features.loc[5, EMBEDDING] = features.loc[4, EMBEDDING].to_numpy() + 0.05
    return features, pd.DataFrame(meta)


def numpy_distances(features: pd.DataFrame, columns: list[str], query: int) -> np.ndarray:
    x = features[columns].to_numpy(np.float64)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return 1.0 - z @ z[query]


def test_columns_are_the_embedding_else_the_handcrafted_features():
    assert index_columns(["track_id", *HANDCRAFTED, *EMBEDDING])[0] == EMBEDDING
    columns, description = index_columns(["track_id", *HANDCRAFTED], None)
    assert columns == HANDCRAFTED and description.startswith("handcrafted features (3 values")
    with pytest.raises(SimilarityError):
        index_columns(["track_id"])


@pytest.mark.parametrize("exact_below", [10_000, 1])  # exact search, then the approximate graph
def test_cosine_distances_match_numpy_and_duplicates_are_named(exact_below):
    pytest.importorskip("usearch") if exact_below == 1 else None
    features, tracks = collection()
    index, report = build_index(features, tracks, SETTINGS, {"exact_below": exact_below})
    assert report["kind"] == ("exact" if exact_below > 1 else "approximate")
    assert index.columns == EMBEDDING and len(index) == 48
    expected = numpy_distances(features, EMBEDDING, 0)
    rows, distances = index.search(index.vectors()[0], 48)
    tolerance = 1e-5 if exact_below > 1 else 2e-3  # the graph keeps half-precision vectors
    np.testing.assert_allclose(distances, expected[rows], atol=tolerance)
    assert list(rows[:10]) == list(np.argsort(expected, kind="stable")[:10])
    # t001 asked as a track of the collection: itself left out, its exact copy t003 a duplicate
    answer = neighbours(index, index.vectors()[1], top=5, self_row=1)
    assert answer["self"]["track_id"] == "t001"
    assert [d["track_id"] for d in answer["duplicates"]] == ["t003"]
    assert [n["rank"] for n in answer["neighbours"]] == [1, 2, 3, 4, 5]
    assert all(n["track_id"] not in ("t001", "t003") for n in answer["neighbours"])
    assert {n["genre"] for n in answer["neighbours"]} == {"rock"}
    # the near copy t005 is t004's nearest neighbour, not a duplicate
    answer = neighbours(index, index.vectors()[4], top=3, self_row=4)
    assert answer["neighbours"][0]["track_id"] == "t005" and not answer["duplicates"]
    assert answer["neighbours"][0]["similarity"] == pytest.approx(
        1 - answer["neighbours"][0]["distance"] / 2, abs=1e-6
    )


@pytest.mark.parametrize("exact_below", [10_000, 1])  # exact search, then the approximate graph
def test_near_duplicate_report_groups_copies(exact_below):
    if exact_below == 1:
        pytest.importorskip("usearch")
    features, tracks = collection()
    index, _ = build_index(features, tracks, SETTINGS, {"exact_below": exact_below})
    report = near_duplicates(index, max_distance=1e-3)
    pairs = {tuple(sorted(p)) for p in report[["track_id", "other_track_id"]].to_numpy()}
    assert pairs == {("t001", "t003"), ("t004", "t005")}
    assert report["group"].nunique() == 2 and (report["distance"] <= 1e-3).all()


def test_rebuilt_only_for_what_changed():
    features, tracks = collection()
    first, report = build_index(features, tracks, SETTINGS)
    assert report["action"] == "rebuilt"
    same, report = build_index(features, tracks, SETTINGS, previous=first)
    assert report["action"] == "unchanged" and same is first
    changed = features.copy()
    changed.loc[10, EMBEDDING] = changed.loc[10, EMBEDDING] + 0.5
    extra = features.iloc[[20]].assign(track_id="t999")
    updated, report = build_index(
        pd.concat([changed.drop(index=[30]), extra]), tracks, SETTINGS, previous=same
    )
    assert (report["action"], report["added"], report["removed"]) == ("updated", 2, 2)
    assert len(updated) == 48 and "t030" not in set(updated.tracks["track_id"])
    # the kept standardisation: the updated index answers as a full rebuild under it would
    row = updated.position("t010")
    expected = updated.query_vector(changed.loc[10, EMBEDDING].astype(float))
    np.testing.assert_allclose(updated.vectors()[row], expected, atol=1e-6)
    many = features.assign(**{c: features[c] * 2 for c in EMBEDDING[:1]})
    _, report = build_index(many, tracks, SETTINGS, previous=updated)
    assert report["action"] == "rebuilt"


def test_playlist_keeps_its_rules_and_transitions_gradually():
    features, tracks = collection()
    index, _ = build_index(features, tracks, SETTINGS)
    playlist = path_playlist(index, [0], length=10, params={"artist_window": 2})
    ids = [t["track_id"] for t in playlist]
    assert ids[0] == "t000" and len(ids) == 10 and len(set(ids)) == 10
    assert not {"t001", "t003"} <= set(ids)  # an exact duplicate is the same track
    artists = [t["artist"] for t in playlist]
    for i in range(1, len(artists)):
        assert artists[i] not in artists[max(0, i - 2) : i]
    assert [t["position"] for t in playlist] == list(range(1, 11))
    start, target = 0, index.position("t040")  # rock to classical
    transition = path_playlist(index, [start], length=8, target=target)
    assert transition[0]["track_id"] == "t000" and transition[-1]["track_id"] == "t040"
    vectors = index.vectors()
    to_target = [1 - vectors[index.position(t["track_id"])] @ vectors[target] for t in transition]
    assert to_target[-1] == pytest.approx(0, abs=1e-6)
    assert to_target[0] > to_target[len(to_target) // 2] > to_target[-1]
    with pytest.raises(SimilarityError):
        path_playlist(index, [0], length=1, target=target)


def test_clusters_are_named_by_their_genres_and_m3u8_lists_them():
    features, tracks = collection()
    index, _ = build_index(features, tracks, SETTINGS)
    clusters = cluster_playlists(index, 4)
    assert sorted(c["name"] for c in clusters) == ["classical", "hiphop", "jazz", "rock"]
    assert sum(len(c["tracks"]) for c in clusters) == 48
    text = m3u8(clusters[0]["tracks"][:2], title=clusters[0]["name"])
    lines = text.splitlines()
    first = clusters[0]["tracks"][0]
    assert lines[:4] == ["#EXTM3U", f"#PLAYLIST:{clusters[0]['name']}",
                         f"#EXTINF:-1,{first['artist']} - {first['title']}", first["path"]]  # fmt: skip
    assert len(lines) == 6 and text.endswith("\n")


def test_index_survives_pickling_both_kinds():
    import pickle

    features, tracks = collection()
    for exact_below in (10_000, 1):
        if exact_below == 1:
            pytest.importorskip("usearch")
        index, _ = build_index(features, tracks, SETTINGS, {"exact_below": exact_below})
        again = pickle.loads(pickle.dumps(index))
        rows, distances = again.search(index.vectors()[7], 5)
        expected_rows, expected = index.search(index.vectors()[7], 5)
        assert list(rows) == list(expected_rows)
        np.testing.assert_allclose(distances, expected, atol=1e-6)
