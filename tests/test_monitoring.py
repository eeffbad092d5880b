"""The monitoring and retraining loop, on the built-in sample with Kedro's runner, a real SQLite MLflow,
real Evidently and a real local Ray: new-release batches, drift, flipped labels, champion and challenger,
the daily job's idempotence, and a killed batch run that resumes.

One project copy for the module: the tests run in file order and build on each other's batches, as the
days of a real deployment do. Each test first asserts the state it builds on (which batches are scored, which
registry version holds which alias), so a failure upstream reads as a broken precondition, not as a wrong
result downstream. No outcome is left to the models' scores on the sample's few tracks: promotion is forced
or forbidden with ``modeling.promotion.margin``, registration is always on (``REGISTER_ALWAYS``), and a
labelling feed that calls the champion wrong is built from the champion's own predictions.
"""

from __future__ import annotations

import html as markup
import json
import os
import re
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

from .conftest import REGISTER_ALWAYS, KedroProject, make_project_copy, project_on_sample

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

# The first champion: a deliberately weak model (LightGBM on 2% of the features, stumps, few rounds),
# so that the default configuration later trains a challenger that truly beats it.
WEAK = {
    "modeling.hyperparameters.lightgbm.feature_fraction": 0.02,
    "modeling.hyperparameters.lightgbm.num_leaves": 2,
    "modeling.hyperparameters.lightgbm.num_boost_round": 3,
    **REGISTER_ALWAYS,
}
# Promotion is a comparison of two scores on the sample's few test and recent tracks: which model wins is
# luck. A promotion rule (challenger >= champion + margin) with margin -1 always promotes, with margin 1.01
# (accuracy is at most 1) never does: the tests choose the outcome and check what follows from it.
ALWAYS_PROMOTE = {"modeling.promotion.margin": -1}
NEVER_PROMOTE = {"modeling.promotion.margin": 1.01}
# A retraining with the weak configuration that must stay challenger (and, run again, adds no version).
WEAK_CHALLENGER = {**WEAK, **NEVER_PROMOTE}


def cli_params(params: dict) -> str:
    """``--params`` of the CLI (values read as YAML, as ``kedro run --params`` does)."""
    return ",".join(f"{key}={value}" for key, value in params.items())


