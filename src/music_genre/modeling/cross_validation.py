"""Cross-validation on the user's own tracks, in one place for every caller.

``model.type: auto`` and ``feature_set: auto`` (:mod:`music_genre.modeling.selection`), the
``model_comparison`` pipeline, the evaluation's label quality (cleanlab's out-of-fold probabilities) and the
multi-label task's all cut, train and score through this module:

- **Folds**: stratified by ``genre`` (a multi-label table's main genre), seeded, ``k`` shrinking to the
  smallest genre's size (at least 2), repeated ``repeats`` times with fresh shuffles: every track is
  scored exactly once per repeat, and every candidate of one choice is scored on the same folds (paired
  comparisons). Folds are not grouped (by artist or album): no caller groups them, and the manifest's
  split, which does, is what the test split's honesty rests on.
- **The early-stopping slice**: each fold's training part sets aside about one track in ten of each genre
  (at least one where a genre has three or more there) as that fold's ``validation`` split, where
  LightGBM stops early; the scored fold never guides training. The other model types train on the rest,
  exactly as :func:`music_genre.modeling.training.train_classifier` trains on a manifest's split.
- **The small-collection rule**: a collection under ``modeling.selection.cv_below_tracks`` tracks
  (``conf/base/parameters_modeling.yml``, its one default) is small: one test split holds a handful of its
  tracks, so its choices are cross-validated (and its chosen model refits on training + validation); a
  larger one scores each candidate once, on its validation split (:func:`validation_plan`).
- **Out-of-fold predictions**: each track's prediction from the fold that held it out, averaged over
  repeats (:func:`out_of_fold`).

Pure numpy, pandas and scikit-learn: no Kedro, no Ray.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from music_genre.common.errors import TooFewTracksError
from music_genre.modeling.metrics import classification_metrics, expected_calibration_error
from music_genre.modeling.training import train_classifier

# a fold's parts, as training reads a table's split: it trains, it stops early, it is scored
TRAINING, VALIDATION, SCORED = "training", "validation", "test"
EARLY_STOPPING_SHARE = 0.1  # of each genre's tracks in a fold's training part


class Fold(NamedTuple):
    """One fit: ``split`` gives every row of the table its part (training, validation: the early-stopping
    slice, test: scored), ``scored`` the positions of the scored rows."""

    split: np.ndarray
    scored: np.ndarray


@dataclass(frozen=True)
class FoldPlan:
    """The fits every candidate of one choice is scored on. ``k`` folds per repeat, ``repeats`` times;
    ``k == 0``: one fit on the training split, scored on the validation split (a large collection)."""

    folds: tuple[Fold, ...]
    k: int
    repeats: int

    def __iter__(self):
        return iter(self.folds)

    def __len__(self) -> int:
        return len(self.folds)

    @property
    def cross_validated(self) -> bool:
        return self.k > 0

    def describe(self) -> str:
        if not self.cross_validated:
            return "their validation-split score"
        return f"{self.k}-fold cross-validation x {self.repeats}"


def small_collection(n_tracks: int, selection: Mapping) -> bool:
    """The small-collection rule: fewer than ``selection["cv_below_tracks"]`` tracks
    (``modeling.selection``). Its choices are cross-validated, its chosen model refits on training +
    validation; a larger collection's choices are scored on its validation split."""
    return int(n_tracks) < int(selection["cv_below_tracks"])


def fold_count(labels: pd.Series, folds: int) -> int:
    """``k``: ``folds``, or the smallest genre's size where that is smaller (stratified folds need a track
    of every genre in each); :class:`TooFewTracksError` below 2."""
    smallest = int(labels.value_counts().min()) if len(labels) else 0
    k = min(int(folds), smallest)
    if k < 2:
        raise TooFewTracksError(
            f"cross-validation needs at least 2 tracks in every genre; the smallest has {smallest} "
            "(add tracks, or drop that genre's folder)"
        )
    return k


