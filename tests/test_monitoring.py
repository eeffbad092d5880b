"""The monitoring and retraining loop, on the built-in sample with Kedro's runner, a real SQLite MLflow,
real Evidently and a real local Ray: new-release batches, drift, flipped labels, champion and challenger,
the daily job's idempotence, and a killed batch run that resumes.

One project copy for the module: the tests run in file order and build on each other's batches, as the
days of a real deployment do (each says what it expects to find).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from music_genre.data import audio
from music_genre.monitoring import drift

from .conftest import KedroProject, make_project_copy, project_on_sample

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

# The first champion: a deliberately weak model (LightGBM on 2% of the features, stumps, few rounds),
# so that the default configuration later trains a challenger that truly beats it.
WEAK = {
    "modeling.hyperparameters.lightgbm.feature_fraction": 0.02,
    "modeling.hyperparameters.lightgbm.num_leaves": 2,
    "modeling.hyperparameters.lightgbm.num_boost_round": 3,
    "modeling.registration.threshold": 0.0,
}
WEAK_PARAMS = ",".join(f"{k}={v}" for k, v in WEAK.items())


def cli(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "music_genre", *args]
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def failed(result: subprocess.CompletedProcess) -> str:
    """What to show when a command failed: the end of its output and the start of its errors."""
    return (
        f"rc {result.returncode}\nstdout: {result.stdout[-1500:]}\nstderr: {result.stderr[:2500]}"
    )


def mlflow_client(project: KedroProject):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{project.path / 'mlflow.db'}")


def aliases(project: KedroProject) -> dict[str, int]:
    model = mlflow_client(project).get_registered_model("music-genre-sample")
    return {alias: int(version) for alias, version in model.aliases.items()}


def versions(project: KedroProject) -> list[int]:
    found = mlflow_client(project).search_model_versions("name = 'music-genre-sample'")
    return sorted(int(v.version) for v in found)


@pytest.fixture(scope="module")
def loop(tmp_path_factory, sample_archive) -> KedroProject:
    """The sample trained once with the weak configuration: version 1, the first champion."""
    project = project_on_sample(tmp_path_factory, sample_archive, "loop")
    project.run(params={**project.params, **WEAK})
    return project


def run(project: KedroProject, pipeline: str, **params):
    project.run([pipeline], params={**project.params, **params})


def test_the_first_registered_model_is_the_champion_and_serves(loop):
    assert aliases(loop) == {"champion": 1}
    info = loop.load("champion_info")
    assert info["version"] == 1 and info["name"] == "music-genre-sample"
    champion = loop.load("champion_genre_classifier")
    assert champion.version == loop.load("genre_classifier").version
    assert champion.info["registry"] == {"name": "music-genre-sample", "version": 1}
    assert loop.load("inference_model").info["serving_role"] == "champion"


def test_batches_are_scored_in_date_order_with_features_and_model(loop):
    new_releases = loop.load("new_releases")
    batches = sorted(new_releases["batch"].unique())
    assert len(batches) >= 3, batches

    run(loop, "inference")
    run(loop, "inference")
    predictions = loop.load("predictions")
    assert sorted(predictions["batch"].unique()) == batches[:2]  # the oldest two, in order
    for batch in batches[:2]:
        expected = set(new_releases.loc[new_releases["batch"] == batch, "path"])
        assert set(predictions.loc[predictions["batch"] == batch, "path"]) == expected
    champion = loop.load("champion_genre_classifier")
    assert (predictions["model_name"] == "music-genre-sample").all()
    assert (predictions["registry_version"] == 1).all()
    assert (predictions["model_version"] == champion.version).all()
    assert (predictions["model_role"] == "champion").all()
    assert not predictions["fallback"].any()
    assert np.allclose(predictions[[f"proba_{g}" for g in champion.classes]].sum(axis=1), 1.0)

    # the features each file was judged on: predicting from them gives the recorded probabilities
    features = loop.load("batch_features")
    assert set(features["path"]) == set(predictions["path"])
    assert (features["feature_digest"] == champion.feature_digest).all()
    merged = predictions.merge(features, on=["path", "fingerprint"], suffixes=("", "_f"))
    proba = champion.predict_proba(merged)
    assert np.allclose(proba, merged[[f"proba_{g}" for g in champion.classes]], atol=1e-9)

    report = loop.load("inference_report")
    assert report["batch"] == batches[1] and report["registry_version"] == 1


def test_held_out_batches_are_monitored_without_drift(loop):
    batches = sorted(loop.load("predictions")["batch"].unique())
    for batch in batches:
        run(loop, "monitoring", **{"monitoring.batch": batch})
        metrics = loop.load("monitoring_metrics")
        decision = loop.load("monitoring_decision")
        assert metrics["batch"] == batch and decision["batch"] == batch
        assert decision["drift"] is False, decision["reasons"]
        assert (
            metrics["n_drift_columns"] == 20
            and "principal components" in metrics["drift_measured_on"]
        )

        # labels come from the FMA metadata of the new releases: the batch accuracy is the real one
        new_releases = loop.load("new_releases").set_index("path")
        rows = loop.load("predictions").query("batch == @batch")
        truth = rows["path"].map(new_releases["genre"])
        assert metrics["n_labelled"] == len(rows)
        assert metrics["batch_accuracy"] == pytest.approx(float((rows["genre"] == truth).mean()))
        assert metrics["mean_confidence"] == pytest.approx(float(rows["confidence"].mean()))

        page = loop.path / f"data/08_reporting/sample/monitoring/report_{batch}.html"
        html = page.read_text(encoding="utf-8")
        assert len(html) > 100_000 and '<script src="http' not in html  # self-contained
        assert batch in html

    # one MLflow run per monitoring run, tagged, its figures at the batch's date, the page an artifact
    client = mlflow_client(loop)
    runs = _monitoring_runs(loop)
    assert sorted(r.data.tags["batch"] for r in runs) == batches
    latest = next(r for r in runs if r.data.tags["batch"] == batches[-1])
    (point,) = client.get_metric_history(latest.info.run_id, "monitoring.drift_share")
    day = pd.Timestamp(batches[-1])
    assert point.step == (day - pd.Timestamp("1970-01-01")).days
    assert point.timestamp == int(day.value // 1_000_000)
    artifacts = [a.path for a in client.list_artifacts(latest.info.run_id, "monitoring")]
    assert f"monitoring/report_{batches[-1]}.html" in artifacts
    assert "monitoring/decision.json" in artifacts


def _degrade(source: Path, destination: Path) -> None:
    """A clip made unlike the sample's music: a 300 Hz low-pass and loud noise."""
    from scipy.signal import butter, sosfilt

    signal_, rate = audio.load_with_rate(source, None)
    low = sosfilt(butter(8, 300, fs=rate, output="sos"), signal_)
    noise = np.random.default_rng(0).normal(0, 0.3, len(low))
    sf.write(destination, (0.5 * low + noise).astype("float32"), rate)


