"""Label quality: training tracks whose given genre looks wrong, found by cleanlab's confident learning.

cleanlab reads *out-of-fold* probabilities of the training split: a model scoring tracks it was trained on
has memorised their labels, wrong ones included, so only cross-validated probabilities can disagree with a
mislabelled track (:mod:`music_genre.modeling.cross_validation` cuts, trains and scores them). cleanlab
loads inside functions so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from music_genre.evaluation.report import _check_proba, _labels


def out_of_fold_probabilities(
    train_table: pd.DataFrame,
    model_type: str,
    hyperparameters: Mapping,
    k: int = 5,
    seed: int = 42,
    *,
    class_weight: str | None = None,
    members: Sequence[str] = (),
) -> np.ndarray:
    """Cross-validated class probabilities for every training track, from a model that never saw it.

    ``train_table`` holds the training split's rows only (``model_input_table`` rows with
    ``split == "training"``; validation and test tracks must stay out of label cleaning). The rows are
    cut into ``k`` stratified folds, each fold predicted by a model that
    :func:`music_genre.modeling.training.train_classifier` trained on the other folds, less their
    early-stopping slice (:func:`music_genre.modeling.cross_validation.out_of_fold_probabilities`): the
    held-out fold itself never guides training, which would leak its labels into its own probabilities.
    Returns an array of shape ``(len(train_table), n_classes)``, rows in ``train_table``'s order, columns
    in sorted genre order (``train_classifier``'s ``classes``)."""
    from music_genre.modeling import cross_validation

    if "split" in train_table.columns:
        other = sorted(set(train_table["split"].astype(str)) - {"training"})
        if other:
            raise ValueError(
                f"out_of_fold_probabilities takes the training split only, got rows of {other}"
            )
    smallest = train_table["genre"].value_counts().min()
    if k < 2 or smallest < k:
        raise ValueError(
            f"k={k} folds need k >= 2 and at least k training tracks per genre (smallest genre has "
            f"{smallest}); lower evaluation k"
        )
    return cross_validation.out_of_fold_probabilities(
        train_table, model_type, hyperparameters, folds=k, seed=seed, class_weight=class_weight,
        members=members,  # an ensemble's model types
    )  # fmt: skip


def _path_lookup(paths: Any, track_ids: pd.Series) -> list:
    """Paths for ``track_ids`` from a manifest-like frame (track_id, path) or a track_id -> path map."""
    if isinstance(paths, pd.DataFrame):
        paths = paths.drop_duplicates("track_id").set_index("track_id")["path"]
    mapping = paths if isinstance(paths, pd.Series) else pd.Series(dict(paths))
    return [mapping.get(track_id) for track_id in track_ids]


def check_issue_indices(ranked: np.ndarray, n_training: int) -> None:
    """cleanlab's answer must be distinct row positions, at most one per track: anything else means
    the probabilities were not one row per track, and the counts would be nonsense."""
    if (
        len(ranked) > n_training
        or len(np.unique(ranked)) != len(ranked)
        or (len(ranked) and (ranked.min() < 0 or ranked.max() >= n_training))
    ):
        raise RuntimeError(
            f"cleanlab returned {len(ranked)} issue indices for {n_training} training tracks: "
            "expected distinct row positions, at most one per track"
        )


def label_issues(
    train_table: pd.DataFrame,
    oof_proba: np.ndarray,
    classes: Sequence[str],
    paths: Any = None,
    *,
    k: int | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Training tracks whose given genre the cross-validated model finds implausible (cleanlab).

    Returns the suspects ranked most suspicious first (cleanlab's ``self_confidence`` ranking): rank,
    track_id, path (when ``paths`` is given: the manifest or a track_id -> path mapping), given genre,
    suggested genre (the out-of-fold argmax), ``self_confidence`` (the out-of-fold probability of the
    given genre: low means the model disagrees) and ``suggested_confidence``; and a summary
    ``{count, fraction_of_training, n_training, k}``. ``oof_proba`` must be
    :func:`out_of_fold_probabilities` for exactly these rows, columns in ``classes`` order: one row
    per track, so there can never be more issues than training tracks (a per-frame or transposed
    input is refused instead of reporting nonsense counts)."""
    from cleanlab.filter import find_label_issues

    classes = list(classes)
    table = train_table.reset_index(drop=True)
    n_training = len(table)
    proba = _check_proba(oof_proba, n_training, classes)
    unknown = sorted(set(table["genre"].astype(str)) - set(classes))
    if unknown:
        raise ValueError(f"training genres {unknown} are not among the classes {classes}")
    column_of = {genre: i for i, genre in enumerate(classes)}
    labels = table["genre"].astype(str).map(column_of).to_numpy(dtype=np.int64)
    ranked = np.asarray(
        find_label_issues(
            labels=labels,
            pred_probs=proba,
            return_indices_ranked_by="self_confidence",
            n_jobs=1,
        ),
        dtype=np.int64,
    ).ravel()
    check_issue_indices(ranked, n_training)
    suggested = np.argmax(proba[ranked], axis=1) if len(ranked) else np.zeros(0, dtype=np.int64)
    issues = pd.DataFrame(
        {
            "rank": np.arange(1, len(ranked) + 1, dtype=np.int64),
            "track_id": table["track_id"].to_numpy()[ranked],
            "given_genre": table["genre"].astype(str).to_numpy()[ranked],
            "suggested_genre": _labels(classes)[suggested]
            if len(ranked)
            else np.array([], dtype=object),
            "self_confidence": proba[ranked, labels[ranked]],
            "suggested_confidence": proba[ranked, suggested] if len(ranked) else np.array([]),
        }
    )
    if paths is not None:
        issues.insert(2, "path", _path_lookup(paths, issues["track_id"]))
    summary = {
        "count": int(len(ranked)),
        "fraction_of_training": float(len(ranked) / n_training) if n_training else 0.0,
        "n_training": int(n_training),
        "k": None if k is None else int(k),
    }
    return issues, summary
