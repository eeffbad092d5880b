"""Train and score the multi-label tag model.

Binary relevance: one binary model per genre, of the configured type, trained by the same
:func:`music_genre.modeling.training.train_classifier` as the single-label model (LightGBM stops early on the
validation split, the scaled models get their scaler, small collections their smaller leaves). Why not a
native multi-label model: only k-NN and random forest have one, and each genre needs its own decision
threshold anyway; per-genre models also let a rare genre weigh its own tracks. What binary relevance loses
(co-occurrence between genres) is small at FMA's top level, where most tracks carry one genre.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from music_genre.modeling import cross_validation, training
from music_genre.modeling.artifact import GenreClassifier, TagClassifier
from music_genre.modeling.tasks.multi_label.labels import tag_matrix
from music_genre.modeling.tasks.multi_label.metrics import (
    best_threshold,
    frequency_baseline,
    tag_metrics,
)

log = logging.getLogger(__name__)

THRESHOLD_GRID = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))
NO = "no"


def binary_table(table: pd.DataFrame, label: str) -> pd.DataFrame:
    """The table with ``genre`` = yes/no: whether each track carries ``label``."""
    carries = tag_matrix(table, [label])[:, 0]
    return table.assign(genre=np.where(carries, TagClassifier.POSITIVE, NO))


def fit_label_models(
    table: pd.DataFrame,
    labels: Sequence[str],
    model_type: str,
    hyperparameters: Mapping,
    *,
    seed: int = 42,
    class_weight: str | None = None,
) -> dict[str, GenreClassifier]:
    """One binary model per label, on the table's training split (validation for early stopping)."""
    models = {}
    for label in labels:
        models[label] = training.train_classifier(
            binary_table(table, label),
            model_type,
            hyperparameters,
            seed=seed,
            class_weight=class_weight,
        )
    return models


def tune_thresholds(
    true: np.ndarray, proba: np.ndarray, labels: Sequence[str], settings: Mapping
) -> tuple[dict[str, float], dict[str, str]]:
    """Per genre, the threshold with the best F1 on these (validation) tracks, pulled towards
    ``default`` as if ``prior_tracks`` more tracks had voted for it: a threshold fitted to three tracks
    is mostly noise (on the built-in sample it cost half the test Jaccard), one fitted to a hundred
    barely moves. A genre with fewer than ``min_positives`` tracks there keeps ``default``."""
    default = float(settings.get("default", 0.5))
    minimum = int(settings.get("min_positives", 3))
    prior = float(settings.get("prior_tracks", 10))
    thresholds, how = {}, {}
    for j, label in enumerate(labels):
        positives = int(true[:, j].sum())
        if positives < minimum:
            thresholds[label], how[label] = default, f"default ({positives} validation tracks)"
            continue
        best, f1 = best_threshold(true[:, j], proba[:, j], THRESHOLD_GRID)
        thresholds[label] = round((positives * best + prior * default) / (positives + prior), 4)
        how[label] = f"F1-best {best:.2f} (F1 {f1:.3f}) on {positives} validation tracks"
    return thresholds, how


def train_tag_classifier(
    table: pd.DataFrame,
    labels: Sequence[str],
    model_type: str,
    hyperparameters: Mapping,
    *,
    seed: int = 42,
    class_weight: str | None = None,
    feature_settings: Mapping | None = None,
    feature_digest: str = "",
    threshold_settings: Mapping | None = None,
    selection: Mapping | None = None,
) -> TagClassifier:
    """Fit one model per genre of ``labels`` and tune each genre's threshold on the validation split.

    ``auto``: ``hyperparameters`` is the whole ``modeling.hyperparameters`` map; each candidate type is
    trained on the training split and the best macro average precision on validation wins (threshold-free,
    so the tuned thresholds do not flatter anyone)."""
    threshold_settings = dict(threshold_settings or {})
    started = time.perf_counter()
    selection_scores = None
    if model_type == training.AUTO:
        model_type, selection_scores = _choose_type(
            table, labels, hyperparameters, selection or {}, seed, class_weight
        )
        hyperparameters = hyperparameters[model_type]
    models = fit_label_models(
        table, labels, model_type, hyperparameters, seed=seed, class_weight=class_weight
    )
    columns = training.feature_columns(table)
    model = TagClassifier(
        model_type=model_type,
        labels=list(labels),
        models=models,
        thresholds={label: 0.5 for label in labels},
        feature_columns=columns,
        at_least_one=bool(threshold_settings.get("at_least_one", True)),
        feature_settings=dict(feature_settings or {}),
        feature_digest=feature_digest,
        params=dict(hyperparameters or {}),
    )
    valid = table[table["split"] == "validation"]
    thresholds, how = tune_thresholds(
        tag_matrix(valid, labels), model.predict_proba(valid), labels, threshold_settings
    )
    model.thresholds = thresholds
    model.info.update(
        training_seconds=round(time.perf_counter() - started, 3),
        version=f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}",
        n_training=int((table["split"] == "training").sum()),
        n_validation=len(valid),
        thresholds_tuned=how,
    )
    if selection_scores is not None:
        model.info["model_selection"] = selection_scores
    return model


