"""The similarity pipeline through Kedro's real runner and catalog, then ``music-genre similar`` /
``playlist`` and the served routes over what it saved: real GTZAN clips of ../shared, their features
extracted by the project's extractor (handcrafted: what the sample environment indexes), one clip also
present as a byte copy (an exact duplicate)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import KedroProject, make_project_copy, require_shared

GENRES = ("classical", "metal")
CLI = [sys.executable, "-c", "from music_genre.serving.commands import main; main()"]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> KedroProject:
    gtzan = require_shared("data", "gtzan_subset")
    from music_genre.features import FeatureSettings, extract_files, feature_names

    base = tmp_path_factory.mktemp("similarity")
    project = KedroProject(make_project_copy(base / "project"))
    music = base / "music"
    music.mkdir()
    clips = []
    for genre in GENRES:
        for clip in sorted((gtzan / genre).glob("*.wav"))[:3]:
            clips.append((genre, shutil.copy2(clip, music / clip.name)))
    clips.append(("classical", shutil.copy2(clips[0][1], music / "copy-of-first.wav")))
    settings = FeatureSettings.from_dict({"feature_set": "handcrafted"})
    rows = extract_files([path for _, path in clips], settings)
    ids = [f"{i:06d}" for i in range(len(clips))]
    features = pd.DataFrame(rows).reset_index(drop=True)[feature_names(settings)]
    features.insert(0, "track_id", ids)
    manifest = pd.DataFrame({"track_id": ids, "path": [str(p) for _, p in clips],
                             "genre": [g for g, _ in clips],
                             "artist": ["A", "B", "C", "D", "E", "F", "A"],
                             "title": [Path(p).stem for _, p in clips]})  # fmt: skip
    data = project.path / "data"
    (data / "04_feature" / "sample").mkdir(parents=True)
    (data / "03_primary" / "sample").mkdir(parents=True)
    features.to_parquet(data / "04_feature" / "sample" / "features.parquet")
    manifest.to_parquet(data / "03_primary" / "sample" / "manifest.parquet")
    (data / "04_feature" / "sample" / "feature_settings.json").write_text(
        json.dumps(settings.to_dict())
    )
    project.run(pipelines=["similarity"])
    project.clips = clips
    project.ids = ids
    return project


def run_cli(project: KedroProject, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=project.path, capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip


def test_pipeline_saves_a_versioned_index_and_reuses_it(indexed):
    report = indexed.load("similarity_report")
    assert report["tracks"] == 7 and report["kind"] == "exact" and report["action"] == "rebuilt"
    assert report["description"].startswith("handcrafted features (519 values")
    duplicates = indexed.load("near_duplicates")
    assert {tuple(sorted(p)) for p in duplicates[["track_id", "other_track_id"]].to_numpy()} == {
        ("000000", "000006")
    }
    indexed.run(pipelines=["similarity"])  # nothing changed: the newest index is kept as it is
    assert indexed.load("similarity_report")["action"] == "unchanged"
    versions = list((indexed.path / "data/06_models/sample/similarity_index.pkl").iterdir())
    assert len(versions) == 2


def test_similar_json_names_self_and_duplicates(indexed, tmp_path):
    outside = shutil.copy2(
        indexed.clips[4][1], tmp_path / "a metal song.wav"
    )  # not in the collection
    result = run_cli(indexed, "similar", "000000", str(outside), "--top", "3", "--json")
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["query"] == "000000" and first["self"]["track_id"] == "000000"
    assert [d["track_id"] for d in first["duplicates"]] == ["000006"]
    assert [n["rank"] for n in first["neighbours"]] == [1, 2, 3]
    assert {"rank", "path", "genre", "distance"} <= set(first["neighbours"][0])
    assert all(n["track_id"] not in ("000000", "000006") for n in first["neighbours"])
    distances = [n["distance"] for n in first["neighbours"]]
    assert distances == sorted(distances) and distances[0] > 1e-6
    # a file extracted on the fly: its copy in the collection is an exact duplicate, then its genre
    assert second["query"] == str(outside) and second["self"] is None
    assert [d["track_id"] for d in second["duplicates"]] == ["000004"]
    assert second["neighbours"][0]["genre"] == "metal"
    missing = run_cli(indexed, "similar", "no-such-track", "--json")
    assert missing.returncode == 1 and missing.stderr.startswith("error: no-such-track:")
    assert json.loads(missing.stdout)["error"]["reason"] == "not_found"


def test_playlist_m3u8_and_clusters(indexed, tmp_path):
    target = tmp_path / "mix.m3u8"
    result = run_cli(indexed, "playlist", "000000", "--length", "5", "--m3u", str(target), "--json")
    assert result.returncode == 0, result.stderr
    tracks = json.loads(result.stdout)["tracks"]
    ids = [t["track_id"] for t in tracks]
    assert ids[0] == "000000" and len(ids) == len(set(ids)) == 5 and "000006" not in ids
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U" and lines[1].startswith("#PLAYLIST:")
    assert [line for line in lines if not line.startswith("#")] == [t["path"] for t in tracks]
    transition = run_cli(indexed, "playlist", "000000", "--to", "000005", "--length", "4", "--json")
    ids = [t["track_id"] for t in json.loads(transition.stdout)["tracks"]]
    assert ids[0] == "000000" and ids[-1] == "000005" and len(ids) == 4
    folder = tmp_path / "clusters"
    result = run_cli(indexed, "playlist", "--clusters", "2", "--m3u", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    clusters = json.loads(result.stdout)["clusters"]
    assert sum(len(c["tracks"]) for c in clusters) == 7
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        Path(c["file"]).name for c in clusters
    )
    usage = run_cli(indexed, "playlist")
    assert usage.returncode == 2 and usage.stderr.startswith("error:")


def test_served_routes_answer_like_opensubsonic(indexed):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from music_genre.serving import similar
    from music_genre.serving.similar_routes import add_routes

    index = similar.load_index(indexed.path, None)
    clip = str(indexed.clips[4][1])
    app = add_routes(FastAPI(), lambda: index, {"allowed_roots": [str(Path(clip).parent)]})
    client = TestClient(app)
    response = client.get("/rest/getSonicSimilarTracks", params={"id": "000003", "count": 2})
    assert response.status_code == 200, response.text
    matches = response.json()["sonicMatches"]
    assert len(matches) == 2 and all(m["entry"]["id"] != "000003" for m in matches)
    assert 0 <= matches[1]["similarity"] <= matches[0]["similarity"] < 1
    by_path = client.post("/similar", json={"path": clip, "count": 1}).json()["sonicMatches"]
    assert by_path[0]["entry"]["genre"] == "metal"
    refused = client.post("/similar", json={"path": "/etc/passwd"})
    assert refused.status_code == 400 and refused.json()["error"]["reason"] == "forbidden_path"
    path = client.get("/rest/findSonicPath",
                      params={"startSongId": "000000", "endSongId": "000005", "count": 4}).json()  # fmt: skip
    entries = path["sonicMatches"]
    assert [e["entry"]["id"] for e in (entries[0], entries[-1])] == ["000000", "000005"]
    assert entries[0]["similarity"] == 1.0 and len(entries) == 4
