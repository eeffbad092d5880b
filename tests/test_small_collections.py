"""A new user's small real collection with the defaults: `kedro run --env=gtzan` on the 40 real GTZAN clips
of ../shared, with the embeddings extra (the embedding, a model chosen by cross-validation) and without it
(handcrafted features, one warning line naming the extra). Real Kedro, Ray, MLflow, audio."""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from music_genre.features import feature_names
from music_genre.features.embeddings import weights as musicnn_weights
from music_genre.modeling.training import chance_level

from .conftest import make_project_copy
from .stats import assert_beats_chance
from .test_first_contact import CONSOLE_RECORD

pytestmark = [pytest.mark.slow, pytest.mark.shared]


def gtzan_params(root: Path) -> dict:
    return {"dataset.root": str(root), "feature_engineering.progress": False}


def cv_hits(mean_accuracy: float, n_tracks: int, folds: int) -> int:
    """Clips one repeat of the cross-validation scored right, at least: a repeat scores every clip once, in
    stratified folds of ``n // k`` or ``n // k + 1`` clips, so the mean of the folds' accuracies times
    ``k * (n // k)`` bounds its hits from below."""
    return math.floor(mean_accuracy * folds * (n_tracks // folds) + 1e-9)


def assert_chance_verdict_is_recomputed(metrics: dict, table) -> None:
    """``better_than_chance`` is what the reported accuracies and the splits' majority shares say. (Whether
    2 of 5 validation or test clips come out right is luck: the cross-validation carries the evidence.)"""
    verdicts = []
    for split in ("validation", "test"):
        chance = chance_level(table.loc[table["split"] == split, "genre"])
        reported = metrics["chance"][split]
        assert reported["chance"] == pytest.approx(chance)
        assert reported["accuracy"] == pytest.approx(metrics["splits"][split]["accuracy"])
        assert reported["better"] is (reported["accuracy"] > chance + 1e-9)
        verdicts.append(reported["better"])
    assert metrics["better_than_chance"] is all(verdicts)


def assert_choice_follows_the_rule(selection: list[dict]) -> dict:
    """The one row marked chosen is the documented rule's pick: the best mean accuracy, or a row with
    fewer columns within one standard error (spread over the folds / sqrt(folds x repeats)) of it."""
    (chosen,) = [row for row in selection if row["chosen"]]
    best = max(selection, key=lambda row: row["accuracy_mean"])
    runs = best["folds"] * best["repeats"]
    tolerance = best["accuracy_std"] / math.sqrt(runs)
    tied = [
        row
        for row in selection
        if row["accuracy_mean"] >= best["accuracy_mean"] - tolerance - 1e-12
    ]
    expected = min(tied, key=lambda row: (row["n_columns"], -row["accuracy_mean"]))
    assert (chosen["feature_set"], chosen["model_type"]) == (
        expected["feature_set"],
        expected["model_type"],
    )
    return chosen


def test_gtzan_defaults_train_on_the_embedding_and_predict_uses_it(
    weights_env, shared_gtzan, kedro_project, tmp_path
):
    """Which candidate wins the cross-validation on 35 clips, and how many of 5 test clips come out right,
    is the sample's luck: the test checks the choice follows the run's own scores, and the scores' evidence
    against chance (the clips of every fold pooled), not fixed accuracies."""
    kedro_project.run(env="gtzan", params=gtzan_params(shared_gtzan))
    # feature_set auto: every candidate set is extracted once, as one table (their columns' union)
    settings = kedro_project.load("feature_settings", env="gtzan")
    assert settings["feature_set"] == "handcrafted+embedding"
    candidates = kedro_project.load("feature_set_candidates", env="gtzan")
    configured = kedro_project.load("params:feature_engineering", env="gtzan")["auto"]
    assert list(candidates["sets"]) == [c["name"] for c in configured["candidates"]]
    assert set(feature_names(settings)) >= {  # stats apply to every layer extracted: a few more
        name for values in candidates["sets"].values() for name in feature_names(values)
    }
    table = kedro_project.load("model_input_table", env="gtzan")
    assert len(table) == 40 and set(feature_names(settings)) <= set(table.columns)

    # ...and modeling chose the set with the model type, on the same folds, by the documented rule
    metrics = kedro_project.load("model_metrics", env="gtzan")
    selection = metrics["model_selection"]
    modeling = kedro_project.load("params:modeling", env="gtzan")
    types = [*modeling["selection"]["candidates"], "ensemble"]
    assert sorted((r["feature_set"], r["model_type"]) for r in selection) == sorted(
        (name, model_type) for name in candidates["sets"] for model_type in types
    )
    chosen = assert_choice_follows_the_rule(selection)
    assert (metrics["feature_set"], metrics["model_type"]) == (
        chosen["feature_set"],
        chosen["model_type"],
    )
    model = kedro_project.load("genre_classifier", env="gtzan")
    chosen_settings = candidates["sets"][chosen["feature_set"]]
    assert model.feature_columns == feature_names(
        chosen_settings
    )  # it reads its set's columns only
    assert model.feature_settings["feature_set"] == chosen_settings["feature_set"]
    assert metrics["n_features"] == chosen["n_columns"] == len(model.feature_columns)
    if chosen["model_type"] == "ensemble":
        assert model.info["ensemble_members"] == chosen["members"]
    # refit on training + validation (all but LightGBM), once chosen: a small collection
    assert model.info["fitted_on"] == (
        "training" if chosen["model_type"] == "lightgbm" else "training+validation"
    )
    cv_table = kedro_project.load("model_cv_table", env="gtzan")
    assert len(cv_table) == len(selection) and int(cv_table["chosen"].sum()) == 1
    row = cv_table[cv_table["chosen"]].iloc[0]
    assert (row["feature_set"], row["model_type"]) == (chosen["feature_set"], chosen["model_type"])
    # k-fold over the training and validation clips (never the test split): k = the smallest genre's
    pool = table[table["split"] != "test"]
    assert chosen["folds"] in (3, 4) and chosen["n_tracks"] == len(pool) and chosen["repeats"] == 1
    hits = cv_hits(chosen["accuracy_mean"], len(pool), chosen["folds"])
    assert_beats_chance(hits, len(pool), chance_level(pool["genre"]), f"{chosen['model_type']} cv")
    assert_chance_verdict_is_recomputed(metrics, table)
    summary = kedro_project.path / "data/08_reporting/gtzan/evaluation/summary.md"
    assert f"features `{chosen['feature_set']}`" in summary.read_text()

    # model_comparison on the same features: every model type cross-validated, one row each.
    kedro_project.run(
        pipelines=["model_comparison"], env="gtzan", params=gtzan_params(shared_gtzan)
    )
    cv = kedro_project.load("model_cv_table", env="gtzan")
    every_type = ["lightgbm", "logistic_regression", "svm", "knn", "random_forest", "ensemble"]
    assert sorted(zip(cv["feature_set"], cv["model_type"], strict=True)) == sorted(
        (name, model_type) for name in candidates["sets"] for model_type in every_type
    )
    assert (
        cv["cv_accuracy_mean"].between(0, 1).all() and cv["cv_accuracy_std"].between(0, 0.5).all()
    )
    assert (cv["cv_folds"] == 4).all() and (cv["cv_repeats"] == 1).all()
    top = cv.sort_values("cv_accuracy_mean", ascending=False).iloc[0]  # all 40 clips, 4 folds
    hits = cv_hits(top["cv_accuracy_mean"], len(table), 4)
    assert_beats_chance(hits, len(table), chance_level(table["genre"]), f"{top['model_type']} cv")

    # The CLI predicts with the same features, from the project's serving model: its probabilities are
    # the model's on the clip's row of the training run's table (which genre that is, is the model's).
    clip = shared_gtzan / "classical" / "classical.00001.wav"
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "music_genre", "predict", str(clip), "--env", "gtzan", "--json",
         "--project", str(kedro_project.path)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (row,) = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    from music_genre.modeling.store import load_from_catalog

    served = load_from_catalog(kedro_project.path, "gtzan").classifier
    assert served.version == kedro_project.load("genre_classifier", env="gtzan").version
    expected = served.predict_proba(table[table["track_id"] == "classical/classical.00001"])[0]
    got = [row["probabilities"][genre] for genre in served.classes]
    assert got == pytest.approx(expected.tolist(), abs=1e-5)
    assert row["genre"] == served.classes[int(expected.argmax())]

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

    # The embedding's weights gone (another machine, a cleaned cache): one line naming the fix. (The
    # model's settings widened to the run's extraction, which holds the embedding whichever set won.)
    classifier.info["better_than_chance"] = True
    classifier.feature_settings = {
        **settings,
        "embedding_weights": str(tmp_path / "gone" / "msd_musicnn.npz"),
    }
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


def test_gtzan_defaults_without_the_weights_use_handcrafted_features(shared_gtzan, tmp_path):
    """No converted weights anywhere and fetching them turned off (TensorFlow not importable either, and
    not needed): `auto` falls back with one warning line and the run still ends with a model whose
    cross-validated hits are clearly above chance."""
    project = make_project_copy(tmp_path / "project")
    blocker = tmp_path / "no_tensorflow"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['tensorflow'] = None\n")
    # the project's own logging (conf/logging.yml), as `kedro run ... > run.log 2>&1` gets it
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (musicnn_weights.WEIGHTS_ENV, "KEDRO_LOGGING_CONFIG")
    }
    env.update(HOME=str(tmp_path), PYTHONPATH=str(blocker), KEDRO_DISABLE_TELEMETRY="1")
    root = tmp_path / "genres"  # the 40 clips and one empty file: one exclusion
    shutil.copytree(shared_gtzan, root)
    (root / "blues" / "empty.wav").write_bytes(b"")
    params = f"dataset.root={root},feature_engineering.embedding.fetch_missing=false"
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--env=gtzan", f"--params={params}"],
        cwd=project, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    # one record, one line (ISO time, no wrapping), progress lines during the extraction, one line for
    # the one exclusion reason
    records = [line for line in result.stderr.splitlines() if line.strip()]
    assert all(CONSOLE_RECORD.match(line) for line in records), records
    messages = [CONSOLE_RECORD.match(line)["message"] for line in records]
    progress = [m for m in messages if m.startswith("Extracting features: ")]
    assert progress and all(re.search(r": \d+/40 tracks \(\d+%\), ", m) for m in progress)
    excluded = [m for m in messages if m.startswith("Excluded ")]
    assert len(excluded) == 1 and excluded[0].startswith("Excluded 1 track (empty_file: ")
    warnings = [line for line in output.splitlines() if "feature_set auto" in line]
    assert len(warnings) == 1 and "handcrafted" in warnings[0]
    import json

    settings = json.loads((project / "data/04_feature/gtzan/feature_settings.json").read_text())
    assert settings["feature_set"] == "handcrafted"
    metrics = json.loads((project / "data/08_reporting/gtzan/model_metrics.json").read_text())
    table = pd.read_parquet(project / "data/05_model_input/gtzan/model_input_table.parquet")
    pool = table[table["split"] != "test"]
    assert {row["feature_set"] for row in metrics["model_selection"]} == {"handcrafted"}
    chosen = assert_choice_follows_the_rule(metrics["model_selection"])
    assert chosen["model_type"] == metrics["model_type"] and chosen["n_tracks"] == len(pool)
    hits = cv_hits(chosen["accuracy_mean"], len(pool), chosen["folds"])
    assert_beats_chance(hits, len(pool), chance_level(pool["genre"]), f"{chosen['model_type']} cv")
    assert_chance_verdict_is_recomputed(metrics, table)
