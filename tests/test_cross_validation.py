"""One cross-validation module: its folds, early-stopping slices, repeats, the small-collection rule and
out-of-fold predictions, and what its callers computed before it existed.

``tests/fixtures/cross_validation_e60e2aa.json`` holds what e60e2aa's three fold loops computed on
:mod:`tests.cv_tables`' tables. Training's loop (``model.type: auto``, ``feature_set: auto``, model
comparison) is the one the module keeps: its folds and scores must come out the same. The evaluation's
and the multi-label task's loops set their early-stopping slice aside differently (a share of the whole
training part, unstratified for multi-label); they now take training's slice, so only their outer folds
are compared.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from music_genre.common.errors import TooFewTracksError
from music_genre.features import FeatureSettings, feature_names
from music_genre.modeling import cross_validation as cv
from music_genre.modeling import selection, training

from .cv_tables import COUNTS, HYPER, collection

pytestmark = pytest.mark.timeout(300)

RECORDED = json.loads(
    (Path(__file__).parent / "fixtures" / "cross_validation_e60e2aa.json").read_text()
)
REPO = Path(__file__).resolve().parents[1]
SETS = {
    "handcrafted": {"feature_set": "handcrafted"},
    "embedding": {"feature_set": "embedding", "embedding_stats": ["mean"]},
}


@pytest.fixture(autouse=True)
def _quiet():
    logging.disable(logging.INFO)
    yield
    logging.disable(logging.NOTSET)


def assert_same_records(new: list[dict], old: list[dict], keys=None) -> None:
    assert len(new) == len(old)
    for got, want in zip(new, old, strict=True):
        for key in keys or want:
            if isinstance(want[key], float) and math.isnan(want[key]):  # no members
                assert math.isnan(got[key]), key
            elif isinstance(want[key], float):
                assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), key
            else:
                assert got[key] == want[key], key


def pool_of(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["split"].isin(("training", "validation"))].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------
# the same numbers as before


def test_the_folds_are_the_ones_training_cut_before():
    plan = cv.fold_plan(collection(), folds=5, repeats=2, seed=7)
    assert (plan.k, plan.repeats) == (5, 2)
    recorded = RECORDED["fold_plan"]
    assert [list(fold.split) for fold in plan] == [fold["split"] for fold in recorded]
    assert [fold.scored.tolist() for fold in plan] == [fold["scored"] for fold in recorded]


@pytest.mark.parametrize(
    ("model_type", "folds", "repeats", "key"),
    [("logistic_regression", 4, 2, "cross_validate_logistic"),
     ("lightgbm", 3, 1, "cross_validate_lightgbm")],
)  # fmt: skip
def test_cross_validated_scores_are_the_ones_recorded(model_type, folds, repeats, key):
    result = cv.cross_validate(collection(), model_type, HYPER[model_type], folds=folds,
                               repeats=repeats, seed=3)  # fmt: skip
    assert_same_records([result], [RECORDED[key]])


def test_model_type_auto_scores_are_the_ones_recorded():
    pool = pool_of(collection())
    types = ["logistic_regression", "knn", "lightgbm"]
    chosen, scores = selection.choose_model(
        pool, types, HYPER, selection={"cv_below_tracks": 2000, "folds": 3, "repeats": 2}, seed=1
    )
    assert chosen == RECORDED["choose_model_cv"]["chosen"]
    assert_same_records(scores.to_dict("records"), RECORDED["choose_model_cv"]["scores"])
    # A large collection: one fit each, scored on validation. The means are the same; the spread is now
    # the binomial standard error the feature-set choice already gave (e60e2aa wrote 0), with the ECE.
    chosen, scores = selection.choose_model(
        pool, types, HYPER, selection={"cv_below_tracks": 5, "folds": 3, "repeats": 2}, seed=1
    )
    recorded = RECORDED["choose_model_validation"]
    assert chosen == recorded["chosen"]
    rows = scores.to_dict("records")
    assert_same_records(rows, recorded["scores"], keys=["model_type", "folds", "repeats",
                                                        "n_tracks", "accuracy_mean",
                                                        "f1_macro_mean"])  # fmt: skip
    n_validation = int((pool["split"] == "validation").sum())
    for row in rows:
        p = row["accuracy_mean"]
        assert row["accuracy_std"] == pytest.approx(math.sqrt(p * (1 - p) / n_validation))
        assert 0.0 <= row["ece"] <= 1.0


@pytest.mark.parametrize(("key", "below", "size"),
                         [("choose_sets_cv", 2000, 2), ("choose_sets_validation", 5, 0)])  # fmt: skip
def test_feature_set_auto_scores_are_the_ones_recorded(key, below, size):
    wide = collection(feature_names(SETS["handcrafted"]) + feature_names(SETS["embedding"]), seed=2)
    best_set, best_type, members, scores = selection.choose(
        wide, SETS, ["logistic_regression", "knn"], HYPER,
        selection={"cv_below_tracks": below, "folds": 3, "repeats": 2, "ensemble_size": size},
        seed=4,
    )  # fmt: skip
    recorded = RECORDED[key]
    assert (best_set, best_type, members) == (
        recorded["feature_set"], recorded["model_type"], recorded["members"]
    )  # fmt: skip
    assert_same_records(scores.to_dict("records"), recorded["scores"])


def test_a_large_collection_scores_the_per_set_ensemble_on_its_validation_split():
    """e60e2aa failed here (``len(None)``): feature_set auto with model type auto on a collection over
    cv_below_tracks. The ensemble is the mean of its members' validation probabilities."""
    wide = collection(feature_names(SETS["handcrafted"]) + feature_names(SETS["embedding"]), seed=2)
    types = ["logistic_regression", "knn"]
    *_, scores = selection.choose(
        wide, SETS, types, HYPER,
        selection={"cv_below_tracks": 5, "folds": 3, "repeats": 2, "ensemble_size": 2}, seed=4,
    )  # fmt: skip
    ensembles = scores[scores["model_type"] == training.ENSEMBLE]
    assert len(ensembles) == len(SETS) and (ensembles["folds"] == 0).all()
    part = selection.restrict(pool_of(wide), SETS["handcrafted"])
    plan = cv.validation_plan(part)
    mean = np.mean([cv.fold_predictions(part, plan, t, HYPER[t], seed=4)[0] for t in types], axis=0)
    expected = cv.fold_scores(part, plan, [mean])["accuracy_mean"]
    row = ensembles[ensembles["feature_set"] == "handcrafted"].iloc[0]
    assert row["accuracy_mean"] == pytest.approx(expected)