def _choose_type(table, labels, hyperparameters, selection, seed, class_weight):
    candidates = list(selection.get("candidates") or training.MODEL_TYPES)
    valid = table[table["split"] == "validation"]
    true = tag_matrix(valid, labels)
    scores = []
    for candidate in candidates:
        models = fit_label_models(
            table,
            labels,
            candidate,
            hyperparameters[candidate],
            seed=seed,
            class_weight=class_weight,
        )
        proba = np.column_stack([TagClassifier.label_proba(m, valid) for m in models.values()])
        value = tag_metrics(true, proba, proba >= 0.5)["average_precision_macro"]
        log.info(
            "auto model choice (multi-label): %-20s validation macro AP %.3f", candidate, value
        )
        scores.append({"model_type": candidate, "average_precision_macro": value, "folds": 0})
    best = max(scores, key=lambda row: -np.inf if np.isnan(row["average_precision_macro"])
               else row["average_precision_macro"])  # fmt: skip
    log.info("Model type auto -> %s (multi-label, by validation macro AP)", best["model_type"])
    return best["model_type"], scores


def evaluate_tag_classifier(model: TagClassifier, table: pd.DataFrame) -> dict[str, dict]:
    """Every tag metric for every split present, plus the label-frequency baseline's Jaccard and
    Hamming loss beside the model's."""
    results: dict[str, dict] = {}
    train_true = tag_matrix(table[table["split"] == "training"], model.labels)
    for split in training.SPLITS:
        part = table[table["split"] == split]
        if part.empty:
            continue
        true = tag_matrix(part, model.labels)
        proba = model.predict_proba(part)
        values = tag_metrics(true, proba, model.tags_from_proba(proba))
        base_proba, base_tags = frequency_baseline(train_true, len(part))
        baseline = tag_metrics(true, base_proba, base_tags)
        values["baseline_jaccard"] = baseline["jaccard"]
        values["baseline_hamming_loss"] = baseline["hamming_loss"]
        values["n_tracks"] = len(part)
        results[split] = values
    return results


def beats_baseline(per_split: Mapping[str, Mapping]) -> dict:
    """The multi-label ``better_than_chance``: a higher Jaccard and a lower Hamming loss than the
    label-frequency baseline, on validation and test (each split present)."""
    verdicts = {}
    for split in ("validation", "test"):
        if split not in per_split:
            continue
        values = per_split[split]
        verdicts[split] = {
            "jaccard": values["jaccard"],
            "baseline_jaccard": values["baseline_jaccard"],
            "hamming_loss": values["hamming_loss"],
            "baseline_hamming_loss": values["baseline_hamming_loss"],
            "better": values["jaccard"] > values["baseline_jaccard"] + 1e-9
            and values["hamming_loss"] < values["baseline_hamming_loss"] - 1e-9,
        }
    return {"better_than_chance": all(v["better"] for v in verdicts.values()), "splits": verdicts}


def out_of_fold_tag_probabilities(
    train_table: pd.DataFrame,
    labels: Sequence[str],
    model_type: str,
    hyperparameters: Mapping,
    k: int = 5,
    seed: int = 42,
) -> np.ndarray:
    """P(genre) for every training track from models that never saw it (cleanlab's input): the folds
    and early-stopping slices of :func:`music_genre.modeling.cross_validation.fold_plan`, stratified by
    the track's main genre; each fold's models train on the other folds. A genre with fewer than 2
    tracks carrying it (or lacking it) in a fold's training part gets its frequency there."""
    table = train_table.reset_index(drop=True)
    true = tag_matrix(table, labels)
    plan = cross_validation.fold_plan(table, folds=k, seed=seed)
    predictions = []
    for fold in plan:
        fold_table = table.assign(split=fold.split)
        fit = fold.split == cross_validation.TRAINING
        held = table.iloc[fold.scored]
        proba = np.empty((len(held), len(labels)))
        for j, label in enumerate(labels):
            positives = int(true[fit, j].sum())
            if positives < 2 or positives > fit.sum() - 2:
                proba[:, j] = positives / fit.sum()
                continue
            models = fit_label_models(fold_table, [label], model_type, hyperparameters, seed=seed)
            proba[:, j] = TagClassifier.label_proba(models[label], held)
        predictions.append(proba)
    return cross_validation.out_of_fold(plan, predictions)
