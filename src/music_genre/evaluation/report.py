"""The evaluation report: where the model goes wrong, how much to trust it and which labels look suspect.

Plain functions on plain inputs (true genres, predicted genres or probabilities, the classes in the
model's order) so the ``evaluation`` pipeline, notebooks and tests share them. Figures are
:class:`matplotlib.figure.Figure` objects drawn on their own Agg canvas, never through pyplot's global
state and never shown: the pipeline saves them with kedro-datasets' ``matplotlib.MatplotlibDataset``
(which kedro-viz previews) and :func:`summary_markdown` links the saved PNGs by file name.

Label quality uses cleanlab's confident learning on *out-of-fold* probabilities of the training split:
a model scoring tracks it was trained on has memorised their labels, wrong ones included, so only
cross-validated probabilities can disagree with a mislabelled track. scikit-learn, cleanlab and the
figure code load inside functions so importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

REPORT_COLUMNS = ["genre", "precision", "recall", "f1", "support"]
PAIR_COLUMNS = ["true_genre", "predicted_genre", "count", "rate"]
IMPORTANCE_COLUMNS = ["feature", "gain", "share"]
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
# File names summary_markdown links by default; the catalog's MatplotlibDataset entries for the
# figures should save under these names in the same folder as the Markdown (or pass context["figures"]).
FIGURE_FILES = {
    "confusion_matrix": "confusion_matrix.png",
    "feature_importance": "feature_importance.png",
    "reliability": "reliability_diagram.png",
}


# --------------------------------------------------------------------------------------------------
# helpers


def _new_figure(width: float, height: float):
    """A figure on its own Agg canvas: no pyplot registry, no GUI backend, nothing to close."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

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
    from sklearn.metrics import precision_recall_fscore_support  # noqa: PLC0415

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
    from sklearn.metrics import confusion_matrix  # noqa: PLC0415

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


# --------------------------------------------------------------------------------------------------
# label quality (cleanlab)


def out_of_fold_probabilities(
    train_table: pd.DataFrame,
    model_type: str,
    hyperparameters: Mapping,
    k: int = 5,
    seed: int = 42,
    *,
    class_weight: str | None = None,
    early_stopping_fraction: float = 0.1,
    members: Sequence[str] = (),
) -> np.ndarray:
    """Cross-validated class probabilities for every training track, from a model that never saw it.

    ``train_table`` holds the training split's rows only (``model_input_table`` rows with
    ``split == "training"``; validation and test tracks must stay out of label cleaning). The rows
    are cut into ``k`` stratified folds; for each fold a model is trained with
    :func:`music_genre.modeling.training.train_classifier` on the other ``k - 1`` folds and predicts the fold.
    ``train_classifier`` needs a validation split (LightGBM stops early on it), so a stratified
    ``early_stopping_fraction`` (10%) of the other folds is set aside as that fold's validation
    part for every model type: the held-out fold itself never guides training, which would leak its
    labels into its own probabilities. Returns an array of shape ``(len(train_table), n_classes)``,
    rows in ``train_table``'s order, columns in sorted genre order (``train_classifier``'s
    ``classes``)."""
    from sklearn.model_selection import StratifiedKFold, train_test_split  # noqa: PLC0415

    from music_genre.modeling.training import train_classifier  # noqa: PLC0415

    if "split" in train_table.columns:
        other = sorted(set(train_table["split"].astype(str)) - {"training"})
        if other:
            raise ValueError(
                f"out_of_fold_probabilities takes the training split only, got rows of {other}"
            )
    table = train_table.reset_index(drop=True)
    genres = table["genre"].astype(str).to_numpy()
    classes = sorted(set(genres))
    smallest = table["genre"].value_counts().min()
    if k < 2 or smallest < k:
        raise ValueError(
            f"k={k} folds need k >= 2 and at least k training tracks per genre (smallest genre has "
            f"{smallest}); lower evaluation k"
        )
    column_of = {genre: i for i, genre in enumerate(classes)}
    oof = np.full((len(table), len(classes)), np.nan)
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (fit_rows, held_rows) in enumerate(folds.split(np.zeros(len(table)), genres)):
        n_valid = max(len(classes), int(round(early_stopping_fraction * len(fit_rows))))
        fit_genres = pd.Series(genres[fit_rows]).value_counts()
        # stratified where every genre can give one track (a tiny library's genre may have one left)
        stratify = (
            genres[fit_rows] if fit_genres.min() >= 2 and n_valid >= len(fit_genres) else None
        )
        fit_rows, valid_rows = train_test_split(
            fit_rows, test_size=n_valid, stratify=stratify, random_state=seed + fold
        )
        fold_table = pd.concat(
            [
                table.iloc[fit_rows].assign(split="training"),
                table.iloc[valid_rows].assign(split="validation"),
            ],
            ignore_index=True,
        )
        classifier = train_classifier(
            fold_table,
            model_type,
            hyperparameters,
            seed=seed,
            class_weight=class_weight,
            members=members,  # an ensemble's model types
        )
        proba = np.zeros((len(held_rows), len(classes)))
        proba[:, [column_of[c] for c in classifier.classes]] = classifier.predict_proba(
            table.iloc[held_rows]
        )
        oof[held_rows] = proba
    if np.isnan(oof).any():  # every row sits in exactly one held-out fold
        raise RuntimeError("some training tracks got no out-of-fold probabilities")
    return oof


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
    from cleanlab.filter import find_label_issues  # noqa: PLC0415

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