def early_stopping_split(labels: np.ndarray, seed: int) -> np.ndarray:
    """``training``/``validation`` for a fold's training part: about one track in ten of each genre (at
    least one where a genre has three or more) validates, so LightGBM can stop early without seeing the
    scored fold. ``labels``: one genre per row; the answer: one split name per row, seeded."""
    rng = np.random.default_rng(seed)
    out = np.full(len(labels), TRAINING, dtype=object)
    for genre in np.unique(labels):
        where = np.flatnonzero(labels == genre)
        take = int(round(EARLY_STOPPING_SHARE * len(where))) or (1 if len(where) >= 3 else 0)
        out[rng.choice(where, size=take, replace=False)] = VALIDATION
    if not (out == VALIDATION).any():
        out[rng.integers(len(out))] = VALIDATION
    return out


def fold_plan(table: pd.DataFrame, *, folds: int, repeats: int = 1, seed: int) -> FoldPlan:
    """Stratified ``k``-fold over every row of ``table`` (its ``split`` column is ignored), ``repeats``
    times, each fold's training part with its early-stopping slice (seeded by ``seed`` + the fold's
    number). :class:`TooFewTracksError` when a genre has fewer than 2 tracks."""
    from sklearn.model_selection import RepeatedStratifiedKFold

    labels = table["genre"].to_numpy()
    k = fold_count(table["genre"], folds)
    splitter = RepeatedStratifiedKFold(n_splits=k, n_repeats=int(repeats), random_state=seed)
    plan = []
    for number, (fit_rows, scored) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        split = np.full(len(labels), SCORED, dtype=object)
        split[fit_rows] = early_stopping_split(labels[fit_rows], seed + number)
        plan.append(Fold(split, scored))
    return FoldPlan(tuple(plan), k=k, repeats=int(repeats))


def validation_plan(table: pd.DataFrame) -> FoldPlan:
    """A large collection's one fit: the table's own split (training trains, validation stops LightGBM
    early and is scored)."""
    split = table["split"].to_numpy(dtype=object)
    return FoldPlan((Fold(split, np.flatnonzero(split == VALIDATION)),), k=0, repeats=0)


def choice_plan(pool: pd.DataFrame, selection: Mapping, seed: int) -> FoldPlan:
    """The plan a choice among candidates is scored on, by the small-collection rule: ``pool``'s
    (training and validation tracks) folds when it is small, else its validation split.
    ``selection``: ``modeling.selection`` (``cv_below_tracks``, ``folds``, ``repeats``)."""
    if not small_collection(len(pool), selection):
        return validation_plan(pool)
    return fold_plan(
        pool, folds=int(selection.get("folds", 5)), repeats=int(selection.get("repeats", 1)),
        seed=seed,
    )  # fmt: skip


def fold_predictions(
    table: pd.DataFrame, plan: FoldPlan, model_type: str, hyperparameters: Mapping, *,
    seed: int = 42, class_weight: str | None = None, members: Sequence[str] = (),
) -> list[np.ndarray]:  # fmt: skip
    """Each fold's probabilities for its scored rows (columns: the table's genres, sorted), from a model
    trained by :func:`~music_genre.modeling.training.train_classifier` on that fold's split."""
    out = []
    for fold in plan:
        fold_table = table.assign(split=fold.split)
        model = train_classifier(fold_table, model_type, hyperparameters, seed=seed,
                                 class_weight=class_weight, members=members)  # fmt: skip
        out.append(model.predict_proba(fold_table.iloc[fold.scored]))
    return out


