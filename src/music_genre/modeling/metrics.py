"""Classification metrics for genre models, the same for every split and every model type."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METRIC_NAMES = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "f1_weighted",
    "log_loss",
    "top3_accuracy",
    "gmean_recall",
)


def classification_metrics(
    y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str]
) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro/weighted F1, log loss, top-3 accuracy and the geometric mean of
    per-class recall (which drops to 0 when any genre is never recognised: the number to watch on the
    unbalanced fma_medium)."""
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        f1_score,
        log_loss,
        recall_score,
        top_k_accuracy_score,
    )

    classes = list(classes)
    y_true = np.asarray(y_true, dtype=object)
    proba = np.asarray(proba, dtype=np.float64)
    y_pred = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
    present = [c for c in classes if c in set(y_true)]
    recalls = recall_score(y_true, y_pred, labels=present, average=None, zero_division=0)
    k = min(3, len(classes) - 1) if len(classes) > 2 else 1
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "f1_macro": float(
            f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
        ),
        "f1_weighted": float(
            f1_score(y_true, y_pred, labels=present, average="weighted", zero_division=0)
        ),
        "log_loss": float(log_loss(y_true, np.clip(proba, 1e-15, 1.0), labels=classes)),
        "top3_accuracy": float(
            top_k_accuracy_score(y_true, proba, k=k, labels=classes)
            if len(classes) > 2
            else accuracy_score(y_true, y_pred)
        ),
        "gmean_recall": float(np.exp(np.mean(np.log(np.maximum(recalls, 1e-12)))))
        if np.all(recalls > 0)
        else 0.0,
    }


def expected_calibration_error(
    y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str], n_bins: int = 10
) -> float:
    """ECE of the top-class confidence over ``n_bins`` equal-width bins: 0 means "80% sure" is right 80%
    of the time (the evaluation report's reliability diagram bins the same way)."""
    proba = np.asarray(proba, dtype=np.float64)
    truth = np.asarray(y_true, dtype=object)
    confidence = proba.max(axis=1)
    correct = np.asarray(classes, dtype=object)[proba.argmax(axis=1)] == truth
    which = np.digitize(confidence, np.linspace(0.0, 1.0, n_bins + 1)[1:-1], right=True)
    return float(
        sum(
            (which == b).sum()
            / len(truth)
            * abs(correct[which == b].mean() - confidence[which == b].mean())
            for b in range(n_bins)
            if (which == b).any()
        )
    )
