"""Choose the model type, and the feature set with it, on the user's own tracks.

``modeling.model.type: auto`` picks among ``modeling.selection.candidates`` by the cross-validated score
on the training and validation tracks (:func:`choose_model`, :func:`train_model`).

``feature_engineering.feature_set: auto`` extracts every candidate set this install can compute into one
table (``feature_engineering.candidates``). Which set is best depends on the collection (on 40 GTZAN clips
handcrafted+embedding won; on 118 clips collected elsewhere the embedding alone won by 5 points), so the
choice is made here, by the same stratified k-fold cross-validation over the training and validation tracks
(:mod:`music_genre.modeling.cross_validation`), on the same folds for every candidate:

- every feature set x every model type of ``modeling.selection.candidates`` is scored on the folds;
- per feature set, an ``ensemble`` (the mean of the probabilities of its best ``ensemble_size`` types) is
  scored on the same folds from the members' fold predictions, at no extra training;
- the best mean wins, except that a candidate with fewer columns whose mean lies within one standard error
  of the best (the folds' spread over the square root of their number) is preferred: on a tie within what
  the folds can tell apart, the smaller set (cheaper, and less to overfit).

A collection that is not small (:func:`~music_genre.modeling.cross_validation.small_collection`) is scored
on the validation split instead (one fit per candidate). A collection too small for cross-validation (a
genre with fewer than 2 training and validation tracks) keeps the documented default set
(``feature_engineering.auto.default``) and the first candidate model type, with one log line.
Pure pandas/scikit-learn: no Kedro, no Ray.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from music_genre.common.errors import TooFewTracksError
from music_genre.modeling import cross_validation, training
from music_genre.modeling.artifact import GenreClassifier

log = logging.getLogger(__name__)


def usable_feature_sets(feature_sets: Mapping[str, Mapping], columns) -> dict[str, dict]:
    """The candidate sets whose every column the table has (an install without the embedding extracts the
    handcrafted set only), as ``{name: feature settings}``, in the configured order."""
    from music_genre.features import feature_names

    present = set(columns)
    return {
        name: dict(settings)
        for name, settings in feature_sets.items()
        if set(feature_names(settings)) <= present
    }


def restrict(table: pd.DataFrame, settings: Mapping) -> pd.DataFrame:
    """The table with the ID and label columns and the set's feature columns only, in the set's order."""
    from music_genre.features import feature_names

    return training.with_feature_columns(table, feature_names(settings))


def default_set(feature_sets: Mapping[str, Mapping], default: str | None, columns):
    """(the usable candidate sets, the name of ``default`` among them, else of the first); one clear error
    when the table holds none of them."""
    usable = usable_feature_sets(feature_sets, columns)
    if not usable:
        raise TooFewTracksError(
            f"none of the candidate feature sets ({', '.join(feature_sets)}) is in the feature table: "
            "run the feature_engineering pipeline again"
        )
    return usable, default if default in usable else next(iter(usable))


def choose(
    table: pd.DataFrame,
    feature_sets: Mapping[str, Mapping],
    model_types: Sequence[str],
    hyperparameters: Mapping[str, Mapping],
    *,
    selection: Mapping | None = None,
    seed: int = 42,
    class_weight: str | None = None,
    members: Sequence[str] = (),
) -> tuple[str, str, list[str], pd.DataFrame]:
    """(feature set, model type, ensemble members, the score table) for the training and validation
    tracks of ``table``. ``model_types`` of one type: only the feature set is chosen (``members``: those
    of a fixed ``ensemble``)."""
    selection = dict(selection or {})
    metric = str(selection.get("metric", "accuracy"))
    ensemble_size = int(selection.get("ensemble_size", 3))
    pool = table[table["split"].isin(("training", "validation"))].reset_index(drop=True)
    started = time.perf_counter()
    plan = cross_validation.choice_plan(pool, selection, seed)
    rows = []
    for name, settings in feature_sets.items():
        part = restrict(pool, settings)
        n_columns = len(part.columns) - len([c for c in part.columns if c in training.NOT_FEATURES])
        predictions = {}
        for model_type in model_types:
            params = (
                hyperparameters if model_type == training.ENSEMBLE else hyperparameters[model_type]
            )
            predictions[model_type] = cross_validation.fold_predictions(
                part, plan, model_type, params, seed=seed, class_weight=class_weight,
                members=members,
            )  # fmt: skip
            row = _row(name, model_type, n_columns, part, plan, predictions[model_type])
            if model_type == training.ENSEMBLE:
                row["members"] = list(members)
            rows.append(row)
        if len(model_types) > 1 and ensemble_size >= 2:
            ranked = sorted(
                (r for r in rows if r["feature_set"] == name),
                key=lambda r: -r[f"{metric}_mean"],
            )
            members = [r["model_type"] for r in ranked[:ensemble_size]]
            mean = [np.mean([predictions[m][i] for m in members], axis=0) for i in range(len(plan))]
            rows.append(
                {**_row(name, training.ENSEMBLE, n_columns, part, plan, mean), "members": members}
            )
    scores = pd.DataFrame(rows).sort_values(f"{metric}_mean", ascending=False, kind="stable")
    scores = scores.reset_index(drop=True)
    best_set, best_type, members = _pick(scores, metric)
    scores["chosen"] = (scores["feature_set"] == best_set) & (scores["model_type"] == best_type)
    (pick,) = scores[scores["chosen"]].to_dict("records")
    log.info(
        "Chose feature set %s (%d columns) with %s by %s on %d tracks: %s %.3f +- %.3f "
        "(%d candidates in %.0f s; all in model_cv.csv)",
        best_set,
        pick["n_columns"],
        _label(pick),
        plan.describe(),
        len(pool),
        metric,
        pick[f"{metric}_mean"],
        pick[f"{metric}_std"],
        len(scores),
        time.perf_counter() - started,
    )
    log.debug(
        "Candidates:\n%s",
        "\n".join(
            f"  {'*' if r['chosen'] else ' '} {r['feature_set']:<22} {_label(r):<34} "
            f"{metric} {r[f'{metric}_mean']:.3f} +- {r[f'{metric}_std']:.3f}"
            for r in scores.to_dict("records")
        ),
    )
    return best_set, best_type, members, scores.reset_index(drop=True)


def _label(row: Mapping) -> str:
    members = row.get("members")
    if isinstance(members, list):
        return f"ensemble({'+'.join(members)})"
    return str(row["model_type"])


def _row(name, model_type, n_columns, part, plan, predictions) -> dict:
    scored = cross_validation.fold_scores(part, plan, predictions)
    return {"feature_set": name, "model_type": model_type, "n_columns": n_columns, **scored}


def _pick(scores: pd.DataFrame, metric: str) -> tuple[str, str, list[str]]:
    """The best mean; a candidate with fewer columns within one standard error of it wins the tie."""
    mean = scores[f"{metric}_mean"]
    best = scores.loc[mean.idxmax()]
    # folds' spread / sqrt(runs); a validation-split score's std is already its standard error
    runs = int(best["folds"]) * max(1, int(best["repeats"])) if best["folds"] else 1
    tolerance = float(best[f"{metric}_std"]) / math.sqrt(runs)
    tied = scores[mean >= float(best[f"{metric}_mean"]) - tolerance - 1e-12]
    chosen = tied.sort_values(
        ["n_columns", f"{metric}_mean"], ascending=[True, False], kind="stable"
    ).iloc[0]
    members = chosen.get("members")
    return (
        str(chosen["feature_set"]),
        str(chosen["model_type"]),
        list(members) if isinstance(members, list) else [],
    )


TABLE_COLUMNS = [
    "feature_set",
    "model_type",
    "members",
    "n_columns",
    "cv_accuracy_mean",
    "cv_accuracy_std",
    "cv_f1_macro_mean",
    "cv_f1_macro_std",
    "cv_ece",
    "cv_folds",
    "cv_repeats",
    "chosen",
]


def selection_table(scores) -> pd.DataFrame:
    """``model_cv.csv``: one row per feature set x model type (an ensemble names its members), best first;
    ``cv_folds`` 0 where the candidates were scored on the validation split."""
    frame = pd.DataFrame(scores if scores is not None else [])
    if frame.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    frame = frame.copy()
    if "members" not in frame:
        frame["members"] = None
    frame["members"] = ["+".join(m) if isinstance(m, list) else (m or "") for m in frame["members"]]
    frame = frame.rename(
        columns={
            name: f"cv_{name}"
            for name in (
                "accuracy_mean",
                "accuracy_std",
                "f1_macro_mean",
                "f1_macro_std",
                "folds",
                "repeats",
            )
        }  # fmt: skip
    )
    for column in TABLE_COLUMNS:
        if column not in frame:
            frame[column] = None
    return frame[TABLE_COLUMNS].reset_index(drop=True)


def train_chosen(
    table: pd.DataFrame,
    feature_sets: Mapping[str, Mapping],
    default_feature_set: str | None,
    arguments: Mapping,
):
    """Choose the feature set (and, for ``auto``, the model type) by :func:`choose`, then train the
    chosen pair on the table's chosen columns exactly as :func:`training.train_classifier` does. The model
    keeps the chosen set's settings, so prediction extracts only what it reads; the scores go to
    ``info["model_selection"]`` (``model_cv.csv``)."""
    from music_genre.features import FeatureSettings

    arguments = dict(arguments)
    usable, default_name = default_set(feature_sets, default_feature_set, table.columns)
    model_type = arguments.pop("model_type")
    hyperparameters = arguments.pop("hyperparameters")
    chosen_selection = dict(arguments.pop("selection", None) or {})
    members = list(arguments.pop("members", None) or [])
    arguments.pop("feature_settings", None)
    arguments.pop("feature_digest", None)
    by_type = (
        hyperparameters
        if model_type in (training.AUTO, training.ENSEMBLE)
        else {model_type: hyperparameters}
    )
    model_types = (
        list(chosen_selection.get("candidates") or training.MODEL_TYPES)
        if model_type == training.AUTO
        else [model_type]
    )
    scores = None
    how = "cross-validation"
    try:
        if len(usable) == 1 and model_type != training.AUTO:
            raise TooFewTracksError("one candidate feature set: nothing to choose")
        name, model_type, members_chosen, scores = choose(
            table, usable, model_types, by_type, selection=chosen_selection,
            seed=int(arguments.get("seed", 42)), class_weight=arguments.get("class_weight"),
            members=members,
        )  # fmt: skip
        members = members_chosen or members
    except TooFewTracksError as err:
        name = default_name
        if model_type == training.AUTO:  # nothing to cross-validate types on either
            model_type = model_types[0]
        how = f"the default ({err})"
        log.info("Feature set %s, model %s: %s", name, model_type, how)
    settings = FeatureSettings.from_dict(usable[name])
    params = by_type if model_type in (training.AUTO, training.ENSEMBLE) else by_type[model_type]
    classifier = training.train_classifier(
        restrict(table, usable[name]), model_type, params,
        feature_settings=settings.to_dict(), feature_digest=settings.digest(),
        members=members, **arguments,
    )  # fmt: skip
    if scores is not None:
        classifier.info["model_selection"] = [
            {**row, "members": row.get("members") if isinstance(row.get("members"), list) else []}
            for row in scores.to_dict("records")
        ]
    classifier.info["feature_set"] = name
    classifier.info["feature_set_choice"] = how
    return classifier


def choose_model(
    table: pd.DataFrame,
    candidates: Sequence[str],
    hyperparameters: Mapping[str, Mapping],
    *,
    selection: Mapping,
    seed: int = 42,
    class_weight: str | None = None,
) -> tuple[str, pd.DataFrame]:
    """``modeling.model.type: auto`` on one feature set: the candidate with the best
    ``selection["metric"]``, and the table of scores (best first), on the plan of the small-collection
    rule (:func:`~music_genre.modeling.cross_validation.choice_plan`): the mean over folds on a small
    collection; above, each candidate trains once on the training split and is scored on validation
    (LightGBM's score is optimistic there: it stopped on it, which favours it slightly on large
    collections, where it is usually best anyway)."""
    metric = str(selection.get("metric", "accuracy"))
    plan = cross_validation.choice_plan(table, selection, seed)
    rows = []
    for model_type in candidates:
        predictions = cross_validation.fold_predictions(
            table, plan, model_type, hyperparameters[model_type], seed=seed,
            class_weight=class_weight,
        )  # fmt: skip
        rows.append(
            {"model_type": model_type, **cross_validation.fold_scores(table, plan, predictions)}
        )
    scores = pd.DataFrame(rows)
    for row in rows:
        log.info(
            "auto model choice: %-20s %s %.3f +- %.3f",
            row["model_type"],
            metric,
            row[f"{metric}_mean"],
            row[f"{metric}_std"],
        )
    scores = scores.sort_values(f"{metric}_mean", ascending=False, kind="stable")
    return str(scores.iloc[0]["model_type"]), scores.reset_index(drop=True)


def train_model(
    table: pd.DataFrame,
    model_type: str,
    hyperparameters: Mapping,
    *,
    selection: Mapping | None = None,
    **arguments,
) -> GenreClassifier:
    """:func:`training.train_classifier` (``arguments``: its keyword arguments), except that ``auto``
    first chooses the type among ``selection["candidates"]`` by :func:`choose_model` on the training and
    validation tracks (never the test split): ``hyperparameters`` is then the whole
    ``modeling.hyperparameters`` map, and the scores are kept in ``info["model_selection"]``."""
    if model_type != training.AUTO:
        return training.train_classifier(table, model_type, hyperparameters, **arguments)
    selection = dict(selection or {})
    candidates = list(selection.get("candidates") or training.MODEL_TYPES)
    missing = [c for c in candidates if c not in hyperparameters]
    if missing:
        raise ValueError(
            f"model type auto needs the hyperparameters of every candidate (modeling.hyperparameters); "
            f"missing: {', '.join(missing)}"
        )
    metric = str(selection.get("metric", "accuracy"))
    pool = table[table["split"].isin(("training", "validation"))].reset_index(drop=True)
    chosen, scores = choose_model(
        pool, candidates, hyperparameters, selection=selection,
        seed=int(arguments.get("seed", 42)), class_weight=arguments.get("class_weight"),
    )  # fmt: skip
    best = scores.iloc[0]
    log.info(
        "Model type auto -> %s (%s %.3f +- %.3f, %s on the %d training and validation tracks)",
        chosen,
        metric,
        best[f"{metric}_mean"],
        best[f"{metric}_std"],
        f"{int(best['folds'])}-fold cross-validation" if best["folds"] else "validation split",
        len(pool),
    )
    model = training.train_classifier(table, chosen, hyperparameters[chosen], **arguments)
    model.info["model_selection"] = scores.to_dict("records")
    return model