def fold_scores(
    table: pd.DataFrame, plan: FoldPlan, predictions: Sequence[np.ndarray], classes: Sequence = ()
) -> dict:
    """Accuracy and macro F1 of one candidate's fold predictions, mean and spread over the folds, and the
    expected calibration error of the scored rows' pooled probabilities (are the confidences honest?).
    ``classes``: the probabilities' columns (default: the table's genres, sorted). On a validation plan
    the spread is the binomial standard error of the one score (what the tie rule of a choice reads)."""
    classes = list(classes) or sorted(table["genre"].unique())
    genres = table["genre"].to_numpy()
    scores = []
    for fold, proba in zip(plan, predictions, strict=True):
        metrics = classification_metrics(table["genre"].iloc[fold.scored], proba, classes)
        scores.append({"accuracy": metrics["accuracy"], "f1_macro": metrics["f1_macro"]})
    frame = pd.DataFrame(scores)
    truth = np.concatenate([genres[fold.scored] for fold in plan])
    result = {
        "folds": plan.k,
        "repeats": plan.repeats,
        "n_tracks": len(table),
        "accuracy_mean": float(frame["accuracy"].mean()),
        "accuracy_std": float(frame["accuracy"].std(ddof=0)),
        "f1_macro_mean": float(frame["f1_macro"].mean()),
        "f1_macro_std": float(frame["f1_macro"].std(ddof=0)),
        "ece": expected_calibration_error(truth, np.concatenate(predictions), classes),
    }
    if not plan.cross_validated:
        n = max(1, len(truth))
        for metric in ("accuracy", "f1_macro"):
            p = result[f"{metric}_mean"]
            result[f"{metric}_std"] = float(np.sqrt(max(p * (1 - p), 0.0) / n))
    return result


def cross_validate(
    table: pd.DataFrame,
    model_type: str,
    hyperparameters: Mapping,
    *,
    folds: int = 5,
    repeats: int = 1,
    seed: int = 42,
    class_weight: str | None = None,
) -> dict:
    """Stratified k-fold cross-validation of one model type over every track of ``table`` (its splits
    pooled), ``repeats`` times: the honest score on a small collection, where one test split holds a
    handful of tracks. ``{"model_type", "folds", "repeats", "n_tracks", "accuracy_mean", ...}``."""
    plan = fold_plan(table, folds=folds, repeats=repeats, seed=seed)
    predictions = fold_predictions(table, plan, model_type, hyperparameters, seed=seed,
                                   class_weight=class_weight)  # fmt: skip
    return {"model_type": model_type, **fold_scores(table, plan, predictions)}


def cross_validate_all(
    table: pd.DataFrame, model_types: Sequence[str], hyperparameters: Mapping[str, Mapping], **cv
) -> pd.DataFrame:
    """:func:`cross_validate` of each model type (``cv``: its keyword arguments), one row each, in order."""
    return pd.DataFrame([cross_validate(table, t, hyperparameters[t], **cv) for t in model_types])


def out_of_fold(plan: FoldPlan, predictions: Sequence[np.ndarray]) -> np.ndarray:
    """Each row's prediction from the folds that held it out (one per repeat), averaged over the repeats:
    ``(n_rows, n_columns)``, rows in the table's order. ``predictions``: one array per fold of ``plan``,
    one row per scored row. A plan that does not score every row once per repeat is refused."""
    if not plan.cross_validated:
        raise ValueError(
            "out-of-fold predictions need cross-validation folds, not a validation split"
        )
    n_rows = len(plan.folds[0].split)
    total = np.zeros((n_rows, np.shape(predictions[0])[1]))
    times = np.zeros(n_rows, dtype=np.int64)
    for fold, values in zip(plan, predictions, strict=True):
        total[fold.scored] += np.asarray(values, dtype=np.float64)
        times[fold.scored] += 1
    if (times != plan.repeats).any():
        raise RuntimeError("some rows were not held out exactly once per repeat")
    return total / plan.repeats


def out_of_fold_probabilities(
    table: pd.DataFrame,
    model_type: str,
    hyperparameters: Mapping,
    *,
    folds: int,
    seed: int,
    class_weight: str | None = None,
    members: Sequence[str] = (),
) -> np.ndarray:
    """Class probabilities for every row of ``table`` from a model that never saw it (cleanlab's input):
    :func:`fold_plan` once over the rows, each fold trained as :func:`fold_predictions` trains it.
    ``(len(table), n_genres)``, rows in ``table``'s order, columns the genres sorted."""
    table = table.reset_index(drop=True)
    plan = fold_plan(table, folds=folds, repeats=1, seed=seed)
    predictions = fold_predictions(table, plan, model_type, hyperparameters, seed=seed,
                                   class_weight=class_weight, members=members)  # fmt: skip
    return out_of_fold(plan, predictions)