def test_degraded_audio_is_flagged_as_drift_with_reasons(loop, tmp_path):
    folder = tmp_path / "degraded"
    folder.mkdir()
    manifest = loop.load("manifest")
    for i, path in enumerate(manifest.loc[manifest["split"] == "test", "path"].head(12)):
        _degrade(Path(path), folder / f"clip{i:02d}.wav")
    run(loop, "inference", **{"inference.input_dir": str(folder), "inference.batch": "degraded"})
    run(loop, "monitoring", **{"monitoring.batch": "degraded"})
    decision = loop.load("monitoring_decision")
    metrics = loop.load("monitoring_metrics")
    assert decision["drift"] is True
    assert metrics["drift_share"] >= 0.5 and len(metrics["drifted_columns"]) >= 10
    assert any(r.startswith("feature drift:") for r in decision["reasons"])
    assert decision["retrain"] is False  # no labels for a folder: drift alone does not retrain
    assert metrics["batch_accuracy"] is None


@pytest.mark.shared
def test_real_gtzan_clips_are_flagged_as_drift(loop, shared_gtzan):
    run(loop, "inference", **{"inference.input_dir": str(shared_gtzan), "inference.batch": "gtzan"})
    run(loop, "monitoring", **{"monitoring.batch": "gtzan"})
    decision = loop.load("monitoring_decision")
    assert decision["drift"] is True, decision["reasons"]
    assert loop.load("monitoring_metrics")["n_tracks"] == len(audio.find_audio_files(shared_gtzan))


