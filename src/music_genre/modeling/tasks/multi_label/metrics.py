"""Multi-label metrics, the same for every split: what a tag set gets right, and what always answering
the training split's label frequencies would get (the baseline a model must beat)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TAG_METRIC_NAMES = (
    "jaccard",
    "hamming_loss",
    "f1_micro",
    "f1_macro",
    "average_precision_macro",
    "subset_accuracy",
    "top1_precision",
    "cardinality_true",
    "cardinality_predicted",
)


def tag_metrics(true: np.ndarray, proba: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Jaccard (samples: the mean over tracks of |true ∩ predicted| / |true ∪ predicted|), Hamming loss
    (the share of wrong track-genre cells), micro and macro F1, macro average precision (threshold-free;
    over genres present in the split), subset accuracy, top-1 precision (the most likely genre is one of
    the track's) and the mean number of genres per track, true and predicted."""
    from sklearn.metrics import average_precision_score, f1_score, hamming_loss

    true = np.asarray(true, dtype=bool)
    predicted = np.asarray(predicted, dtype=bool)
    proba = np.asarray(proba, dtype=np.float64)
    if true.shape != predicted.shape or true.shape != proba.shape:
        raise ValueError(
            f"true {true.shape}, predicted {predicted.shape} and proba {proba.shape} must all be "
            "(tracks, genres)"
        )
    union = (true | predicted).sum(axis=1)
    inter = (true & predicted).sum(axis=1)
    jaccard = np.divide(inter, union, out=np.ones(len(true)), where=union > 0)
    present = true.any(axis=0)
    ap = [average_precision_score(true[:, j], proba[:, j]) for j in np.flatnonzero(present)]
    top = np.argmax(proba, axis=1) if proba.shape[1] else np.zeros(len(true), dtype=int)
    return {
        "jaccard": float(jaccard.mean()) if len(true) else float("nan"),
        "hamming_loss": float(hamming_loss(true, predicted)),
        "f1_micro": float(f1_score(true, predicted, average="micro", zero_division=0)),
        "f1_macro": float(
            np.mean(f1_score(true, predicted, average=None, zero_division=0)[present])
        )
        if present.any()
        else 0.0,
        "average_precision_macro": float(np.mean(ap)) if ap else float("nan"),
        "subset_accuracy": float((true == predicted).all(axis=1).mean()),
        "top1_precision": float(true[np.arange(len(true)), top].mean()) if len(true) else 0.0,
        "cardinality_true": float(true.sum(axis=1).mean()),
        "cardinality_predicted": float(predicted.sum(axis=1).mean()),
    }


def per_genre_average_precision(
    true: np.ndarray, proba: np.ndarray, labels: Sequence[str]
) -> dict[str, float]:
    """Average precision of each genre present (how well its probability ranks its tracks first)."""
    from sklearn.metrics import average_precision_score

    true = np.asarray(true, dtype=bool)
    return {
        label: float(average_precision_score(true[:, j], proba[:, j]))
        for j, label in enumerate(labels)
        if true[:, j].any()
    }


def frequency_baseline(train_true: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """What knowing only the training split's label frequencies gives: every track gets each genre's
    frequency as its probability, and the tag set of the genres most tracks carry (at least the most
    frequent one). Returns (proba, predicted) for ``n_rows`` tracks."""
    train_true = np.asarray(train_true, dtype=bool)
    frequency = train_true.mean(axis=0) if len(train_true) else np.zeros(train_true.shape[1])
    tags = frequency >= 0.5
    if not tags.any() and len(frequency):
        tags[int(np.argmax(frequency))] = True
    return np.tile(frequency, (n_rows, 1)), np.tile(tags, (n_rows, 1))


def beats_baseline(model: dict, baseline: dict) -> bool:
    """Better on both headline numbers: a higher Jaccard and a lower Hamming loss."""
    return (
        model["jaccard"] > baseline["jaccard"] + 1e-9
        and model["hamming_loss"] < baseline["hamming_loss"] - 1e-9
    )


def best_threshold(
    true: Sequence[bool], proba: Sequence[float], grid: Sequence[float]
) -> tuple[float, float]:
    """The threshold of ``grid`` with the best F1 on these tracks (ties: the one nearest 0.5, so a flat
    stretch does not push it to an extreme), and that F1."""
    true = np.asarray(true, dtype=bool)
    proba = np.asarray(proba, dtype=np.float64)
    best = (-1.0, 0.5)
    for threshold in sorted(grid, key=lambda t: abs(t - 0.5)):
        predicted = proba >= threshold
        tp = float((predicted & true).sum())
        denominator = float(predicted.sum() + true.sum())
        f1 = 2 * tp / denominator if denominator else 0.0
        if f1 > best[0] + 1e-12:
            best = (f1, float(threshold))
    return best[1], best[0]
