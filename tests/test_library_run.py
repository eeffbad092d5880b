"""The whole path on a real library: a test library made from ../shared's GTZAN clips (MP3, FLAC, Ogg, M4A,
tags in varied spellings, untagged files, non-music files), `kedro run --env=library`, then the real
`music-genre tag` command: a dry run, --write, the same command again, --undo. Real Kedro, Ray, MLflow,
mutagen, audio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from music_genre.data import audio, tag_io

from .conftest import make_project_copy

pytestmark = [pytest.mark.slow, pytest.mark.shared]


def _tag(project: Path, env: dict, *args: str) -> tuple[int, list[dict]]:
    result = subprocess.run(
        [sys.executable, "-m", "music_genre", "tag", *args, "--project", str(project)],
        cwd=project, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.returncode, rows


def test_library_run_then_tag_write_rerun_undo(shared_gtzan, tmp_path):
    from music_genre.sample.library import build_test_library

    project = make_project_copy(tmp_path / "project")
    library = tmp_path / "Music"
    truth = build_test_library(shared_gtzan, library)
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_LOGGING_CONFIG"}
    env.update(HOME=str(tmp_path), KEDRO_DISABLE_TELEMETRY="1")
    params = (f"dataset.root={library},dataset.min_files_per_genre=3,"
              "feature_engineering.feature_set=handcrafted,feature_engineering.progress=false")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--env=library", f"--params={params}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    reporting = project / "data/08_reporting/library"
    vocabulary = pd.read_parquet(reporting / "genre_vocabulary.parquet")
    became = dict(zip(vocabulary["raw_tag"], vocabulary["became"], strict=True))
    assert became["hip hop"] == became["HIPHOP"] == became["Hip-Hop"] == "Hip-Hop"
    assert became["Death-Metal"] == "Metal" and became["Opera"] == "Classical"
    assert became["Podcast"] is None
    manifest = pd.read_parquet(project / "data/03_primary/library/manifest.parquet")
    exclusions = pd.read_parquet(project / "data/03_primary/library/exclusions.parquet")
    untagged = set(truth.loc[truth["tag"].isna(), "path"])
    assert untagged == set(exclusions.loc[exclusions["reason"] == "untagged", "path"])
    albums = manifest.assign(album=[str(Path(p).parent) for p in manifest["path"]])
    assert (albums.groupby("album")["split"].nunique() == 1).all()  # no album in two splits
    suspects = pd.read_csv(reporting / "evaluation/suspect_tags.csv")
    assert list(suspects.columns) == ["rank", "path", "tag", "heard", "sure", "tag_probability"]
    summary = (reporting / "evaluation/summary.md").read_text()
    assert summary.index("## Suspect tags") < summary.index("## Headline metrics")

    code, dry = _tag(project, env, str(library), "--env", "library", "--json")
    files = [r for r in dry if "path" in r]
    assert len(files) == len(truth) and dry[-1]["summary"]["written"] is False
    by_path = {r["path"]: r for r in files}
    for row in truth.itertuples():
        decided = by_path[row.path]
        assert set(decided) >= {"path", "current", "proposed", "confidence", "suspect", "unfamiliar",
                                "action", "reason"}  # fmt: skip
        if row.tag is not None:
            assert decided["action"] in ("keep", "skip")
        if decided["action"] == "skip":
            assert decided["reason"]
    before = {p: Path(p).read_bytes() for p in truth["path"]}
    to_write = [r["path"] for r in files if r["action"] == "write"]
    assert to_write, "no file to write: the untagged music files should get a genre"
    decoded = {p: audio.load_with_rate(p, None)[0] for p in to_write}
    journal = tmp_path / "journal.jsonl"
    code, wrote = _tag(project, env, str(library), "--env", "library", "--json", "--write",
                       "--journal", str(journal))  # fmt: skip
    written = [r for r in wrote if r.get("action") == "write"]
    assert {r["path"] for r in written} == set(to_write)
    for row in written:
        assert tag_io.read_tags(row["path"]).genres == [row["proposed"]]
        assert (audio.load_with_rate(row["path"], None)[0] == decoded[row["path"]]).all()
    unchanged = set(truth["path"]) - set(to_write)
    assert all(Path(p).read_bytes() == before[p] for p in unchanged)
    code, again = _tag(project, env, str(library), "--env", "library", "--json", "--write",
                       "--journal", str(journal))  # fmt: skip
    assert not [r for r in again if r.get("action") == "write"]
    code, _ = _tag(project, env, "--undo", str(journal))
    assert code == 0
    assert all(Path(p).read_bytes() == data for p, data in before.items())
