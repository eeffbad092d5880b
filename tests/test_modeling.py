"""modeling and model_comparison on the built-in sample: Kedro's runner, a real local Ray, MLflow on SQLite."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from music_genre.modeling.artifact import GenreClassifier
from music_genre.modeling.training import MODEL_TYPES, chance_level
from tests.conftest import KedroProject
from tests.stats import assert_beats_chance


@pytest.fixture(scope="module")
def trained(trained_project):
    return trained_project


def _mlflow(project: KedroProject):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project.path / 'mlflow.db'}")
    return mlflow.MlflowClient()


def cv_hits(accuracy_mean: float, folds: int, n: int) -> tuple[int, int]:
    """(hits, tries) of a k-fold cross-validation over ``n`` tracks, hits bounded from below: each track is
    scored once, in folds of ``n // k`` or ``n // k + 1`` tracks, so the mean of the folds' accuracies times
    ``k * (n // k)`` is at most the tracks scored right."""
    tries = int(folds) * (int(n) // int(folds))
    return math.floor(accuracy_mean * tries + 1e-9), tries


def test_lightgbm_beats_chance_on_held_out_tracks(trained):
    """The report holds the stored model's numbers on the table's tracks. Its quality is not judged on the
    handful of test tracks (a library upgrade flips one or two): LightGBM with the run's hyperparameters,
    cross-validated on the training and validation tracks (each scored by a model that never saw it), hits
    the genre far more often than always answering the most frequent one would."""
    from sklearn.metrics import log_loss

    from music_genre.modeling.cross_validation import cross_validate

    report = trained.load("model_metrics")
    table = trained.load("model_input_table")
    classifier = trained.load("genre_classifier")
    n_genres = table["genre"].nunique()
    assert n_genres == 8
    for split, values in report["splits"].items():
        part = table[table["split"] == split]
        assert values["n_tracks"] == len(part), split
        proba = np.clip(classifier.predict_proba(part), 1e-15, 1.0)
        assert values["log_loss"] == pytest.approx(
            log_loss(part["genre"], proba, labels=classifier.classes)
        ), split
        assert values["top3_accuracy"] >= values["accuracy"]
    # Early stopping kept the iteration with the lowest validation log loss, starting from equal odds: below
    # what knowing only the training split's genre shares gives.
    prior = table.loc[table["split"] == "training", "genre"].value_counts(normalize=True)
    validation = table.loc[table["split"] == "validation", "genre"]
    prior_log_loss = float(-np.log(validation.map(prior).fillna(0.0)).mean())
    assert report["splits"]["validation"]["log_loss"] < prior_log_loss
    assert 1 <= report["best_iteration"] < 1000  # early stopping on the validation split decided
    assert report["training_seconds"] > 0

    modeling = trained.load("params:modeling", params=trained.params)
    pool = table[table["split"].isin(["training", "validation"])]
    cv = cross_validate(pool, "lightgbm", modeling["hyperparameters"]["lightgbm"],
                        folds=modeling["selection"]["folds"], seed=modeling["model"]["seed"])  # fmt: skip
    hits, tries = cv_hits(cv["accuracy_mean"], cv["folds"], cv["n_tracks"])
    assert_beats_chance(hits, tries, chance_level(pool["genre"]),
                        f"LightGBM's {cv['folds']}-fold cross-validation")  # fmt: skip


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
    # each run saves a version of its own beside the earlier runs' (other tests train more in this
    # project): the newest is this run's model, the one the catalog loads
    saved = sorted(
        (trained.path / "data" / "06_models" / "sample" / "genre_classifier.pkl").glob(
            "*/genre_classifier.pkl"
        )
    )
    assert saved and pickle.loads(saved[-1].read_bytes()).version == classifier.version


def test_mlflow_holds_the_run_its_metrics_the_model_and_the_registry(trained, monkeypatch):
    import platform
    from importlib import metadata

    client = _mlflow(trained)
    experiment = client.get_experiment_by_name("music-genre-sample")
    registration = trained.load("model_registration")
    run = client.get_run(registration["run_id"])  # the run that trained the model in the catalog
    assert run.info.experiment_id == experiment.experiment_id
    assert run.info.status == "FINISHED"
    report = trained.load("model_metrics")
    assert run.data.metrics["test.accuracy"] == pytest.approx(report["splits"]["test"]["accuracy"])
    assert run.data.metrics["validation.f1_macro"] == pytest.approx(
        report["splits"]["validation"]["f1_macro"]
    )
    assert run.data.params["modeling.model.type"] == "lightgbm"
    assert run.data.params["modeling.hyperparameters.lightgbm.learning_rate"] == "0.05"
    assert "model_metrics.json" in [a.path for a in client.list_artifacts(run.info.run_id)]
    # the versions that shape the numbers, on the run and in the model
    numeric = ("numpy", "scipy", "scikit-learn", "lightgbm", "librosa", "soxr", "soundfile")
    installed = {name: metadata.version(name) for name in numeric}
    installed["python"] = platform.python_version()
    tagged = {
        key.removeprefix("versions."): value
        for key, value in run.data.tags.items()
        if key.startswith("versions.")
    }
    assert tagged == installed
    assert trained.load("genre_classifier").info["package_versions"] == installed

    assert registration["register"] is True  # conftest's REGISTER_ALWAYS
    assert registration["model_name"] == "music-genre-sample"
    registered = f"models:/music-genre-sample/{registration['registered_version']}"
    version = client.get_model_version(
        "music-genre-sample", str(registration["registered_version"])
    )
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
    pipeline_model = mlflow.pyfunc.load_model(registered)
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
    client = _mlflow(trained)
    registry = "name='music-genre-sample'"
    before = {(v.version, v.run_id) for v in client.search_model_versions(registry)}
    champion = trained.load("champion_info")
    params = {**trained.params, "modeling.registration.threshold": 1.01}
    trained.run(["modeling"], params=params)
    registration = trained.load("model_registration", params=params)
    assert registration["register"] is False and "< 1.01" in registration["reason"]
    assert registration["run_id"]  # tracked: the threshold kept it out, not a missing run
    after = client.search_model_versions(registry)
    assert registration["run_id"] not in {v.run_id for v in after}
    assert {(v.version, v.run_id) for v in after} == before
    assert trained.load("champion_info") == champion  # the champion still serves


def test_model_comparison_trains_every_baseline_on_the_same_split(trained):
    trained.run(["model_comparison"], params=trained.params)
    table = trained.load("model_comparison_table")
    assert sorted(table["model_type"].unique()) == sorted(MODEL_TYPES)
    splits = table.groupby("model_type")["split"].apply(sorted)
    assert len(splits) == 5 and all(s == ["test", "training", "validation"] for s in splits)
    test = table[table["split"] == "test"]
    model_input = trained.load("model_input_table")
    held_out = model_input[model_input["split"] == "test"]
    assert (test["n_tracks"] == len(held_out)).all()  # the same held-out tracks for every model
    for row in test.itertuples(index=False):  # the table holds what the stored models give
        model = trained.load(f"{row.model_type}.genre_classifier")
        hits = model.predict(held_out) == held_out["genre"].to_numpy()
        assert row.accuracy == pytest.approx(float(hits.mean())), row.model_type
    # Every type learns: cross-validated over all tracks, it hits the genre far more often than always
    # answering the most frequent one would (the 14 test tracks alone say little).
    chance = chance_level(model_input["genre"])
    for row in test.itertuples(index=False):
        hits, tries = cv_hits(row.cv_accuracy_mean, row.cv_folds, len(model_input))
        assert_beats_chance(hits, tries, chance, f"{row.model_type} cross-validated")
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


def test_class_weighting_changes_the_model(trained, monkeypatch):
    """fma_medium is unbalanced: class_weight=balanced must reach the estimator (every genre's training
    tracks weigh the same in total, Rock's seven-fold copies included) and change what it learns."""
    import lightgbm

    from music_genre.modeling.training import train_classifier

    weights = []

    class RecordingDataset(lightgbm.Dataset):
        def __init__(self, *args, **kwargs):
            weights.append(kwargs.get("weight"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(lightgbm, "Dataset", RecordingDataset)
    table = trained.load("model_input_table")
    rock = table[(table["genre"] == "Rock") & (table["split"] == "training")]
    unbalanced = pd.concat([table] + [rock] * 6, ignore_index=True)
    params = {"num_boost_round": 60, "early_stopping_rounds": 60, "num_threads": 1}

    def fit(**kwargs):
        weights.clear()
        model = train_classifier(unbalanced, "lightgbm", params, **kwargs)
        return model, weights[0]  # the training set's (the validation set comes second)

    plain, plain_weights = fit()
    weighted, balanced = fit(class_weight="balanced")
    assert plain_weights is None
    genres = unbalanced.loc[unbalanced["split"] == "training", "genre"].to_numpy()
    per_genre = pd.Series(np.asarray(balanced, dtype=float)).groupby(genres).sum()
    assert len(per_genre) == 8 and np.allclose(per_genre, per_genre.iloc[0]), per_genre
    test = table[table["split"] != "training"]
    assert not np.allclose(plain.predict_proba(test), weighted.predict_proba(test))


def test_tuning_records_its_trials_and_modeling_uses_the_best(trained):
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
    # Whether ASHA stops a trial here depends on which trials report first (test_tuning checks that it
    # stops poor ones): stopped early means fewer rounds than asked.
    assert (trials["stopped_early"] == (trials["rounds_trained"] < 120)).all()
    assert trials["rounds_trained"].between(1, 120).all()
    best = trained.load("tuned_lightgbm_params", params=params)
    assert 0.01 <= best["learning_rate"] <= 0.3 and 8 <= best["num_leaves"] <= 96

    client = _mlflow(trained)
    experiment = client.get_experiment_by_name("music-genre-sample")
    (parent,) = client.search_runs([experiment.experiment_id], "attributes.run_name = 'tuning'")
    children = client.search_runs(
        [experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 6
    assert sorted(c.data.tags["stopped_early"] for c in children) == sorted(
        str(bool(s)).lower() for s in trials["stopped_early"]
    )
    assert parent.data.metrics["tuning.stopped_early_trials"] == trials["stopped_early"].sum()

    # modeling with the tuned parameters: not registered, so the champion the other tests serve stays
    champion = trained.load("champion_info")
    use_tuned = {
        **params,
        "modeling.model.use_tuned_params": True,
        "modeling.registration.threshold": 1.01,
    }
    trained.run(["modeling"], params=use_tuned)
    assert trained.load("model_registration", params=use_tuned)["register"] is False
    assert trained.load("champion_info") == champion
    classifier = trained.load("genre_classifier", params=use_tuned)
    assert classifier.params["learning_rate"] == pytest.approx(best["learning_rate"])
    assert classifier.params["num_leaves"] == best["num_leaves"]
