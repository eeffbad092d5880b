"""feature_engineering through Kedro's real runner, a real local Ray and the Parquet cache."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from music_genre.data import audio
from music_genre.features import FeatureSettings, feature_names
from tests.conftest import SMALL_SAMPLE, SMALL_SAMPLE_INGESTION

FEATURE_PARAMS = {"feature_engineering.min_duration_s": 8.0, "feature_engineering.progress": False}


@pytest.fixture
def sample_project(kedro_project, sample_archive, tmp_path):
    root = tmp_path / "sample"
    shutil.copytree(sample_archive, root)
    params = {"dataset.root": str(root), **SMALL_SAMPLE, **SMALL_SAMPLE_INGESTION, **FEATURE_PARAMS}
    kedro_project.run(["data_ingestion"], params=params)
    kedro_project.params = params
    kedro_project.sample_root = root
    return kedro_project


def _cache_dir(project, settings: FeatureSettings | None = None):
    digest = (settings or FeatureSettings()).digest()
    return project.path / "data" / "04_feature" / "sample" / "feature_cache" / digest


def test_features_are_extracted_cached_and_skipped_on_rerun(sample_project):
    project = sample_project
    project.run(["feature_engineering"], params=project.params)
    manifest = project.load("manifest")
    features = project.load("features")
    report = project.load("extraction_report")

    assert list(features.columns) == ["track_id", *feature_names()]
    assert len(feature_names()) == 519
    assert sorted(features["track_id"]) == sorted(manifest["track_id"])
    assert np.isfinite(features[feature_names()].to_numpy()).all()
    assert report["extracted"] == len(manifest) and report["cached"] == 0
    assert project.load("extraction_failures").empty
    # real values: the synthesized clips are 12 s of music, so tempo and loudness are plausible
    assert features["tempo"].between(40, 260).all()
    assert (features["rmse_mean_01"] > 0).all()
    parts_before = sorted(p.name for p in _cache_dir(project).glob("*.parquet"))
    assert parts_before

    project.run(["feature_engineering"], params=project.params)
    again = project.load("extraction_report")
    assert again["cached"] == len(manifest) and again["extracted"] == 0
    assert sorted(p.name for p in _cache_dir(project).glob("*.parquet")) == parts_before
    pd.testing.assert_frame_equal(
        project.load("features").sort_values("track_id").reset_index(drop=True),
        features.sort_values("track_id").reset_index(drop=True),
    )


def test_changing_a_setting_invalidates_only_that_cache(sample_project):
    project = sample_project
    project.run(["feature_engineering"], params=project.params)
    default_parts = sorted(_cache_dir(project).glob("*.parquet"))
    changed = {**project.params, "feature_engineering.settings.n_mfcc": 13}
    project.run(["feature_engineering"], params=changed)

    report = project.load("extraction_report", params=changed)
    assert report["cached"] == 0 and report["extracted"] == len(project.load("manifest"))
    features = project.load("features", params=changed)
    assert "mfcc_mean_13" in features.columns and "mfcc_mean_14" not in features.columns
    assert sorted(_cache_dir(project).glob("*.parquet")) == default_parts
    assert any(_cache_dir(project, FeatureSettings(n_mfcc=13)).glob("*.parquet"))


def test_a_file_replaced_since_caching_is_extracted_again(sample_project):
    project = sample_project
    project.run(["feature_engineering"], params=project.params)
    manifest = project.load("manifest")
    first = manifest.iloc[0]
    donor = manifest.iloc[-1]
    shutil.copyfile(donor["path"], first["path"])
    project.run(["data_ingestion", "feature_engineering"], params=project.params)
    report = project.load("extraction_report")
    assert report["extracted"] == 1 and report["cached"] == len(manifest) - 1
    features = project.load("features").set_index("track_id")
    assert features.loc[first["track_id"]].equals(features.loc[donor["track_id"]])


def test_every_planted_fault_lands_in_the_failures_table(sample_project):
    """Files that went bad after ingestion (a stale manifest) become failure rows, never a crash."""
    project = sample_project
    info = json.loads((project.sample_root / "sample_info.json").read_text())["summary"]
    manifest = project.load("manifest")
    tracks_dir = project.sample_root / "fma_sample"
    faulty = []
    for reason in ("empty_file", "truncated", "too_short", "missing_file"):
        (track_id,) = info["faults"][reason]
        path = tracks_dir / f"{track_id:06d}"[:3] / f"{track_id:06d}.mp3"
        row = manifest.iloc[0].copy()
        row["track_id"], row["path"] = str(track_id), str(path)
        row["fingerprint"] = audio.fingerprint(path) if path.exists() else "gone"
        faulty.append(row)
    stale = pd.concat([manifest.head(6), pd.DataFrame(faulty)], ignore_index=True)
    catalog = project.catalog(params=project.params)
    previous = os.getcwd()
    os.chdir(project.path)
    try:
        catalog.save("manifest", stale)
    finally:
        os.chdir(previous)

    project.run(["feature_engineering"], params=project.params)
    failures = project.load("extraction_failures")
    reasons = dict(zip(failures["track_id"], failures["reason"], strict=True))
    assert reasons == {
        str(info["faults"][reason][0]): reason
        for reason in ("empty_file", "truncated", "too_short", "missing_file")
    }
    assert failures["error"].str.len().gt(5).all()
    assert len(project.load("features")) == 6


def test_interrupted_run_resumes_without_losing_or_repeating_a_clip(sample_project):
    """`kedro run` killed part-way keeps every finished batch; the rerun extracts only the rest."""
    project = sample_project
    params = {**project.params, "feature_engineering.batch_size": 2}
    args = ",".join(f"{k}={v}" for k, v in params.items())
    command = [
        sys.executable,
        "-m",
        "kedro",
        "run",
        "--pipelines=feature_engineering",
        f"--params={args}",
    ]
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"}
    cache = _cache_dir(project)
    process = subprocess.Popen(
        command,
        cwd=project.path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and len(list(cache.glob("*.parquet"))) < 4:
            assert process.poll() is None, "the run ended before it could be interrupted"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    survived = pd.concat([pd.read_parquet(p) for p in cache.glob("*.parquet")])
    manifest = project.load("manifest")
    assert 0 < len(survived) < len(manifest)

    project.run(["feature_engineering"], params=params)
    report = project.load("extraction_report", params=params)
    assert report["cached"] == survived["track_id"].nunique()
    assert report["extracted"] == len(manifest) - report["cached"]
    features = project.load("features", params=params)
    assert sorted(features["track_id"]) == sorted(manifest["track_id"])
    rows = pd.concat([pd.read_parquet(p) for p in cache.glob("*.parquet")])
    assert rows["track_id"].value_counts().max() == 1  # nothing extracted twice


def test_ctrl_c_ends_in_one_line_that_says_how_to_resume(sample_project, tmp_path):
    """Ctrl+C (SIGINT to the run's process group, as a terminal sends it) during the extraction: exit
    status 130, and the last line says to run the same command again; the finished batches are cached."""
    project = sample_project
    params = {**project.params, "feature_engineering.batch_size": 2}
    params["feature_engineering.cache_dir"] = str(tmp_path / "cache")  # a cold cache of its own
    args = ",".join(f"{k}={v}" for k, v in params.items())
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_LOGGING_CONFIG"}
    env.update(KEDRO_DISABLE_TELEMETRY="1", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--pipelines=feature_engineering", f"--params={args}"],
        cwd=project.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while (
            time.monotonic() < deadline and len(list((tmp_path / "cache").rglob("*.parquet"))) < 2
        ):
            assert process.poll() is None, "the run ended before it could be interrupted"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
    assert process.returncode == 130
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted: run the same command again to resume")
    assert "Traceback" not in stderr
    assert list((tmp_path / "cache").rglob("*.parquet"))  # what finished is kept
