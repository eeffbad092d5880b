"""modeling and model_comparison on the built-in sample: Kedro's runner, a real local Ray, MLflow on SQLite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from music_genre.modeling.artifact import GenreClassifier
from music_genre.modeling.training import MODEL_TYPES
from tests.conftest import KedroProject


@pytest.fixture(scope="module")
def trained(trained_project):
    return trained_project


def _mlflow(project: KedroProject):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project.path / 'mlflow.db'}")
    return mlflow.MlflowClient()


def test_lightgbm_beats_chance_on_held_out_tracks(trained):
    report = trained.load("model_metrics")
    table = trained.load("model_input_table")
    n_genres = table["genre"].nunique()
    assert n_genres == 8
    held_out = {split: report["splits"][split] for split in ("validation", "test")}
    n = sum(v["n_tracks"] for v in held_out.values())
    accuracy = sum(v["accuracy"] * v["n_tracks"] for v in held_out.values()) / n
    assert n == len(table[table["split"].isin(["validation", "test"])])
    assert accuracy >= 2.5 / n_genres, (
        f"held-out accuracy {accuracy:.2f}, chance {1 / n_genres:.2f}"
    )
    assert report["splits"]["training"]["accuracy"] > accuracy - 1e-9
    for values in held_out.values():
        assert 0 < values["log_loss"] < np.log(n_genres) * 3
        assert values["top3_accuracy"] >= values["accuracy"]
    assert 1 <= report["best_iteration"] < 1000  # early stopping on the validation split decided
    assert report["training_seconds"] > 0


def test_the_artifact_round_trips_and_predicts_the_same(trained):
    classifier = trained.load("genre_classifier")
    assert isinstance(classifier, GenreClassifier)
    table = trained.load("model_input_table")
    assert classifier.feature_columns == [
        c for c in table.columns if c not in ("track_id", "genre", "split")
    ]
    assert list(classifier.classes_) == sorted(table["genre"].unique())
    proba = classifier.predict_proba(table)
    assert proba.shape == (len(table), 8) and np.allclose(proba.sum(axis=1), 1.0)
    # the reported test accuracy is what the stored artifact gives
    test = table[table["split"] == "test"]
    accuracy = float((classifier.predict(test) == test["genre"].to_numpy()).mean())
    assert accuracy == pytest.approx(trained.load("model_metrics")["splits"]["test"]["accuracy"])
    # column order is the model's, not the frame's
    shuffled = test[list(reversed(test.columns))]
    assert np.allclose(classifier.predict_proba(shuffled), classifier.predict_proba(test))
    versions = list(
        (trained.path / "data" / "06_models" / "sample" / "genre_classifier.pkl").iterdir()
    )
    assert len(versions) == 1


def test_mlflow_holds_the_run_its_metrics_the_model_and_the_registry(trained, monkeypatch):
    client = _mlflow(trained)
    experiment = client.get_experiment_by_name("music-genre-sample")
    (run,) = client.search_runs(
        [experiment.experiment_id],
        "attributes.run_name = '__default__'",
    )
    assert run.info.status == "FINISHED"
    report = trained.load("model_metrics")
    assert run.data.metrics["test.accuracy"] == pytest.approx(report["splits"]["test"]["accuracy"])
    assert run.data.metrics["validation.f1_macro"] == pytest.approx(
        report["splits"]["validation"]["f1_macro"]
    )
    assert run.data.params["modeling.model.type"] == "lightgbm"
    assert run.data.params["modeling.hyperparameters.lightgbm.learning_rate"] == "0.05"
    assert "model_metrics.json" in [a.path for a in client.list_artifacts(run.info.run_id)]

    registration = trained.load("model_registration")
    assert registration["register"] is True and registration["registered_version"] == 1
    version = client.get_model_version("music-genre-sample", "1")
    assert version.run_id == run.info.run_id
    assert version.tags["dataset"] == "sample"
    assert (
        version.tags["feature_settings_digest"] == trained.load("genre_classifier").feature_digest
    )
    assert version.tags["git_commit"]

    # the features-in model is logged in the run with its input signature
    import mlflow.pyfunc

    classifier = trained.load("genre_classifier")
    features_model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/genre_classifier")
    assert features_model.metadata.get_input_schema().input_names() == classifier.feature_columns
    table = trained.load("model_input_table")
    served = features_model.predict(table[classifier.feature_columns].head(5).astype("float64"))
    assert np.allclose(served.to_numpy(), classifier.predict_proba(table.head(5)))

    # the registered model is the serving pipeline: audio paths in, the same probabilities out
    pipeline_model = mlflow.pyfunc.load_model("models:/music-genre-sample/1")
    assert pipeline_model.metadata.get_input_schema().input_names() == [
        "path",
        "content",
        "filename",
    ]
    manifest = trained.load("manifest").set_index("track_id")
    test = table[table["split"] == "test"].head(3)
    paths = [manifest.loc[track_id, "path"] for track_id in test["track_id"]]
    columns = [f"proba_{genre}" for genre in classifier.classes]
    refused = pipeline_model.predict(pd.DataFrame({"path": paths}))  # no allowed roots by default
    assert (refused["error_reason"] == "forbidden_path").all() and refused[
        columns
    ].isna().all().all()
    monkeypatch.setenv("MUSIC_GENRE_ALLOWED_ROOTS", str(trained.sample_root))
    predictions = pipeline_model.predict(pd.DataFrame({"path": paths}))
    assert np.allclose(
        predictions[columns].to_numpy(dtype=float), classifier.predict_proba(test), atol=1e-6
    )
    import base64

    sent = pd.DataFrame(
        {"content": [base64.b64encode(Path(p).read_bytes()).decode() for p in paths]}
    )
    assert np.allclose(
        pipeline_model.predict(sent)[columns].to_numpy(dtype=float),
        predictions[columns].to_numpy(dtype=float),
        atol=1e-9,
    )


def test_model_below_the_threshold_is_not_registered(trained):
    params = {**trained.params, "modeling.registration.threshold": 1.01}
    trained.run(["modeling"], params=params)
    registration = trained.load("model_registration", params=params)
    assert registration["register"] is False and "< 1.01" in registration["reason"]
    client = _mlflow(trained)
    assert [str(v.version) for v in client.search_model_versions("name='music-genre-sample'")] == [
        "1"
    ]


def test_model_comparison_trains_every_baseline_on_the_same_split(trained):
    trained.run(["model_comparison"], params=trained.params)
    table = trained.load("model_comparison_table")
    assert sorted(table["model_type"].unique()) == sorted(MODEL_TYPES)
    splits = table.groupby("model_type")["split"].apply(sorted)
    assert len(splits) == 5 and all(s == ["test", "training", "validation"] for s in splits)
    test = table[table["split"] == "test"]
    assert test["n_tracks"].nunique() == 1  # the same held-out tracks for every model
    assert (test["accuracy"] > 1 / 8).sum() >= 4
    client = _mlflow(trained)
    experiment = client.get_experiment_by_name("music-genre-sample")
    (run,) = client.search_runs(
        [experiment.experiment_id], "attributes.run_name = 'model_comparison'"
    )
    for model_type in MODEL_TYPES:
        assert f"{model_type}.test.accuracy" in run.data.metrics
    assert "model_comparison.csv" in [a.path for a in client.list_artifacts(run.info.run_id)]
    svm = trained.load("svm.genre_classifier")
    assert svm.scaler is not None and svm.model_type == "svm"
    assert trained.load("random_forest.genre_classifier").scaler is None


def test_class_weighting_changes_the_model(trained):
    """fma_medium is unbalanced: class_weight=balanced must reach the estimator."""
    import pandas as pd

    from music_genre.modeling.training import train_classifier

    table = trained.load("model_input_table")
    rock = table[(table["genre"] == "Rock") & (table["split"] == "training")]
    unbalanced = pd.concat([table] + [rock] * 6, ignore_index=True)
    params = {"num_boost_round": 60, "early_stopping_rounds": 60, "num_threads": 1}
    plain = train_classifier(unbalanced, "lightgbm", params)
    weighted = train_classifier(unbalanced, "lightgbm", params, class_weight="balanced")
    test = table[table["split"] != "training"]
    rock_share = lambda model: float((model.predict(test) == "Rock").mean())  # noqa: E731
    assert rock_share(weighted) <= rock_share(plain)
    assert not np.allclose(plain.predict_proba(test), weighted.predict_proba(test))


def test_tuning_stops_poor_trials_early_and_modeling_uses_the_best(trained):
    params = {
        **trained.params,
        "tuning.num_samples": 6,
        "tuning.num_boost_round": 120,
        "tuning.report_every": 10,
        "tuning.scheduler.grace_period": 1,
        "tuning.scheduler.reduction_factor": 3,
    }
    trained.run(["tuning"], params=params)
    trials = trained.load("tuning_trials", params=params)
    assert len(trials) == 6
    assert trials["stopped_early"].any(), "ASHA stopped no trial"
    assert (trials.loc[trials["stopped_early"], "rounds_trained"] < 120).all()
    assert (trials["rounds_trained"] == 120).any()
    best = trained.load("tuned_lightgbm_params", params=params)
    assert 0.01 <= best["learning_rate"] <= 0.3 and 8 <= best["num_leaves"] <= 96

    client = _mlflow(trained)
    experiment = client.get_experiment_by_name("music-genre-sample")
    (parent,) = client.search_runs([experiment.experiment_id], "attributes.run_name = 'tuning'")
    children = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 6
    assert {c.data.tags["stopped_early"] for c in children} == {"true", "false"}
    assert parent.data.metrics["tuning.stopped_early_trials"] == trials["stopped_early"].sum()

    use_tuned = {**params, "modeling.model.use_tuned_params": True}
    trained.run(["modeling"], params=use_tuned)
    classifier = trained.load("genre_classifier", params=use_tuned)
    assert classifier.params["learning_rate"] == pytest.approx(best["learning_rate"])
    assert classifier.params["num_leaves"] == best["num_leaves"]
