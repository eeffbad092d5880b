"""A new user's small real collection with the defaults: `kedro run --env=gtzan` on the 40 real GTZAN clips
of ../shared, with the embeddings extra (the embedding, a model chosen by cross-validation) and without it
(handcrafted features, one warning line naming the extra). Real Kedro, Ray, MLflow, audio."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from music_genre.features.embeddings import weights as musicnn_weights

from .conftest import make_project_copy

pytestmark = [pytest.mark.slow, pytest.mark.shared]


def gtzan_params(root: Path) -> dict:
    return {"dataset.root": str(root), "feature_engineering.progress": False}


def test_gtzan_defaults_train_on_the_embedding_and_predict_uses_it(
    weights_env, shared_gtzan, kedro_project, tmp_path
):
    kedro_project.run(env="gtzan", params=gtzan_params(shared_gtzan))
    settings = kedro_project.load("feature_settings", env="gtzan")
    assert settings["feature_set"] == "handcrafted+embedding"
    metrics = kedro_project.load("model_metrics", env="gtzan")
    assert metrics["feature_set"] == "handcrafted+embedding"
    selection = metrics["model_selection"]
    assert metrics["model_type"] == selection[0]["model_type"] != "lightgbm"
    # k-fold over the training and validation clips (never the test split): k = the smallest genre's
    table = kedro_project.load("model_input_table", env="gtzan")
    assert len(table) == 40 and selection[0]["folds"] in (3, 4)
    assert selection[0]["n_tracks"] == int((table["split"] != "test").sum())
    assert selection[0]["accuracy_mean"] > 0.6  # 10 genres: chance is 0.1
    assert metrics["better_than_chance"] is True
    assert metrics["splits"]["test"]["accuracy"] > 0.3
    summary = kedro_project.path / "data/08_reporting/gtzan/evaluation/summary.md"
    assert "features `handcrafted+embedding`" in summary.read_text()

    # model_comparison on the same features: every model type cross-validated, one row each.
    kedro_project.run(
        pipelines=["model_comparison"], env="gtzan", params=gtzan_params(shared_gtzan)
    )
    cv = kedro_project.load("model_cv_table", env="gtzan")
    assert sorted(cv["model_type"]) == sorted(
        ["lightgbm", "logistic_regression", "svm", "knn", "random_forest"]
    )
    assert (
        cv["cv_accuracy_mean"].between(0, 1).all() and cv["cv_accuracy_std"].between(0, 0.5).all()
    )
    assert cv["cv_accuracy_mean"].max() > 0.6 and (cv["cv_folds"] == 4).all()

    # The CLI predicts with the same features, from the project's latest model.
    clip = shared_gtzan / "classical" / "classical.00001.wav"
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "music_genre", "predict", str(clip), "--env", "gtzan", "--json",
         "--project", str(kedro_project.path)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"genre": "classical"' in result.stdout

    # A model that learned nothing is announced when loaded.
    model_dir = kedro_project.path / "data/06_models/gtzan/genre_classifier.pkl"
    latest = sorted(model_dir.iterdir())[-1] / "genre_classifier.pkl"
    classifier = pickle.loads(latest.read_bytes())
    classifier.info["better_than_chance"] = False
    flagged = tmp_path / "flagged.pkl"
    flagged.write_bytes(pickle.dumps(classifier))
    result = subprocess.run(
        [sys.executable, "-m", "music_genre", "predict", str(clip), "--model", str(flagged)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0
    assert "no better than chance" in result.stderr

    # The embedding's weights gone (another machine, a cleaned cache): one line naming the fix.
    classifier.info["better_than_chance"] = True
    classifier.feature_settings["embedding_weights"] = str(tmp_path / "gone" / "msd_musicnn.npz")
    moved = tmp_path / "moved.pkl"
    moved.write_bytes(pickle.dumps(classifier))
    no_weights = {k: v for k, v in env.items() if k != musicnn_weights.WEIGHTS_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "music_genre", "predict", str(clip), str(clip), "--model", str(moved)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**no_weights, "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and "musicnn weights not found" in lines[0]
        and "embedding_weights" in lines[0]
    )


def test_gtzan_defaults_without_the_extra_use_handcrafted_features(shared_gtzan, tmp_path):
    """TensorFlow not importable, no converted weights anywhere: `auto` falls back with one warning line
    and the run still ends with a model clearly above chance."""
    project = make_project_copy(tmp_path / "project")
    blocker = tmp_path / "no_tensorflow"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['tensorflow'] = None\n")
    env = {k: v for k, v in os.environ.items() if k != musicnn_weights.WEIGHTS_ENV}
    env.update(
        HOME=str(tmp_path), PYTHONPATH=str(blocker), KEDRO_DISABLE_TELEMETRY="1", COLUMNS="400"
    )
    params = ",".join(f"{k}={v}" for k, v in gtzan_params(shared_gtzan).items())
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--env=gtzan", f"--params={params}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    warnings = [line for line in output.splitlines() if "feature_set auto" in line]
    assert (
        len(warnings) == 1
        and 'pip install -c requirements-lock.txt -e ".[embeddings]"' in warnings[0]
    )
    import json

    settings = json.loads((project / "data/04_feature/gtzan/feature_settings.json").read_text())
    assert settings["feature_set"] == "handcrafted"
    metrics = json.loads((project / "data/08_reporting/gtzan/model_metrics.json").read_text())
    assert metrics["better_than_chance"] is True
    assert metrics["model_selection"][0]["accuracy_mean"] > 0.4