def _flipped_labels(loop: KedroProject, batch: str, path: Path) -> Path:
    """The batch's labels, each replaced by the next genre: what a bad labelling feed delivers."""
    new_releases = loop.load("new_releases")
    rows = new_releases[new_releases["batch"] == batch]
    genres = sorted(loop.load("manifest")["genre"].unique())
    flipped = [genres[(genres.index(g) + 1) % len(genres)] for g in rows["genre"]]
    pd.DataFrame({"track_id": rows["track_id"], "genre": flipped}).to_csv(path, index=False)
    return path


def test_flipped_labels_retrain_and_only_a_better_challenger_becomes_champion(loop, tmp_path):
    counts = loop.load("new_releases")["batch"].value_counts()
    scored = set(loop.load("predictions")["batch"])
    # the next batch with enough labelled tracks to judge accuracy (monitoring.thresholds)
    third = min(b for b, n in counts.items() if n >= 3 and b not in scored)
    labels = _flipped_labels(loop, third, tmp_path / "labels.csv")

    # a day whose labels say the champion is wrong: retrain, with the default (stronger) configuration
    # (the registration threshold off: on the test sample's 14 test tracks an absolute macro F1 gate is
    # noise; promotion, the subject here, compares the two models on the same tracks)
    day = cli(
        "daily", "--batch", third, "--labels", str(labels),
        "--params", "modeling.registration.threshold=0.0", cwd=loop.path,
    )  # fmt: skip
    assert day.returncode == 0, failed(day)
    decision = loop.load("monitoring_decision")
    assert decision["batch"] == third and decision["retrain"] is True
    assert decision["drift"] is False
    assert loop.load("monitoring_metrics")["batch_accuracy"] < 0.5
    registration = loop.load("model_registration")
    promotion = registration["promotion"]
    assert promotion["champion"]["registry_version"] == 1
    # compared on the same tracks: the test split plus the newest labelled batch (not trained on)
    table = loop.load("retraining_input_table")
    compared = int(table["split"].isin(["test", "recent"]).sum())
    assert promotion["challenger"]["n_tracks"] == promotion["champion"]["n_tracks"] == compared
    recent = table[table["split"] == "recent"]
    assert len(recent) == labels.read_text().count("\n") - 1  # the flipped batch, every track
    assert recent["track_id"].str.startswith("batch:").all()
    earlier = table[table["track_id"].str.startswith("batch:") & (table["split"] == "training")]
    assert len(earlier) > 0  # the batches labelled before it are training data now
    assert promotion["challenger"]["score"] >= promotion["champion"]["score"] + 0.01
    assert promotion["promote"] is True
    assert aliases(loop) == {"champion": 2, "previous_champion": 1}
    assert "is the champion" in day.stdout

    # the CLI and the batch job now use version 2; version 1 is the fallback
    new_champion = loop.load("genre_classifier")
    predicted = cli("predict", loop.load("manifest")["path"].iloc[0], "--json", cwd=loop.path)
    assert predicted.returncode == 0, predicted.stderr
    row = json.loads(predicted.stdout)
    assert row["model"]["version"] == new_champion.version
    assert "champion (music-genre-sample version 2)" in row["model"]["source"]
    assert loop.load("fallback_model").info["registry"]["version"] == 1

    # a challenger that is not better by the margin (the weak configuration again) is registered, and
    # stays challenger
    run(loop, "retraining", **WEAK)
    registration = loop.load("model_registration")
    assert registration["registered_version"] == 3
    assert registration["promotion"]["promote"] is False
    scores = registration["promotion"]
    assert scores["challenger"]["score"] < scores["champion"]["score"] + scores["margin"]
    assert "stays champion" not in day.stdout
    assert aliases(loop) == {"champion": 2, "previous_champion": 1, "challenger": 3}
    assert loop.load("champion_info")["version"] == 2
    assert loop.load("inference_model").version == new_champion.version


