"""`feature_set: auto` and `model.type: auto`: the feature set and the model chosen together by
cross-validation on the collection, the ensemble model type and the refit on training + validation.

Feature tables here are built from named columns (no audio: the choice reads a table, whatever filled it),
with genres that one set separates and another does not, so which set must win is known by construction."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest

from music_genre.features import FeatureSettings, feature_names
from music_genre.modeling import selection, training

HYPER = {
    "logistic_regression": {"C": 1.0, "max_iter": 2000},
    "svm": {"C": 1.0, "kernel": "rbf", "gamma": "scale"},
    "random_forest": {"n_estimators": 50, "max_features": "sqrt", "min_samples_leaf": 1},
    "knn": {"n_neighbors": 5, "weights": "distance"},
    "lightgbm": {"learning_rate": 0.1, "num_leaves": 7, "num_boost_round": 50,
                 "early_stopping_rounds": 10, "num_threads": 1},
}  # fmt: skip

HANDCRAFTED = {"feature_set": "handcrafted"}
EMBEDDING = {"feature_set": "embedding", "embedding_stats": ["mean"]}
BOTH = {"feature_set": "handcrafted+embedding", "embedding_stats": ["mean"]}


def settings(values: dict) -> dict:
    return FeatureSettings.from_dict(values).to_dict()


def collection(
    n_per_genre: int = 12, informative: str = "embedding", seed: int = 0
) -> pd.DataFrame:
    """Three genres; the ``informative`` family's columns carry the genre (well separated), the other's
    are noise. Splits: 70% training, 15% validation, 15% test per genre."""
    rng = np.random.default_rng(seed)
    union = FeatureSettings.from_dict(BOTH)
    names = feature_names(union)
    embedded = set(feature_names(FeatureSettings.from_dict(EMBEDDING)))
    genres = ["blues", "jazz", "rock"]
    rows = []
    for g, genre in enumerate(genres):
        for i in range(n_per_genre):
            values = rng.normal(size=len(names))
            for j, name in enumerate(names):
                if (name in embedded) == (informative == "embedding") and j % 7 == 0:
                    values[j] += 4.0 * g
            split = "training" if i < 0.7 * n_per_genre else (
                "validation" if i < 0.85 * n_per_genre else "test"
            )  # fmt: skip
            rows.append({"track_id": f"{genre}{i}", "genre": genre, "split": split,
                         **dict(zip(names, values, strict=True))})  # fmt: skip
    return pd.DataFrame(rows)


def arguments(model_type="auto", **extra) -> dict:
    union = FeatureSettings.from_dict(BOTH)
    return {
        "model_type": model_type,
        "hyperparameters": HYPER if model_type in ("auto", "ensemble") else HYPER[model_type],
        "selection": {"candidates": ["logistic_regression", "random_forest"], "folds": 3,
                      "repeats": 1, "cv_below_tracks": 2000, "ensemble_size": 2},
        "seed": 7,
        "class_weight": None,
        "feature_settings": union.to_dict(),
        "feature_digest": union.digest(),
        "refit_on_validation": True,
        "members": [],
        **extra,
    }  # fmt: skip


CANDIDATES = {"handcrafted": settings(HANDCRAFTED), "embedding": settings(EMBEDDING),
              "handcrafted+embedding": settings(BOTH)}  # fmt: skip


@pytest.mark.parametrize("informative", ["embedding", "handcrafted"])
def test_the_set_that_carries_the_genre_is_chosen_and_the_model_reads_only_it(informative):
    table = collection(informative=informative)
    model = selection.train_chosen(table, CANDIDATES, "handcrafted+embedding", arguments())
    # The noise-only set cannot win; handcrafted+embedding carries the genre too but has more columns:
    # within one standard error of the best (both near 1.0 here), the smaller set is preferred.
    assert model.info["feature_set"] == informative
    assert model.feature_columns == feature_names(CANDIDATES[informative])
    assert model.feature_settings["feature_set"] == informative  # prediction extracts just that
    rows = model.info["model_selection"]
    assert {(r["feature_set"], r["model_type"]) for r in rows} == {
        (name, model_type)
        for name in CANDIDATES
        for model_type in ("logistic_regression", "random_forest", "ensemble")
    }
    (chosen,) = [r for r in rows if r["chosen"]]
    noise = "handcrafted" if informative == "embedding" else "embedding"
    assert chosen["accuracy_mean"] > max(
        r["accuracy_mean"] for r in rows if r["feature_set"] == noise
    )
    best = max(rows, key=lambda r: r["accuracy_mean"])
    assert chosen["accuracy_mean"] >= best["accuracy_mean"] - best["accuracy_std"] / math.sqrt(3)
    test = table[table["split"] == "test"]
    assert (model.predict(test) == test["genre"].to_numpy()).mean() > 0.9


def test_the_tie_rule_prefers_fewer_columns_and_otherwise_the_best_mean():
    rows = pd.DataFrame(
        [
            {"feature_set": "big", "model_type": "svm", "n_columns": 700, "accuracy_mean": 0.80,
             "accuracy_std": 0.10, "folds": 4, "repeats": 1},
            {"feature_set": "small", "model_type": "svm", "n_columns": 200, "accuracy_mean": 0.76,
             "accuracy_std": 0.10, "folds": 4, "repeats": 1},
            {"feature_set": "tiny", "model_type": "svm", "n_columns": 50, "accuracy_mean": 0.70,
             "accuracy_std": 0.10, "folds": 4, "repeats": 1},
        ]
    )  # fmt: skip
    # standard error 0.10 / sqrt(4) = 0.05: small (0.76) ties with big (0.80), tiny (0.70) does not
    assert selection._pick(rows, "accuracy")[:2] == ("small", "svm")
    rows.loc[1, "accuracy_mean"] = 0.74
    assert selection._pick(rows, "accuracy")[:2] == ("big", "svm")


def test_the_table_of_choices_is_one_row_per_set_and_model():
    table = collection()
    model = selection.train_chosen(table, CANDIDATES, "handcrafted+embedding", arguments())
    cv = selection.selection_table(model.info["model_selection"])
    assert list(cv.columns) == selection.TABLE_COLUMNS
    assert len(cv) == 9 and int(cv["chosen"].sum()) == 1
    ensembles = cv[cv["model_type"] == "ensemble"]
    assert (ensembles["members"].str.split("+").map(len) == 2).all()
    assert (cv.loc[cv["model_type"] != "ensemble", "members"] == "").all()
    assert (cv["cv_folds"] == 3).all() and cv["cv_accuracy_mean"].is_monotonic_decreasing


def test_a_collection_too_small_to_choose_keeps_the_default_set_with_one_line(caplog):
    table = collection(n_per_genre=12)
    # one validation-or-training track left in one genre: no stratified folds over it
    drop = table[(table["genre"] == "jazz") & (table["split"] != "test")].index[1:]
    table = table.drop(index=drop).reset_index(drop=True)
    with caplog.at_level(logging.INFO, logger="music_genre.modeling.selection"):
        model = selection.train_chosen(
            table, CANDIDATES, "embedding", arguments("logistic_regression")
        )
    assert model.info["feature_set"] == "embedding"
    assert model.feature_columns == feature_names(CANDIDATES["embedding"])
    lines = [r.getMessage() for r in caplog.records if "Feature set embedding" in r.getMessage()]
    assert len(lines) == 1 and "the default" in lines[0]
    assert "model_selection" not in model.info  # nothing was scored
    # model type auto as well: the first candidate type, same single line
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="music_genre.modeling.selection"):
        model = selection.train_chosen(table, CANDIDATES, "embedding", arguments())
    assert model.model_type == "logistic_regression" and model.info["feature_set"] == "embedding"
    assert len([r for r in caplog.records if "the default" in r.getMessage()]) == 1


def test_the_ensemble_is_the_mean_of_its_members_probabilities():
    table = collection()
    members = ["logistic_regression", "random_forest"]
    ensemble = training.train_classifier(table, "ensemble", HYPER, members=members, seed=3)
    alone = [training.train_classifier(table, m, HYPER[m], seed=3) for m in members]
    rows = table[table["split"] == "test"]
    expected = np.mean([m.predict_proba(rows) for m in alone], axis=0)
    assert ensemble.predict_proba(rows) == pytest.approx(expected, abs=1e-12)
    assert ensemble.model_type == "ensemble" and ensemble.info["ensemble_members"] == members
    assert ensemble.estimator.member_types == members
    with pytest.raises(ValueError, match="at least two plain model types"):
        training.train_classifier(table, "ensemble", HYPER, members=["svm"])


def test_refit_uses_validation_tracks_except_for_lightgbm():
    table = collection()
    n_train = int((table["split"] == "training").sum())
    n_valid = int((table["split"] == "validation").sum())
    svm = training.train_classifier(table, "svm", HYPER["svm"], refit_on_validation=True)
    assert svm.info["fitted_on"] == "training+validation"
    assert svm.info["n_training"] == n_train + n_valid
    assert svm.estimator.svc_.shape_fit_[0] == n_train + n_valid
    plain = training.train_classifier(table, "svm", HYPER["svm"])
    assert plain.info["fitted_on"] == "training" and plain.estimator.svc_.shape_fit_[0] == n_train
    booster = training.train_classifier(
        table, "lightgbm", HYPER["lightgbm"], refit_on_validation=True
    )
    assert booster.info["fitted_on"] == "training"  # validation stays its early-stopping set


def test_candidate_sets_share_one_extraction():
    union = FeatureSettings.from_dict(
        {"feature_set": "handcrafted+embedding", "embedding_stats": ["mean", "std"],
         "embedding_layers": ["penultimate", "midend"]}
    )  # fmt: skip
    names = feature_names(union)
    assert len(names) == 519 + 2 * 200 + 2 * 753
    assert names[-1] == "msd_musicnn_midend_std_753" and "msd_musicnn_std_200" in names
    midend = FeatureSettings.from_dict(
        {"feature_set": "embedding", "embedding_layers": ["midend"], "embedding_stats": ["mean", "std"]}
    )  # fmt: skip
    for candidate in (*CANDIDATES.values(), midend.to_dict()):
        candidate = FeatureSettings.from_dict(candidate)
        assert set(feature_names(candidate)) <= set(names)
        assert candidate.values_digest() == union.values_digest()  # same values, other columns
    assert union.replace(sample_rate=16000).values_digest() != union.values_digest()
    # the penultimate layer alone keeps the digest it had before layers existed
    plain = FeatureSettings.from_dict(EMBEDDING)
    assert plain.digest() == plain.replace(embedding_layers=["penultimate"]).digest()
    assert plain.digest() != plain.replace(embedding_layers=["penultimate", "midend"]).digest()
    with pytest.raises(ValueError, match="embedding_layers"):
        FeatureSettings.from_dict({**EMBEDDING, "embedding_layers": ["logits"]})


def test_the_evaluation_retrains_an_ensemble_on_its_own_columns_for_label_issues():
    """The evaluation's out-of-fold probabilities (cleanlab's input) retrain the model's own kind: an
    ensemble with its members, on the columns it reads, not the run's wider table."""
    from music_genre.evaluation import label_quality
    from music_genre.pipelines.evaluation.nodes import find_label_issues

    table = collection()
    model = selection.train_chosen(
        table, CANDIDATES, "handcrafted+embedding",
        arguments("ensemble", members=["logistic_regression", "random_forest"]),
    )  # fmt: skip
    assert model.model_type == "ensemble"
    train = table[table["split"] == "training"].reset_index(drop=True)
    own = train[["track_id", "genre", "split", *model.feature_columns]]
    proba = label_quality.out_of_fold_probabilities(
        own, model.model_type, model.params, k=3, members=model.info["ensemble_members"]
    )
    assert proba.shape == (len(train), 3) and np.allclose(proba.sum(axis=1), 1.0)
    manifest = table.assign(path=table["track_id"] + ".wav")
    params = {"label_quality": {"k": 3, "seed": 1, "top": 5}}
    issues, summary = find_label_issues(table, manifest, model, params)
    assert summary["count"] == len(issues) <= len(train)
