"""The evaluation report's per-genre sections: where the model goes wrong and what it reads.

Plain functions on plain inputs (true genres, predicted genres or probabilities, the classes in the
model's order) so the ``evaluation`` pipeline, notebooks and tests share them. Figures are
:class:`matplotlib.figure.Figure` objects drawn on their own Agg canvas, never through pyplot's global
state and never shown: the pipeline saves them with kedro-datasets' ``matplotlib.MatplotlibDataset``
(which kedro-viz previews) and :func:`music_genre.evaluation.summary.summary_markdown` links the saved PNGs
by file name. The report's other sections: :mod:`music_genre.evaluation.label_quality` (suspect labels),
:mod:`music_genre.evaluation.calibration` (confidence and calibration),
:mod:`music_genre.evaluation.summary` (the Markdown page). scikit-learn and the figure code load inside
functions so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

REPORT_COLUMNS = ["genre", "precision", "recall", "f1", "support"]
PAIR_COLUMNS = ["true_genre", "predicted_genre", "count", "rate"]
IMPORTANCE_COLUMNS = ["feature", "gain", "share"]

# --------------------------------------------------------------------------------------------------
# helpers


def _new_figure(width: float, height: float):
    """A figure on its own Agg canvas: no pyplot registry, no GUI backend, nothing to close."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _labels(values: Sequence) -> np.ndarray:
    return np.asarray(list(values), dtype=object)


def _predicted(proba: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    return _labels(classes)[np.argmax(proba, axis=1)]


def _check_proba(proba: np.ndarray, n_rows: int, classes: Sequence[str]) -> np.ndarray:
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape != (n_rows, len(classes)):
        raise ValueError(
            f"probabilities must have shape (n_tracks, n_classes) = ({n_rows}, {len(classes)}), "
            f"got {proba.shape}: one row per track, columns in the classes' order"
        )
    return proba


# --------------------------------------------------------------------------------------------------
# per-class metrics and confusions


def per_class_report(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]
) -> pd.DataFrame:
    """Precision, recall, F1 and support per genre, then ``macro avg`` and ``weighted avg`` rows.

    The headline accuracy hides which genres fail; this is the table that shows it (the same numbers
    as scikit-learn's ``classification_report``; a genre never predicted gets precision 0)."""
    from sklearn.metrics import precision_recall_fscore_support

    classes = list(classes)
    y_true, y_pred = _labels(y_true), _labels(y_pred)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, average=None, zero_division=0
    )
    table = pd.DataFrame(
        {"genre": classes, "precision": precision, "recall": recall, "f1": f1, "support": support}
    )
    total = int(support.sum())
    averages = []
    # the averages run over the genres this split holds, as the headline macro F1 does (a genre with
    # no tracks here, e.g. held out as new releases, would add a 0)
    present = table[table["support"] > 0]
    for name, weights in (("macro avg", None), ("weighted avg", present["support"].to_numpy())):
        row = {"genre": name, "support": total}
        for column in ("precision", "recall", "f1"):
            values = present[column].to_numpy(dtype=np.float64)
            row[column] = (
                float(np.average(values, weights=weights))
                if weights is None or weights.sum() > 0
                else 0.0
            )
        averages.append(row)
    table = pd.concat([table, pd.DataFrame(averages)], ignore_index=True)
    table["support"] = table["support"].astype(np.int64)
    return table[REPORT_COLUMNS]