def test_model_comparison_is_the_one_recorded():
    from music_genre.pipelines.model_comparison.nodes import cross_validate_models

    hyper = {**HYPER, "svm": {"C": 1.0}, "random_forest": {"n_estimators": 20}}
    modeling = {"hyperparameters": hyper, "model": {"seed": 42},
                "selection": {"cv_below_tracks": 2000, "folds": 3, "repeats": 1}}  # fmt: skip
    table = cross_validate_models(collection(), modeling)
    assert_same_records(table.to_dict("records"), RECORDED["model_comparison"])


def test_out_of_fold_probabilities_keep_the_evaluations_outer_folds():
    """The evaluation's folds (StratifiedKFold, shuffled, seeded) are the first repeat of the plan; the
    probabilities are each fold's model's, trained on that fold's split."""
    train = collection().query("split == 'training'").reset_index(drop=True)
    plan = cv.fold_plan(train, folds=3, seed=11)
    assert [fold.scored.tolist() for fold in plan] == RECORDED["oof_held_out"]
    oof = cv.out_of_fold_probabilities(train, "logistic_regression", HYPER["logistic_regression"],
                                       folds=3, seed=11)  # fmt: skip
    for fold in plan:
        model = training.train_classifier(
            train.assign(split=fold.split), "logistic_regression", HYPER["logistic_regression"],
            seed=11,
        )  # fmt: skip
        np.testing.assert_array_equal(
            oof[fold.scored], model.predict_proba(train.iloc[fold.scored])
        )
    assert oof.shape == (len(train), len(COUNTS))


def test_multi_label_out_of_fold_probabilities_use_the_same_plan():
    from music_genre.modeling.artifact import TagClassifier
    from music_genre.modeling.tasks.multi_label.labels import tag_matrix
    from music_genre.modeling.tasks.multi_label.training import (
        fit_label_models,
        out_of_fold_tag_probabilities,
    )

    train = collection().query("split == 'training'").reset_index(drop=True)
    labels = sorted(COUNTS)
    oof = out_of_fold_tag_probabilities(train, labels, "logistic_regression",
                                        HYPER["logistic_regression"], k=3, seed=5)  # fmt: skip
    assert oof.shape == (len(train), len(labels)) and ((oof >= 0) & (oof <= 1)).all()
    true = tag_matrix(train, labels)
    for fold in cv.fold_plan(train, folds=3, seed=5):
        fit = fold.split == "training"
        held = train.iloc[fold.scored]
        for j, label in enumerate(labels):
            positives = int(true[fit, j].sum())
            if positives < 2 or positives > fit.sum() - 2:
                assert (oof[fold.scored, j] == positives / fit.sum()).all()
                continue
            model = fit_label_models(train.assign(split=fold.split), [label], "logistic_regression",
                                     HYPER["logistic_regression"], seed=5)[label]  # fmt: skip
            np.testing.assert_array_equal(
                oof[fold.scored, j], TagClassifier.label_proba(model, held)
            )


# ---------------------------------------------------------------------------------------------------
# the module's promises