def test_a_drifted_batch_is_rescored_by_the_fallback_model(loop, tmp_path):
    """After a promotion the previous champion is the fallback: a day of music unlike the training data
    is scored by both, the fallback's rows saying so."""
    folder = tmp_path / "odd"
    folder.mkdir()
    manifest = loop.load("manifest")
    for i, path in enumerate(manifest.loc[manifest["split"] == "validation", "path"].head(10)):
        _degrade(Path(path), folder / f"odd{i:02d}.wav")
    day = cli("daily", "--input-dir", str(folder), "--batch", "odd-day", cwd=loop.path)
    assert day.returncode == 0, failed(day)
    assert "fallback: the batch re-scored by the fallback model (drift)" in day.stdout
    rows = loop.load("predictions").query("batch == 'odd-day'")
    served, fallback = rows[~rows["fallback"]], rows[rows["fallback"]]
    assert len(served) == len(fallback) == 10
    assert (served["registry_version"] == 2).all() and (served["model_role"] == "champion").all()
    assert (fallback["registry_version"] == 1).all() and (
        fallback["model_role"] == "fallback"
    ).all()
    assert fallback["fallback_reason"].str.startswith("drift: feature drift").all()
    assert loop.load("monitoring_decision")["drift"] is True


def test_rerunning_a_day_changes_nothing(loop):
    first = sorted(loop.load("new_releases")["batch"].unique())[0]
    # that batch was scored by version 1; the champion (2) scores and monitors it, once
    day = cli("daily", "--batch", first, "--no-retrain", cwd=loop.path)
    assert day.returncode == 0, failed(day)
    before = {
        "predictions": len(loop.load("predictions")),
        "history": len(loop.load("monitoring_history")),
        "versions": versions(loop),
        "monitoring runs": len(_monitoring_runs(loop)),
    }
    again = cli("daily", "--batch", first, cwd=loop.path)
    assert again.returncode == 0, failed(again)
    assert "already done for this batch and model: nothing to do" in again.stdout
    assert len(loop.load("predictions")) == before["predictions"]
    assert len(loop.load("monitoring_history")) == before["history"]
    assert len(_monitoring_runs(loop)) == before["monitoring runs"]
    assert versions(loop) == before["versions"]

    # training again on the same data with the same parameters adds no registry version
    run(loop, "retraining", **WEAK)
    assert versions(loop) == before["versions"]
    assert loop.load("model_registration")["new_version"] is False


def _monitoring_runs(loop: KedroProject):
    client = mlflow_client(loop)
    experiment = client.get_experiment_by_name("music-genre-sample")
    return client.search_runs([experiment.experiment_id], "tags.music_genre_stage = 'monitoring'")


def test_a_killed_batch_run_resumes_without_duplicates(loop, tmp_path):
    import psutil

    folder = tmp_path / "today"
    folder.mkdir()
    manifest = loop.load("manifest")
    for i, path in enumerate(manifest.loc[manifest["split"] == "validation", "path"].head(8)):
        (folder / f"new{i:02d}.mp3").write_bytes(Path(path).read_bytes())
    params = f"inference.input_dir={folder},inference.batch=resume,inference.batch_size=1"
    progress = loop.path / "data/07_model_output/sample/inference_progress"
    process = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--pipelines=inference", f"--params={params}"],
        cwd=loop.path,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not list(progress.glob("resume__*/part-*.parquet")):
            assert process.poll() is None, "the run ended before it could be killed"
            time.sleep(0.2)
        family = psutil.Process(process.pid).children(recursive=True)
        os.killpg(process.pid, signal.SIGKILL)  # the run and its Ray
        for child in family:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    done_before = len(
        pd.concat([pd.read_parquet(p) for p in progress.glob("resume__*/part-*.parquet")])
    )
    assert 1 <= done_before < 8
    before = loop.load("predictions")
    assert before.empty or "resume" not in set(before["batch"])  # nothing saved yet

    run(loop, "inference", **{"inference.input_dir": str(folder), "inference.batch": "resume"})
    report = loop.load("inference_report")
    assert report["resumed"] == done_before
    assert report["scored"] == 8
    predictions = loop.load("predictions")
    rows = predictions[predictions["batch"] == "resume"]
    assert len(rows) == 8 and rows["path"].is_unique
    assert not list(progress.glob("resume__*"))  # the checkpoint is gone once the rows are saved