def cli(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """``music-genre ...`` as a user (or cron) runs it: the project's own conf/logging.yml, so stdout
    holds what the person reads (the day's block) and stderr the log records."""
    command = [sys.executable, "-m", "music_genre", *args]
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_LOGGING_CONFIG"}
    env["KEDRO_DISABLE_TELEMETRY"] = "1"
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


def test_held_out_batches_are_monitored_without_drift(loop, capsys):
    """The held-out batches are the sample's own music (its newest tracks, never trained on), 3 or 4
    tracks each: a K-S test of so few against the reference's 30 flags a component only when the tracks
    lie almost all outside the reference's range on it, and drift needs half of the 20 components
    flagged. Measured: none is (the smallest p-value is 0.09 against 0.05), so "no drift" does not
    hang on a component near the line."""
    batches = sorted(loop.load("predictions")["batch"].unique())
    # precondition: the previous test scored the two oldest new-release batches, and nothing else
    assert batches == sorted(loop.load("new_releases")["batch"].unique())[:2]
    for batch in batches:
        capsys.readouterr()
        run(loop, "monitoring", **{"monitoring.batch": batch})
        summary = capsys.readouterr().out.splitlines()
        metrics = loop.load("monitoring_metrics")
        decision = loop.load("monitoring_decision")
        assert metrics["batch"] == batch and decision["batch"] == batch
        assert decision["drift"] is False, decision["reasons"]
        # one verdict per decision, in decision.json's words in the summary block (drift, then retrain)
        assert decision["drift_verdict"].startswith("drift: no (")
        assert decision["retrain_verdict"].startswith("retrain: ")
        # the sample's reference is under min_reference_tracks (50): its drift check is weak, and says so
        assert decision["weak"] is (metrics["n_reference"] < 50)
        at = next(i for i, line in enumerate(summary) if line.startswith("Decision "))
        assert summary[at].removeprefix("Decision").strip() == decision["drift_verdict"]
        assert summary[at + 1].strip() == decision["retrain_verdict"]
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
        top = html.index("</h2>", html.index("<body"))  # the heading: the verdicts come right after
        for line in (decision["drift_verdict"], decision["retrain_verdict"]):
            assert markup.escape(line) in html[top : top + 2000]

    # one MLflow run per monitoring run, tagged, its figures at the batch's date; the page is stored
    # once, in the report folder, and the run's tag names it
    client = mlflow_client(loop)
    runs = _monitoring_runs(loop)
    assert sorted(r.data.tags["batch"] for r in runs) == batches
    latest = next(r for r in runs if r.data.tags["batch"] == batches[-1])
    (point,) = client.get_metric_history(latest.info.run_id, "monitoring.drift_share")
    day = pd.Timestamp(batches[-1])
    assert point.step == (day - pd.Timestamp("1970-01-01")).days
    assert point.timestamp == int(day.value // 1_000_000)
    artifacts = [a.path for a in client.list_artifacts(latest.info.run_id, "monitoring")]
    assert not any(path.endswith(".html") for path in artifacts)
    assert "monitoring/decision.json" in artifacts
    page = latest.data.tags["monitoring_report"]
    assert page == f"data/08_reporting/sample/monitoring/report_{batches[-1]}.html"
    assert (loop.path / page).is_file()


def _degrade(source: Path, destination: Path) -> None:
    """A clip made unlike the sample's music: a 300 Hz low-pass and loud noise. Feature drift is a K-S
    test per principal component against the reference's 30 tracks; with two dozen such clips every
    component drifts, the tenth-strongest at p 0.0004 against the threshold 0.05 (with 12 clips, 0.001),
    so a drifted verdict does not hang on a component near the line."""
    from scipy.signal import butter, sosfilt

    signal_, rate = audio.load_with_rate(source, None)
    low = sosfilt(butter(8, 300, fs=rate, output="sos"), signal_)
    noise = np.random.default_rng(0).normal(0, 0.3, len(low))
    sf.write(destination, (0.5 * low + noise).astype("float32"), rate)


DEGRADED_CLIPS = 24  # see _degrade


def test_degraded_audio_is_flagged_as_drift_with_reasons(loop, tmp_path):
    folder = tmp_path / "degraded"
    folder.mkdir()
    manifest = loop.load("manifest")
    training = manifest.loc[manifest["split"] == "training", "path"]
    for i, path in enumerate(training.head(DEGRADED_CLIPS)):
        _degrade(Path(path), folder / f"clip{i:02d}.wav")
    run(loop, "inference", **{"inference.input_dir": str(folder), "inference.batch": "degraded"})
    run(loop, "monitoring", **{"monitoring.batch": "degraded"})
    decision = loop.load("monitoring_decision")
    metrics = loop.load("monitoring_metrics")
    assert decision["drift"] is True
    # the share is Evidently's count; the drifted columns are read from its per-column tests: they agree,
    # and reach the configured share
    assert metrics["n_tracks"] == DEGRADED_CLIPS
    drifted = metrics["drifted_columns"]
    assert metrics["drift_share"] == pytest.approx(len(drifted) / metrics["n_drift_columns"])
    assert len(drifted) >= decision["thresholds"]["drift_share"] * metrics["n_drift_columns"]
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
    """The batch's labels, each the genre after the one the champion predicted for the track: a labelling
    feed that calls the champion wrong on every track, so its batch accuracy is 0 whatever the model
    (labels flipped from the truth would leave it to luck whether the champion, which often misses the
    truth, happens to predict the flipped genre)."""
    new_releases = loop.load("new_releases")
    rows = new_releases[new_releases["batch"] == batch]
    predicted = loop.load("predictions").query("batch == @batch").set_index("path")["genre"]
    assert set(predicted.index) == set(rows["path"]) and predicted.index.is_unique
    genres = sorted(loop.load("champion_genre_classifier").classes)
    flipped = [genres[(genres.index(predicted[p]) + 1) % len(genres)] for p in rows["path"]]
    pd.DataFrame({"track_id": rows["track_id"], "genre": flipped}).to_csv(path, index=False)
    return path


def test_flipped_labels_retrain_and_the_promotion_rule_decides_the_champion(loop, tmp_path):
    """Labels that call the champion wrong trigger retraining; the challenger is compared with the
    champion on the same tracks, and the promotion rule (challenger >= champion + margin), not which model
    happened to score higher on a dozen tracks, decides: the margin is set so that the first challenger
    must be promoted and the second must not."""
    # precondition: version 1, the weak model, is the only one and the champion
    assert versions(loop) == [1] and aliases(loop) == {"champion": 1}
    thresholds = loop.load("params:monitoring")["thresholds"]
    counts = loop.load("new_releases")["batch"].value_counts()
    scored = set(loop.load("predictions")["batch"])
    # the next batch with enough labelled tracks to judge accuracy
    third = min(
        b for b, n in counts.items() if n >= thresholds["min_labelled_tracks"] and b not in scored
    )
    run(loop, "inference", **{"inference.batch": third})  # scored by the champion: its predictions
    labels = _flipped_labels(loop, third, tmp_path / "labels.csv")

    # a day whose labels say the champion is wrong: retrain, with the default (stronger) configuration;
    # registration always on (REGISTER_ALWAYS: an absolute gate on the sample's 14 test tracks is noise)
    # and promotion forced (margin -1): what follows from a promotion is the subject here
    day = cli(
        "daily", "--batch", third, "--labels", str(labels),
        "--params", cli_params({**REGISTER_ALWAYS, **ALWAYS_PROMOTE}), cwd=loop.path,
    )  # fmt: skip
    assert day.returncode == 0, failed(day)
    decision = loop.load("monitoring_decision")
    metrics = loop.load("monitoring_metrics")
    assert decision["batch"] == third and decision["drift"] is False, decision["reasons"]
    assert metrics["n_labelled"] == len(labels.read_text().splitlines()) - 1
    assert metrics["batch_accuracy"] == 0.0  # every label differs from the champion's prediction
    assert decision["retrain"] is True  # 0 < monitoring.thresholds.min_batch_accuracy
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
    # the rule, with the margin this run was given: promoted, version 1 kept as the previous champion
    assert promotion["margin"] == -1.0 and promotion["promote"] is True
    assert promotion["challenger"]["score"] >= promotion["champion"]["score"] - 1.0
    assert registration["registered_version"] == 2 and registration["alias"] == "champion"
    assert registration["replaced_champion"] == 1
    assert aliases(loop) == {"champion": 2, "previous_champion": 1}
    assert "is the champion" in day.stdout
    # the daily block's Decision rows are the decision's verdicts, word for word
    assert decision["drift_verdict"] in day.stdout and decision["retrain_verdict"] in day.stdout
    # one block for the day (the sub-runs' blocks are in info.log), ending with the champion it leaves
    assert day.stdout.count("== music-genre") == 1 and "== music-genre daily: " in day.stdout
    # its title says when the day ran (logs/daily.log gathers a block a day)
    assert re.search(
        r"^== music-genre daily: sample, \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 =+$",
        day.stdout,
        re.M,
    )
    assert re.search(r"^Champion +music-genre-sample version 2 \(serves the next batch\)$",
                     day.stdout, re.M)  # fmt: skip
    assert "Next" not in day.stdout  # no advice meant for a person between runs
    assert "== music-genre batch inference" in (loop.path / "info.log").read_text()

    # the CLI and the batch job now use version 2; version 1 is the fallback
    new_champion = loop.load("genre_classifier")
    predicted = cli("predict", loop.load("manifest")["path"].iloc[0], "--json", cwd=loop.path)
    assert predicted.returncode == 0, predicted.stderr
    row = json.loads(predicted.stdout)
    assert row["model"]["version"] == new_champion.version
    assert "champion (music-genre-sample version 2)" in row["model"]["source"]
    assert loop.load("fallback_model").info["registry"]["version"] == 1

    # a challenger the rule cannot promote (the weak configuration again, margin 1.01 above an accuracy
    # of at most 1) is registered, and stays challenger
    run(loop, "retraining", **WEAK_CHALLENGER)
    registration = loop.load("model_registration")
    assert registration["registered_version"] == 3 and registration["new_version"] is True
    scores = registration["promotion"]
    assert scores["champion"]["registry_version"] == 2  # compared with the current champion
    assert scores["challenger"]["n_tracks"] == scores["champion"]["n_tracks"] > 0
    assert scores["margin"] == 1.01 and scores["promote"] is False
    assert scores["challenger"]["score"] < scores["champion"]["score"] + scores["margin"]
    assert registration["alias"] == "challenger" and registration["champion_version"] == 2
    assert registration["replaced_champion"] is None
    assert aliases(loop) == {"champion": 2, "previous_champion": 1, "challenger": 3}
    assert loop.load("champion_info")["version"] == 2
    assert loop.load("inference_model").version == new_champion.version


def test_a_drifted_batch_is_rescored_by_the_fallback_model(loop, tmp_path):
    """After a promotion the previous champion is the fallback: a day of music unlike the training data
    is scored by both, the fallback's rows saying so."""
    # precondition: the previous test promoted version 2 over version 1 and left version 3 challenger
    assert aliases(loop) == {"champion": 2, "previous_champion": 1, "challenger": 3}
    folder = tmp_path / "odd"
    folder.mkdir()
    manifest = loop.load("manifest")
    odd = manifest.loc[manifest["split"] == "training", "path"].iloc[DEGRADED_CLIPS:]
    for i, path in enumerate(odd.head(DEGRADED_CLIPS)):
        _degrade(Path(path), folder / f"odd{i:02d}.wav")
    day = cli("daily", "--input-dir", str(folder), "--batch", "odd-day", cwd=loop.path)
    assert day.returncode == 0, failed(day)
    assert "the batch re-scored by the fallback model (drift)" in day.stdout
    rows = loop.load("predictions").query("batch == 'odd-day'")
    served, fallback = rows[~rows["fallback"]], rows[rows["fallback"]]
    assert len(served) == len(fallback) == DEGRADED_CLIPS
    assert (served["registry_version"] == 2).all() and (served["model_role"] == "champion").all()
    assert (fallback["registry_version"] == 1).all() and (
        fallback["model_role"] == "fallback"
    ).all()
    assert (fallback["fallback_reason"] == loop.load("monitoring_decision")["drift_verdict"]).all()
    assert fallback["fallback_reason"].str.startswith("drift: yes (").all()
    assert loop.load("monitoring_decision")["drift"] is True


def test_rerunning_a_day_changes_nothing(loop):
    # precondition: three versions, version 2 the champion (the promotion test's outcome)
    assert versions(loop) == [1, 2, 3] and aliases(loop)["champion"] == 2
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
    assert "already monitored for this batch and model: nothing to do" in again.stdout
    assert len(loop.load("predictions")) == before["predictions"]
    assert len(loop.load("monitoring_history")) == before["history"]
    assert len(_monitoring_runs(loop)) == before["monitoring runs"]
    assert versions(loop) == before["versions"]

    # training again on the same data with the same parameters adds no registry version (and, the
    # promotion rule forbidding it as before, moves no alias)
    aliases_before = aliases(loop)
    run(loop, "retraining", **WEAK_CHALLENGER)
    assert versions(loop) == before["versions"]
    registration = loop.load("model_registration")
    assert registration["new_version"] is False and registration["registered_version"] == 3
    assert aliases(loop) == aliases_before


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
    from music_genre.monitoring.checkpoints import BatchProgress, unfinished_batches

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


def refit_reference_table(seed: int = 0) -> pd.DataFrame:
    """Tracks of three genres in the three splits, each track's features its own (``f0`` numbers it),
    so a reference row names the track it came from."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, per_genre in (("training", 20), ("validation", 6), ("test", 8)):
        for g, genre in enumerate(("Folk", "Pop", "Rock")):
            for i in range(per_genre):
                values = np.eye(3, 6)[g] * 3.0 + rng.normal(size=6)
                rows.append({"track_id": f"{split}-{genre}-{i}", "genre": genre, "split": split,
                             "f0": float(len(rows)),
                             **{f"f{k + 1}": float(v) for k, v in enumerate(values)}})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("refit", "expected"), [(True, ["test"]), (False, ["validation", "test"])])
def test_the_monitoring_reference_of_a_refit_model_holds_none_of_the_tracks_it_fitted(
    refit, expected
):
    """A small collection's model is refit on training+validation: its reference (what its confidence on
    unseen music is measured on) is then the test split alone, never a track it fitted; a model fitted on
    training keeps the configured validation and test splits."""
    from music_genre.features import FeatureSettings
    from music_genre.modeling.training import train_classifier
    from music_genre.pipelines.monitoring.nodes import build_monitoring_frames

    table = refit_reference_table()
    settings = FeatureSettings().to_dict()
    model = train_classifier(
        table, "logistic_regression", {"C": 1.0, "max_iter": 500}, seed=0,
        feature_settings=settings, feature_digest="synthetic-7", refit_on_validation=refit,
    )  # fmt: skip
    assert model.info["fitted_on"] == ("training+validation" if refit else "training")
    reference, current = build_monitoring_frames(
        pd.DataFrame(columns=["path", "feature_digest"]),
        pd.DataFrame(),
        table,
        settings,
        model,
        pd.DataFrame(),
        pd.DataFrame(),
        {"reference_splits": ["validation", "test"]},
    )
    assert current.empty
    split_of = table.set_index("f0")["split"]
    assert sorted(split_of[reference["f0"]].unique()) == sorted(expected)
    assert len(reference) == int(table["split"].isin(expected).sum())
    fitted = drift.fitted_splits(model)
    assert not split_of[reference["f0"]].isin(fitted).any()


def test_a_reference_of_only_fitted_tracks_is_one_clear_line():
    from music_genre.common.errors import ExpectedError
    from music_genre.modeling.training import train_classifier

    model = train_classifier(
        refit_reference_table(), "logistic_regression", {"C": 1.0, "max_iter": 500}, seed=0,
        refit_on_validation=True,
    )  # fmt: skip
    with pytest.raises(ExpectedError) as raised:
        drift.unseen_splits(model, ["validation"])
    assert str(raised.value) == (
        "monitoring.reference_splits ['validation'] holds only tracks the model was fitted on "
        "(training+validation): add a split it never fitted, e.g. test"
    )
    assert drift.unseen_splits(model, ["validation", "test"]) == ["test"]