@pytest.mark.parametrize(("folds", "repeats", "seed"), [(5, 1, 0), (3, 3, 12), (10, 2, 5)])
def test_every_track_is_scored_exactly_once_per_repeat(folds, repeats, seed):
    table = collection()
    plan = cv.fold_plan(table, folds=folds, repeats=repeats, seed=seed)
    assert plan.k == min(folds, min(COUNTS.values())) and len(plan) == plan.k * repeats
    for repeat in range(repeats):
        folds_of_repeat = plan.folds[repeat * plan.k : (repeat + 1) * plan.k]
        scored = np.concatenate([fold.scored for fold in folds_of_repeat])
        assert sorted(scored.tolist()) == list(range(len(table)))  # disjoint, and all of them
        for fold in folds_of_repeat:  # stratified: each genre's share of a fold is its share of all
            counts = table["genre"].iloc[fold.scored].value_counts()
            for genre, n in COUNTS.items():
                assert abs(counts.get(genre, 0) - n / plan.k) < 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_early_stopping_slice_never_touches_the_scored_fold(seed):
    table = collection()
    for fold in cv.fold_plan(table, folds=4, repeats=2, seed=seed):
        held = np.zeros(len(table), dtype=bool)
        held[fold.scored] = True
        assert (fold.split[held] == cv.SCORED).all()
        assert set(fold.split[~held]) == {cv.TRAINING, cv.VALIDATION}
        fitted = table["genre"].to_numpy()[~held]
        sliced = fold.split[~held] == cv.VALIDATION
        for genre in COUNTS:  # about one in ten of each genre, at least one from three tracks
            n = int((fitted == genre).sum())
            expected = int(round(0.1 * n)) or (1 if n >= 3 else 0)
            assert int(sliced[fitted == genre].sum()) == expected


def test_a_fold_with_no_genre_of_three_tracks_still_validates_on_one():
    labels = np.array(["a", "a", "b", "b", "c"], dtype=object)
    split = cv.early_stopping_split(labels, seed=3)
    assert (split == cv.VALIDATION).sum() == 1 and (split == cv.TRAINING).sum() == 4


def test_k_shrinks_to_the_smallest_genre_and_refuses_below_two():
    table = collection()
    assert cv.fold_plan(table, folds=50, seed=0).k == min(COUNTS.values())
    one_rock = pd.concat([table[table["genre"] != "rock"], table[table["genre"] == "rock"].head(1)])
    with pytest.raises(TooFewTracksError, match="the smallest has 1"):
        cv.fold_plan(one_rock, folds=5, seed=0)


def test_out_of_fold_averages_the_repeats_and_refuses_a_row_left_out():
    table = collection()
    plan = cv.fold_plan(table, folds=3, repeats=2, seed=1)
    predictions = [np.full((len(f.scored), 1), float(i // plan.k)) for i, f in enumerate(plan)]
    np.testing.assert_array_equal(cv.out_of_fold(plan, predictions), np.full((len(table), 1), 0.5))
    partial = cv.FoldPlan(plan.folds[:2], k=plan.k, repeats=1)
    with pytest.raises(RuntimeError, match="exactly once per repeat"):
        cv.out_of_fold(partial, predictions[:2])
    with pytest.raises(ValueError, match="validation split"):
        cv.out_of_fold(cv.validation_plan(table), [np.zeros((5, 1))])


def test_the_small_collection_rule_switches_at_the_threshold():
    pool = pool_of(collection())
    n = len(pool)
    assert cv.small_collection(n - 1, {"cv_below_tracks": n})
    assert not cv.small_collection(n, {"cv_below_tracks": n})
    small = cv.choice_plan(pool, {"cv_below_tracks": n + 1, "folds": 3, "repeats": 2}, seed=0)
    assert small.cross_validated and (small.k, small.repeats) == (3, 2)
    assert small.describe() == "3-fold cross-validation x 2"
    large = cv.choice_plan(pool, {"cv_below_tracks": n, "folds": 3, "repeats": 2}, seed=0)
    assert not large.cross_validated and len(large) == 1
    (fold,) = large
    assert fold.scored.tolist() == np.flatnonzero(pool["split"] == "validation").tolist()
    assert list(fold.split) == list(pool["split"])  # trains on training, stops on validation


def test_the_threshold_is_the_one_parameter_of_parameters_modeling_yml():
    """Every caller reads modeling.selection.cv_below_tracks and switches on it: refit on
    training + validation (refit_on_validation: auto), and model comparison's cross-validation."""
    from music_genre.pipelines.model_comparison.nodes import cross_validate_models
    from music_genre.pipelines.modeling.nodes import _training_arguments

    modeling = yaml.safe_load((REPO / "conf/base/parameters_modeling.yml").read_text())["modeling"]
    threshold = modeling["selection"]["cv_below_tracks"]
    choice = {**modeling["model"], "refit_on_validation": "auto", "type": "svm"}
    settings = FeatureSettings.from_dict({"feature_set": "handcrafted"})
    by_type = modeling["hyperparameters"]

    def refit(size: int) -> bool:
        return _training_arguments(modeling, choice, by_type, settings, size, None)[
            "refit_on_validation"
        ]

    assert refit(threshold - 1) and not refit(threshold)
    table = collection()
    at = {**modeling, "selection": {**modeling["selection"], "cv_below_tracks": len(table)}}
    assert cross_validate_models(table, at).empty
    above = {**modeling, "hyperparameters": {**modeling["hyperparameters"], **HYPER},
             "selection": {**modeling["selection"], "cv_below_tracks": len(table) + 1, "folds": 2}}  # fmt: skip
    assert not cross_validate_models(table, above).empty
