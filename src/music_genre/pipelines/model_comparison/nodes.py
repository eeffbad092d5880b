"""Thin nodes: every model type cross-validated (small collections), and one comparison table."""

from __future__ import annotations

import logging

import pandas as pd

from music_genre.modeling import cross_validation, training

log = logging.getLogger(__name__)

CV_COLUMNS = [
    "model_type",
    "cv_accuracy_mean",
    "cv_accuracy_std",
    "cv_f1_macro_mean",
    "cv_f1_macro_std",
    "cv_folds",
    "cv_repeats",
]


def cross_validate_models(
    model_input_table: pd.DataFrame, modeling: dict, feature_set_candidates: dict | None = None
) -> pd.DataFrame:
    """Stratified k-fold accuracy and macro F1 (mean and std over folds) of every model type, when the
    collection is small (:func:`~music_genre.modeling.cross_validation.small_collection`): there one test
    split holds a handful of tracks and says little. Empty for a larger collection (its test split is reported). With
    ``feature_set: auto``, every candidate feature set x model type, as modeling scores them."""
    from music_genre.modeling.tasks import task_of_params

    task_of_params(modeling).check_model_comparison()
    selection = dict(modeling.get("selection") or {})
    if not cross_validation.small_collection(len(model_input_table), selection):
        log.info(
            "Model comparison on the test split (%d tracks: no cross-validation)",
            len(model_input_table),
        )
        return pd.DataFrame(columns=CV_COLUMNS)
    sets = (feature_set_candidates or {}).get("sets") or {}
    if sets:
        from music_genre.modeling import selection as choice

        usable = choice.usable_feature_sets(sets, model_input_table.columns)
        scores = choice.choose(
            model_input_table.assign(split="training"),  # every track, as below
            usable,
            list(training.MODEL_TYPES),
            modeling["hyperparameters"],
            selection=selection,
            seed=int(modeling["model"]["seed"]),
            class_weight=modeling["model"].get("class_weight"),
        )[3]
        return choice.selection_table(scores)
    scores = cross_validation.cross_validate_all(
        model_input_table,
        list(training.MODEL_TYPES),
        modeling["hyperparameters"],
        folds=int(selection.get("folds", 5)),
        repeats=int(selection.get("repeats", 1)),
        seed=int(modeling["model"]["seed"]),
        class_weight=modeling["model"].get("class_weight"),
    )
    renamed = {name: f"cv_{name}" for name in scores.columns if name != "model_type"}
    table = scores.rename(columns=renamed)[CV_COLUMNS].sort_values(
        "cv_accuracy_mean", ascending=False, kind="stable"
    )
    log.info(
        "Cross-validated on %d tracks (%d-fold x %d):\n%s",
        len(model_input_table),
        int(table["cv_folds"].iloc[0]),
        int(table["cv_repeats"].iloc[0]),
        "\n".join(
            f"  {r.model_type:<20} accuracy {r.cv_accuracy_mean:.3f} +- {r.cv_accuracy_std:.3f}   "
            f"macro F1 {r.cv_f1_macro_mean:.3f} +- {r.cv_f1_macro_std:.3f}"
            for r in table.itertuples(index=False)
        ),
    )
    return table.reset_index(drop=True)


def compare_models(cv_table: pd.DataFrame, *reports: dict) -> pd.DataFrame:
    """One row per model type and split (each namespace also logs its MLflow metrics, prefixed), with the
    cross-validated scores beside each model's rows when they were computed."""
    rows = []
    for report in reports:
        for split, values in report["splits"].items():
            rows.append(
                {
                    "model_type": report["model_type"],
                    "split": split,
                    **values,
                    "best_iteration": report.get("best_iteration"),
                    "training_seconds": report.get("training_seconds"),
                }
            )
    table = pd.DataFrame(rows)
    if len(cv_table):
        # with feature sets: each model type's best set (the one its namespace chose, bar a tie)
        best = cv_table.sort_values("cv_accuracy_mean", ascending=False, kind="stable")
        best = best.drop_duplicates("model_type")
        table = table.merge(best, on="model_type", how="left")
    test = table[table["split"] == "test"].sort_values("f1_macro", ascending=False)
    for row in test.itertuples(index=False):
        log.info(
            "%-20s test accuracy %.3f  macro F1 %.3f  (%.1f s)",
            row.model_type,
            row.accuracy,
            row.f1_macro,
            row.training_seconds,
        )
    return table