# --------------------------------------------------------------------------------------------------
# confidence and calibration


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
    from sklearn.metrics import f1_score  # noqa: PLC0415

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
    from music_genre.modeling.metrics import expected_calibration_error  # noqa: PLC0415

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


# --------------------------------------------------------------------------------------------------
# Markdown summary


def _format_cell(value: Any, float_format: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return float_format.format(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    frame: pd.DataFrame, float_format: str = "{:.3f}", max_rows: int | None = None
) -> str:
    """A GitHub-flavoured Markdown table (no ``tabulate`` needed); the index is left out."""
    if frame is None or frame.empty:
        return "_(none)_"
    shown = frame if max_rows is None else frame.head(max_rows)
    header = "| " + " | ".join(str(c) for c in shown.columns) + " |"
    rule = (
        "| "
        + " | ".join(
            "---:" if pd.api.types.is_numeric_dtype(shown[c]) else "---" for c in shown.columns
        )
        + " |"
    )
    body = [
        "| " + " | ".join(_format_cell(v, float_format) for v in row) + " |"
        for row in shown.itertuples(index=False, name=None)
    ]
    lines = [header, rule, *body]
    if max_rows is not None and len(frame) > max_rows:
        lines.append(f"\n_{len(frame) - max_rows} more rows not shown_")
    return "\n".join(lines)


def _metrics_frame(metrics: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    rows = [{"split": split, **dict(values)} for split, values in metrics.items()]
    frame = pd.DataFrame(rows)
    if "n_tracks" in frame.columns:
        frame["n_tracks"] = frame["n_tracks"].astype("Int64")
    return frame


# The summary's task-specific wording (one genre per track's here): a task's ``report_texts`` replace
# any of them (music_genre.modeling.tasks).
REPORT_TEXTS = {
    "warning": "**Warning: this model is no better than always answering the most frequent genre. It "
    "was not registered. Add tracks (see docs/configuration.md for the smallest useful collection).**",
    "confusions": "Confusions",
    "figure": "confusion matrix",
    "pairs": "Most frequent confusions (rate = share of the true genre's tracks):",
    "largest": "Surest mistakes (least probability on the true genre):",
}


def summary_markdown(context: Mapping[str, Any]) -> str:
    """A one-page Markdown report of the evaluation, linking the saved PNG figures by file name.

    Context keys (all optional; a missing section says it was not computed):

    - ``title``: heading (default "Evaluation report"); ``model_type``: e.g. "lightgbm";
      ``split``: the split the per-class tables describe (default "test").
    - ``intro``: lines after the model line (the task's, e.g. what a multi-label report shows);
      ``texts``: the task's wording, replacing any of :data:`REPORT_TEXTS` (the warning shown when
      ``better_than_chance`` is False, the confusion section's heading, figure and captions).
    - ``metrics``: ``{split: {metric: value}}`` as :func:`music_genre.modeling.training.evaluate_classifier`
      returns (headline metrics per split).
    - ``per_class``: :func:`per_class_report`; ``top_confused``: :func:`top_confused_pairs`.
    - ``feature_importance``: :func:`feature_importance_table`.
    - ``label_issues`` and ``label_issue_summary``: the two results of :func:`label_issues`;
      ``top_issues``: how many suspects to list (default 10).
    - ``confidence_slices``: :func:`confidence_slices` (its ``all`` rows are shown);
      ``ece``: the expected calibration error from :func:`reliability`.
    - ``figures``: ``{"confusion_matrix" | "feature_importance" | "reliability": file name}`` relative
      to the Markdown file; defaults to :data:`FIGURE_FILES`.
    """
    figures = {**FIGURE_FILES, **dict(context.get("figures") or {})}
    split = context.get("split", "test")
    lines = [f"# {context.get('title', 'Evaluation report')}", ""]
    if context.get("model_type"):
        feature_set = f", features `{context['feature_set']}`" if context.get("feature_set") else ""
        lines += [f"Model: `{context['model_type']}`{feature_set}", ""]
    texts = {**REPORT_TEXTS, **dict(context.get("texts") or {})}
    lines += list(context.get("intro") or [])
    if context.get("better_than_chance") is False:
        lines += [texts["warning"], ""]
    if context.get("suspect_tags") is not None:  # a library's own tags: what its owner reads first
        from music_genre.evaluation.suspects import suspect_markdown  # noqa: PLC0415

        top = int(context.get("top_issues", 10))
        lines += suspect_markdown(context["suspect_tags"], top, markdown_table)

    lines += ["## Headline metrics", ""]
    metrics = context.get("metrics")
    lines += [markdown_table(_metrics_frame(metrics)) if metrics else "_not computed_", ""]

    lines += [f"## Per-genre results ({split})", ""]
    per_class = context.get("per_class")
    lines += [markdown_table(per_class) if per_class is not None else "_not computed_", ""]
    if per_class is not None:
        genres = per_class[
            ~per_class["genre"].isin(["macro avg", "weighted avg", "micro avg", "samples avg"])
        ]
        unmeasured = genres.loc[genres["support"] == 0, "genre"].tolist()
        if unmeasured:
            lines += [
                f"No {split} tracks for {', '.join(map(str, unmeasured))}: their rows are 0 by "
                "convention, not measured.",
                "",
            ]

    lines += [
        f"## {texts['confusions']} ({split})",
        "",
        f"![{texts['figure']}]({figures['confusion_matrix']})",
        "",
    ]
    top_confused = context.get("top_confused")
    lines += [texts["pairs"], ""]
    lines += [markdown_table(top_confused) if top_confused is not None else "_not computed_", ""]
    largest = context.get("largest_errors")
    if largest is not None:
        lines += [
            texts["largest"],
            "",
            markdown_table(largest, max_rows=10) if not largest.empty else "_none_",
            "",
        ]

    lines += ["## Feature importance", ""]
    importance = context.get("feature_importance")
    if importance is not None and not importance.empty:
        lines += [f"![feature importance]({figures['feature_importance']})", ""]
        lines += [markdown_table(importance, max_rows=10), ""]
    else:
        lines += ["_this model type reports no feature importances_", ""]

    lines += ["## Label quality (cleanlab, out-of-fold on the training split)", ""]
    summary = context.get("label_issue_summary")
    if summary and summary.get("skipped"):
        lines += [f"_skipped: {summary['skipped']}_", ""]
    elif summary:
        folds = f", {summary['k']}-fold" if summary.get("k") else ""
        lines += [
            f"Suspect labels: **{summary['count']}** of {summary.get('n_training', '?')} training "
            f"tracks ({summary['fraction_of_training']:.1%}{folds}).",
            "",
        ]
        issues = context.get("label_issues")
        if issues is not None:
            top_issues = int(context.get("top_issues", 10))
            lines += [f"Top {top_issues} suspects (lowest self-confidence first):", ""]
            lines += [markdown_table(issues, max_rows=top_issues), ""]
    else:
        lines += ["_not computed_", ""]

    lines += ["## Confidence and calibration", ""]
    ece = context.get("ece")
    slices = context.get("confidence_slices")
    if ece is None and slices is None:
        lines += ["_not computed_", ""]
    else:
        lines += [f"![reliability diagram]({figures['reliability']})", ""]
    if ece is not None:
        lines += [f"Expected calibration error (ECE): **{ece:.3f}**", ""]
    if slices is not None and not slices.empty:
        lines += [markdown_table(slices[slices["genre"] == ALL_GENRES]), ""]
    return "\n".join(lines).rstrip() + "\n"
