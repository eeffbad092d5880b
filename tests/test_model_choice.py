"""Honest model choice on small collections: the SVM's probabilities agree with its decision, k-fold
cross-validation, `auto`, leaf sizes that small collections can fill, and models no better than chance."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from music_genre.modeling import cross_validation, selection, training
from music_genre.modeling.estimators import TemperatureSVC

from .stats import assert_beats_chance

GENRES = ["blues", "jazz", "metal", "pop", "rock"]


def table(
    per_genre: int, seed: int = 0, separation: float = 1.5, n_features: int = 20
) -> pd.DataFrame:
    """A small collection: each genre a Gaussian blob, split 2/3 training, the rest validation and test."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=separation, size=(len(GENRES), n_features))
    rows = []
    for g, genre in enumerate(GENRES):
        for i in range(per_genre):
            split = "training" if i < per_genre * 2 // 3 else ("validation" if i % 2 else "test")
            values = centres[g] + rng.normal(size=n_features)
            rows.append({"track_id": f"{genre}{i}", "genre": genre, "split": split,
                         **{f"f{j}": v for j, v in enumerate(values)}})  # fmt: skip
    return pd.DataFrame(rows)


def cv_hits(result: dict) -> int:
    """Tracks one repeat of the cross-validation scored right, at least: a repeat scores every track once,
    in stratified folds of ``n // k`` or ``n // k + 1`` tracks, so the mean of the folds' accuracies times
    ``k * (n // k)`` bounds its hits from below (repeats score the same tracks again: not new evidence)."""
    n, k = int(result["n_tracks"]), int(result["folds"])
    return math.floor(result["accuracy_mean"] * k * (n // k) + 1e-9)


HYPER = {
    "lightgbm": {
        "learning_rate": 0.1,
        "num_leaves": 15,
        "min_child_samples": 20,
        "num_boost_round": 200,
        "early_stopping_rounds": 20,
        "num_threads": 1,
    },  # fmt: skip
    "logistic_regression": {"C": 1.0, "max_iter": 2000},
    "svm": {"C": 1.0, "kernel": "rbf", "gamma": "scale"},
    "knn": {"n_neighbors": 3, "weights": "distance"},
    "random_forest": {"n_estimators": 100, "max_features": "sqrt", "min_samples_leaf": 1},
}


def test_svm_predicted_genre_is_the_argmax_of_its_probabilities():
    data = table(per_genre=12, seed=3, separation=0.6)  # overlapping genres: ties are not trivial
    model = training.train_classifier(data, "svm", {**HYPER["svm"], "probability": True}, seed=0)
    assert isinstance(model.estimator, TemperatureSVC)
    test = data[data["split"] != "training"]
    proba = model.predict_proba(test)
    values = model.matrix(test)
    assert np.allclose(proba.sum(axis=1), 1.0)
    argmax = np.asarray(model.classes)[proba.argmax(axis=1)]
    assert list(argmax) == list(model.estimator.predict(values))
    assert list(argmax) == list(model.estimator.svc_.predict(values))  # the SVM's own decision
    assert 0.01 <= model.estimator.temperature_ <= 1000


def test_cross_validation_gives_mean_and_std_over_folds_adapted_to_the_smallest_genre():
    """k shrinks to the smallest genre; the scores are real: on 20 tracks of learnable genres the folds'
    hits beat the majority answer by more than luck allows (not a fixed accuracy on so few tracks)."""
    data = table(per_genre=4, seed=1)  # 4 tracks a genre: 5 folds cannot be stratified, 4 can
    result = cross_validation.cross_validate(data, "logistic_regression",
                                             HYPER["logistic_regression"], folds=5, repeats=2,
                                             seed=0)  # fmt: skip
    assert result["folds"] == 4 and result["repeats"] == 2 and result["n_tracks"] == 20
    assert 0.0 <= result["accuracy_mean"] <= 1.0 and 0.0 <= result["accuracy_std"] < 0.5
    assert 0.0 <= result["f1_macro_mean"] <= 1.0
    assert_beats_chance(cv_hits(result), result["n_tracks"], training.chance_level(data["genre"]),
                        "4-fold logistic regression")  # fmt: skip
    with pytest.raises(ValueError, match="at least 2 tracks in every genre; the smallest has 1"):
        cross_validation.cross_validate(table(per_genre=4).iloc[3:], "svm", HYPER["svm"])


def test_model_comparison_cross_validates_every_model_type_on_a_small_collection():
    from music_genre.pipelines.model_comparison.nodes import compare_models, cross_validate_models

    data = table(per_genre=6, seed=2)
    modeling = {"model": {"seed": 0}, "hyperparameters": HYPER,
                "selection": {"cv_below_tracks": 2000, "folds": 3, "repeats": 1}}  # fmt: skip
    cv = cross_validate_models(data, modeling)
    assert sorted(cv["model_type"]) == sorted(training.MODEL_TYPES)  # one row per model
    for column in ("cv_accuracy_mean", "cv_accuracy_std", "cv_f1_macro_mean", "cv_f1_macro_std"):
        assert cv[column].between(0, 1).all()
    assert (cv["cv_folds"] == 3).all()
    assert list(cv["cv_accuracy_mean"]) == sorted(cv["cv_accuracy_mean"], reverse=True)
    report = {"model_type": "svm", "splits": {"test": {"accuracy": 0.5, "f1_macro": 0.4}},
              "training_seconds": 0.1}  # fmt: skip
    merged = compare_models(cv, report)
    assert (
        merged.loc[0, "cv_accuracy_mean"]
        == cv.set_index("model_type").loc["svm", "cv_accuracy_mean"]
    )
    large = cross_validate_models(data, {**modeling, "selection": {"cv_below_tracks": 10}})
    assert large.empty  # a large collection is compared on its test split


def test_auto_picks_the_best_cross_validated_model():
    data = table(per_genre=6, seed=4)
    chosen, scores = selection.choose_model(data, ["svm", "logistic_regression", "lightgbm"], HYPER,
                                            selection={"cv_below_tracks": 2000, "folds": 3},
                                            seed=0)  # fmt: skip
    assert chosen == scores.iloc[0]["model_type"]
    assert scores["accuracy_mean"].iloc[0] == scores["accuracy_mean"].max()
    assert set(scores["model_type"]) == {"svm", "logistic_regression", "lightgbm"}
    by_validation, scores = selection.choose_model(data, ["svm", "knn"], HYPER,
                                                   selection={"cv_below_tracks": 5})  # fmt: skip
    assert (scores["folds"] == 0).all() and by_validation in {"svm", "knn"}
    assert (scores["n_tracks"] == len(data)).all()


def test_train_model_auto_chooses_on_training_and_validation_only():
    data = table(per_genre=9, seed=7)
    settings = {"candidates": ["svm", "logistic_regression", "knn"], "folds": 3,
                "cv_below_tracks": 2000}  # fmt: skip
    model = selection.train_model(data, "auto", HYPER, seed=0, selection=settings)
    scores = model.info["model_selection"]
    assert model.model_type == scores[0]["model_type"] in settings["candidates"]
    assert scores[0]["n_tracks"] == int((data["split"] != "test").sum())  # test never helps choose
    assert [s["accuracy_mean"] for s in scores] == sorted(
        (s["accuracy_mean"] for s in scores), reverse=True
    )
    with pytest.raises(ValueError, match="missing: random_forest"):
        selection.train_model(data, "auto", {"svm": HYPER["svm"]},
                              selection={"candidates": ["svm", "random_forest"]})  # fmt: skip
    with pytest.raises(ValueError, match="selection.train_model"):
        training.train_classifier(data, "auto", HYPER)  # the choice is not training's


def test_lightgbm_leaves_fit_a_small_collection():
    """min_child_samples 20 against 4 training tracks a genre: LightGBM used to stop at iteration 1 with
    every genre at 1/n; it now learns, and large collections keep the configured value."""
    data = table(per_genre=6, seed=5)
    model = training.train_classifier(data, "lightgbm", HYPER["lightgbm"], seed=0)
    assert model.params["min_child_samples"] == 2
    assert model.best_iteration > 1
    proba = model.predict_proba(data[data["split"] == "test"])
    assert proba.max(axis=1).min() > 1.5 / len(GENRES)  # not every genre at 1/n
    big = pd.Series(GENRES * 40)
    assert training.fit_lightgbm_to_size({"min_child_samples": 20}, big) == {
        "min_child_samples": 20,
        "num_threads": 1,  # a few hundred tracks: one thread (threads only wait on such small trees)
    }
    large = pd.Series(GENRES * 400)
    assert training.fit_lightgbm_to_size({"min_child_samples": 20}, large) == {
        "min_child_samples": 20
    }
    assert (
        training.fit_lightgbm_to_size({"num_threads": 4}, big)["num_threads"] == 4
    )  # as configured


def test_a_model_no_better_than_chance_is_flagged_and_not_registered():
    from music_genre.modeling.registry import registration_request

    data = table(per_genre=6, seed=6)
    per_split = {"validation": {"accuracy": 0.2}, "test": {"accuracy": 0.8, "f1_macro": 0.8}}
    verdict = training.better_than_chance(data, per_split)
    assert verdict["better_than_chance"] is False
    assert verdict["splits"]["validation"]["chance"] == pytest.approx(0.2)
    assert verdict["splits"]["test"]["better"] is True
    request = registration_request(
        {"test": {"f1_macro": 0.8}}, {"metric": "test.f1_macro", "threshold": 0.3},
        dataset="gtzan", feature_digest="x", model_type="svm", run_id="run", better_than_chance=False,
    )  # fmt: skip
    assert request["register"] is False and "no better than chance" in request["reason"]
    good = registration_request(
        {"test": {"f1_macro": 0.8}}, {"metric": "test.f1_macro", "threshold": 0.3},
        dataset="gtzan", feature_digest="x", model_type="svm", run_id="run", better_than_chance=True,
    )  # fmt: skip
    assert good["register"] is True
