"""Confidence and calibration: how good the model is when it is sure, and whether "80% sure" is right 80%
of the time (the reliability diagram and the expected calibration error).

Figures as :mod:`music_genre.evaluation.report` draws them (their own Agg canvas, never shown).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from music_genre.evaluation.report import _check_proba, _labels, _new_figure, _predicted

SLICE_COLUMNS = [
    "genre",
    "slice",
    "threshold",
    "count",
    "share_of_genre",
    "accuracy",
    "f1",
]
RELIABILITY_COLUMNS = [
    "bin",
    "lower",
    "upper",
    "count",
    "mean_confidence",
    "accuracy",
    "gap",
]
ALL_GENRES = "all"
CONFIDENT = "confident"  # max probability >= threshold
UNCERTAIN = "uncertain"  # max probability < threshold


def confidence_slices(
    y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str], threshold: float = 0.5
) -> pd.DataFrame:
    """How good the model is when it is sure versus unsure: a long table, two rows per group.

    Groups are ``all`` tracks, then each true genre; slices are ``confident`` (max probability >=
    ``threshold``) and ``uncertain`` (< ``threshold``). Columns: ``count``, ``share_of_genre`` (the
    slice's share of the group's tracks), ``accuracy`` (on genre rows: that genre's recall within the
    slice) and ``f1`` (macro F1 over the genres present on the ``all`` rows; the genre's own
    one-vs-rest F1 within the slice on genre rows). Empty slices have NaN scores. If the confident
    slice is much more accurate, a threshold can route uncertain tracks to a human or "unknown"."""
    from sklearn.metrics import f1_score

    classes = list(classes)
    y_true = _labels(y_true)
    proba = _check_proba(proba, len(y_true), classes)
    y_pred = _predicted(proba, classes)
    confident = proba.max(axis=1) >= threshold
    rows = []
    for slice_name, mask in ((CONFIDENT, confident), (UNCERTAIN, ~confident)):
        truth, guess = y_true[mask], y_pred[mask]
        present = [c for c in classes if c in set(truth)]
        rows.append(
            {
                "genre": ALL_GENRES,
                "slice": slice_name,
                "count": int(mask.sum()),
                "share_of_genre": float(mask.mean()) if len(mask) else math.nan,
                "accuracy": float(np.mean(truth == guess)) if len(truth) else math.nan,
                "f1": float(
                    f1_score(truth, guess, labels=present, average="macro", zero_division=0)
                )
                if present
                else math.nan,
            }
        )
        for genre in classes:
            of_genre = y_true == genre
            in_slice = truth == genre
            rows.append(
                {
                    "genre": genre,
                    "slice": slice_name,
                    "count": int(in_slice.sum()),
                    "share_of_genre": float((mask & of_genre).sum() / of_genre.sum())
                    if of_genre.any()
                    else math.nan,
                    "accuracy": float(np.mean(guess[in_slice] == genre))
                    if in_slice.any()
                    else math.nan,
                    "f1": float(
                        f1_score(truth, guess, labels=[genre], average="macro", zero_division=0)
                    )
                    if in_slice.any()
                    else math.nan,
                }
            )
    table = pd.DataFrame(rows)
    table["threshold"] = float(threshold)
    order = {name: i for i, name in enumerate([ALL_GENRES, *classes])}
    table = table.sort_values(
        ["genre", "slice"], key=lambda s: s.map(order) if s.name == "genre" else s, kind="stable"
    )
    return table[SLICE_COLUMNS].reset_index(drop=True)


def reliability(
    y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str], n_bins: int = 10
) -> tuple[pd.DataFrame, float]:
    """Accuracy per confidence bin and the expected calibration error (ECE).

    Confidence is the top class probability; the bins split [0, 1] into ``n_bins`` equal-width
    intervals (lower, upper]. ECE = sum over bins of (bin count / n) * |accuracy - mean confidence|:
    0 means "80% sure" really is right 80% of the time. Empty bins have count 0 and NaN scores."""
    classes = list(classes)
    y_true = _labels(y_true)
    proba = _check_proba(proba, len(y_true), classes)
    confidence = proba.max(axis=1)
    correct = (_predicted(proba, classes) == y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.digitize(confidence, edges[1:-1], right=True)  # (lower, upper], 0 -> first bin
    rows = []
    for b in range(n_bins):
        in_bin = which == b
        count = int(in_bin.sum())
        mean_confidence = float(confidence[in_bin].mean()) if count else math.nan
        accuracy = float(correct[in_bin].mean()) if count else math.nan
        rows.append(
            {
                "bin": b,
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "mean_confidence": mean_confidence,
                "accuracy": accuracy,
                "gap": accuracy - mean_confidence if count else math.nan,
            }
        )
    from music_genre.modeling.metrics import expected_calibration_error

    # one definition of ECE, shared with model selection's cross-validation (modeling.metrics)
    ece = expected_calibration_error(y_true, proba, classes, n_bins)
    return pd.DataFrame(rows, columns=RELIABILITY_COLUMNS), float(ece)


def reliability_figure(bins: pd.DataFrame, ece: float, title: str = "Reliability diagram"):
    """Accuracy per confidence bin against the diagonal (perfect calibration), counts underneath."""
    figure = _new_figure(6.0, 7.0)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    widths = (bins["upper"] - bins["lower"]).to_numpy(dtype=np.float64)
    centres = ((bins["upper"] + bins["lower"]) / 2).to_numpy(dtype=np.float64)
    filled = bins["count"].to_numpy() > 0
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    top.bar(
        centres[filled],
        bins["accuracy"].to_numpy(dtype=np.float64)[filled],
        width=widths[filled],
        edgecolor="black",
        color="tab:blue",
        alpha=0.8,
        label="accuracy",
    )
    top.plot(
        bins["mean_confidence"].to_numpy(dtype=np.float64)[filled],
        bins["accuracy"].to_numpy(dtype=np.float64)[filled],
        marker="o",
        color="tab:red",
        label="accuracy at mean confidence",
    )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.legend(loc="upper left", fontsize=8)
    top.set_title(f"{title} (ECE = {ece:.3f})")
    bottom.bar(
        centres,
        bins["count"].to_numpy(dtype=np.float64),
        width=widths,
        color="grey",
        edgecolor="black",
    )
    bottom.set_xlabel("confidence (top class probability)")
    bottom.set_ylabel("tracks")
    return figure