def test_bad_batches_get_one_clear_line(loop, tmp_path):
    # an empty batch: every file unreadable -> a log line, no report, no crash
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "noise.mp3").write_bytes(b"not audio at all" * 100)
    run(loop, "inference", **{"inference.input_dir": str(folder), "inference.batch": "broken"})
    run(loop, "monitoring", **{"monitoring.batch": "broken"})
    decision = loop.load("monitoring_decision")
    assert decision["retrain"] is False and decision["drift"] is False
    assert decision["reasons"] == ["batch broken is empty: nothing to monitor"]
    assert not (loop.path / "data/08_reporting/sample/monitoring/report_broken.html").exists()

    # labels naming genres the model never saw: counted and reported
    batch = sorted(loop.load("new_releases")["batch"].unique())[0]
    rows = loop.load("new_releases").query("batch == @batch")
    labels = tmp_path / "polka.csv"
    pd.DataFrame({"path": rows["path"], "genre": "Polka"}).to_csv(labels, index=False)
    run(loop, "inference", **{"inference.batch": batch})
    run(loop, "monitoring", **{"monitoring.batch": batch, "monitoring.labels_csv": str(labels)})
    metrics = loop.load("monitoring_metrics")
    assert metrics["unseen_genre_labels"] == len(rows) and metrics["unseen_genres"] == ["Polka"]
    assert metrics["batch_accuracy"] == 0.0
    assert any("never saw: Polka" in r for r in loop.load("monitoring_decision")["reasons"])

    # a batch featurized otherwise than the reference is refused, naming both digests
    with pytest.raises(
        drift.FeatureMismatchError, match="abc123.*differ from the reference's.*def456"
    ):
        drift.check_features("def456", ["abc123"])

    # no training run yet: one line saying what to run
    fresh = make_project_copy(tmp_path / "fresh")
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--pipelines=monitoring"],
        cwd=fresh,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "`kedro run`" in line


def test_the_airflow_dag_runs_the_pipelines_the_project_has():
    """docs/airflow/music_genre_daily.py cannot run here (no Airflow): it must at least compile and name
    pipelines, parameters and files that exist."""
    import ast

    from .conftest import PROJECT_ROOT

    source = (PROJECT_ROOT / "docs/airflow/music_genre_daily.py").read_text()
    tree = ast.parse(source)
    calls = [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "kedro_run"
        and isinstance(node.args[0], ast.Constant)
    ]
    assert sorted(set(calls)) == ["inference", "monitoring", "retraining"]
    pipelines = {p.name for p in (PROJECT_ROOT / "src/music_genre/pipelines").iterdir()}
    assert set(calls) <= pipelines
    for parameter in ("monitoring.batch", "inference.batch", "inference.use_fallback"):
        assert parameter in source
    assert '"monitoring" / "decision.json"' in source and "inference_report.json" in source


def test_daily_outside_a_project_is_a_usage_error(tmp_path):
    result = cli("daily", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: not inside the music-genre project: pass --project DIR"
    helped = cli("daily", "--help", cwd=tmp_path)
    assert (
        helped.returncode == 0 and "--labels" in helped.stdout and "--no-retrain" in helped.stdout
    )


def test_a_checkpoint_torn_by_a_kill_is_read_only_where_complete(tmp_path):
    """A kill can land while a part is being written: what it leaves (a temporary file, features
    without their part) is ignored, complete parts are read."""
    from music_genre.monitoring.progress import BatchProgress, unfinished_batches

    store = BatchProgress(tmp_path, "2017-01-01", "v1")
    rows = pd.DataFrame({"path": ["a.mp3", "b.mp3"], "genre": ["Rock", "Pop"]})
    features = pd.DataFrame({"path": ["a.mp3", "b.mp3"], "f": [1.0, 2.0]})
    store.add(rows, features)
    (store.folder / "features-00001.parquet").write_bytes(b"PAR1 torn")  # its part never came
    (store.folder / ".part-00001.parquet.tmp").write_bytes(b"PAR1 torn")
    loaded_rows, loaded_features = store.load()
    assert loaded_rows.equals(rows) and loaded_features.equals(features)
    assert unfinished_batches(tmp_path) == ["2017-01-01"]
    store.clear()
    assert unfinished_batches(tmp_path) == []