def confusion_tables(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The confusion matrix as counts and row-normalised (true genre rows, predicted genre columns).

    Row-normalised cells read as "share of this genre's tracks predicted as that genre", comparable
    across unbalanced genres; a genre absent from ``y_true`` gets a row of zeros."""
    from sklearn.metrics import confusion_matrix

    classes = list(classes)
    matrix = confusion_matrix(_labels(y_true), _labels(y_pred), labels=classes)
    counts = pd.DataFrame(
        matrix.astype(np.int64),
        index=pd.Index(classes, name="true"),
        columns=pd.Index(classes, name="predicted"),
    )
    totals = matrix.sum(axis=1, keepdims=True)
    rates = np.divide(
        matrix, totals, out=np.zeros(matrix.shape, dtype=np.float64), where=totals > 0
    )
    normalized = pd.DataFrame(rates, index=counts.index.copy(), columns=counts.columns.copy())
    return counts, normalized


def confusion_figure(
    counts: pd.DataFrame, normalized: pd.DataFrame, title: str = "Confusion matrix"
):
    """Counts (left) and row-normalised rates (right) side by side, with the numbers in the cells."""
    n = len(counts)
    cell = 0.45 if n > 12 else 0.6
    side = max(4.0, 1.6 + cell * n)
    figure = _new_figure(2 * side + 1.5, side + 1.0)
    axes = figure.subplots(1, 2)
    panels = (
        (axes[0], counts.to_numpy(dtype=np.float64), "counts", "{:.0f}", "Blues"),
        (
            axes[1],
            normalized.to_numpy(dtype=np.float64),
            "share of true genre",
            "{:.2f}",
            "Oranges",
        ),
    )
    font = 9 if n <= 10 else (7 if n <= 16 else 5)
    for axis, values, label, fmt, cmap in panels:
        top = values.max() if values.size and values.max() > 0 else 1.0
        image = axis.imshow(values, cmap=cmap, vmin=0, vmax=top, aspect="equal")
        figure.colorbar(image, ax=axis, shrink=0.8, label=label)
        axis.set_xticks(range(n), labels=[str(c) for c in counts.columns], rotation=45, ha="right")
        axis.set_yticks(range(n), labels=[str(c) for c in counts.index])
        axis.set_xlabel("predicted genre")
        axis.set_ylabel("true genre")
        axis.set_title(label)
        for i in range(n):
            for j in range(n):
                value = values[i, j]
                if value == 0:
                    continue
                colour = "white" if value > 0.6 * top else "black"
                axis.text(
                    j, i, fmt.format(value), ha="center", va="center", color=colour, fontsize=font
                )
    figure.suptitle(title)
    return figure


def top_confused_pairs(normalized: pd.DataFrame, counts: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` most frequent mistakes (off-diagonal cells with at least one track), by rate.

    ``rate`` is the share of the true genre's tracks that went to the predicted genre, so a small
    genre's systematic confusion ranks above a big genre's scattered noise; ties break by count."""
    rows = [
        {
            "true_genre": true,
            "predicted_genre": predicted,
            "count": int(counts.loc[true, predicted]),
            "rate": float(normalized.loc[true, predicted]),
        }
        for true in counts.index
        for predicted in counts.columns
        if true != predicted and counts.loc[true, predicted] > 0
    ]
    pairs = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    pairs = pairs.sort_values(["rate", "count"], ascending=[False, False], kind="stable")
    return pairs.head(n).reset_index(drop=True).astype({"count": np.int64, "rate": np.float64})


def largest_errors(
    predictions: pd.DataFrame, proba: np.ndarray, classes: Sequence[str], n: int = 20
) -> pd.DataFrame:
    """The ``n`` wrongly predicted tracks that gave their true genre the least probability: the
    surest mistakes, which are either the model's worst or a wrong label (listen to them first)."""
    classes = list(classes)
    proba = _check_proba(proba, len(predictions), classes)
    column = {genre: i for i, genre in enumerate(classes)}
    known = predictions["genre"].isin(classes).to_numpy()
    on_true = np.full(len(predictions), np.nan)
    on_true[known] = proba[
        np.flatnonzero(known), predictions.loc[known, "genre"].map(column).to_numpy(dtype=int)
    ]
    table = pd.DataFrame(
        {
            "track_id": predictions["track_id"].to_numpy(),
            "genre": predictions["genre"].to_numpy(),
            "predicted": _predicted(proba, classes),
            "confidence": proba.max(axis=1),
            "probability_of_genre": on_true,
        }
    )
    wrong = table[table["genre"] != table["predicted"]]
    wrong = wrong.sort_values(
        ["probability_of_genre", "track_id"], kind="stable", na_position="first"
    )
    return wrong.head(n).reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# feature importance


def feature_importance_table(classifier: Any, top: int = 20) -> pd.DataFrame:
    """The ``top`` features by importance, with their share of the total (over all features).

    LightGBM reports total split gain; scikit-learn models with ``feature_importances_`` (random
    forest) report mean impurity decrease in the same ``gain`` column. Models without importances
    (logistic regression, SVM, k-NN) give an empty table rather than an error, so the report still
    builds for every model type."""
    importance = classifier.feature_importance()
    if importance is None or len(importance) == 0:
        return pd.DataFrame(
            {
                "feature": pd.Series(dtype=object),
                "gain": pd.Series(dtype=np.float64),
                "share": pd.Series(dtype=np.float64),
            }
        )
    importance = importance.astype(np.float64).sort_values(ascending=False, kind="stable")
    total = float(importance.sum())
    table = pd.DataFrame(
        {
            "feature": [str(name) for name in importance.index],
            "gain": importance.to_numpy(),
            "share": importance.to_numpy() / total if total > 0 else 0.0,
        }
    )
    return table.head(top).reset_index(drop=True)


def feature_importance_figure(table: pd.DataFrame, title: str = "Feature importance (gain)"):
    """Horizontal bars of the table's features by gain, the largest on top, named as in the table."""
    top = table.head(20)
    figure = _new_figure(8.0, max(3.0, 0.9 + 0.32 * len(top)))
    axis = figure.subplots()
    if top.empty:
        axis.text(
            0.5,
            0.5,
            "this model type reports no feature importances",
            ha="center",
            va="center",
            transform=axis.transAxes,
            fontsize=12,
        )
        axis.set_axis_off()
    else:
        ordered = top.iloc[::-1]
        positions = np.arange(len(ordered))
        gains = ordered["gain"].to_numpy(dtype=np.float64)
        axis.barh(positions, gains, color="tab:blue")
        axis.set_yticks(positions, labels=ordered["feature"].astype(str).tolist(), fontsize=8)
        axis.set_xlabel("total gain (label: share of all features' gain)")
        axis.set_xlim(0, max(float(gains.max()), 1e-12) * 1.15)
        for position, gain, share in zip(positions, gains, ordered["share"], strict=True):
            axis.text(gain, position, f" {share:.1%}", va="center", ha="left", fontsize=7)
    axis.set_title(title)
    return figure
