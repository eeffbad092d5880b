"""The multi-label evaluation report: which tags the model gets right, which it mixes up, which tracks
it gets most wrong and which training tags look suspect.

The multi-label counterpart of :mod:`music_genre.evaluation.report`, on plain inputs: for ``n`` tracks and
``L`` labels (genre names, in the label set's sorted order) a boolean ``true`` matrix ``(n, L)``, a
boolean ``predicted`` matrix ``(n, L)`` (the probabilities cut at per-label thresholds) and a
probability matrix ``proba`` ``(n, L)`` of independent per-label probabilities (rows need not sum
to 1). Figures are :class:`matplotlib.figure.Figure` objects on their own Agg canvas, as in
:mod:`music_genre.evaluation.report`. scikit-learn, cleanlab and the figure code load inside functions so
importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from music_genre.data.labels import SEPARATOR
from music_genre.evaluation.label_quality import _path_lookup, check_issue_indices
from music_genre.evaluation.report import _new_figure

TAG_REPORT_COLUMNS = [
    "genre",
    "precision",
    "recall",
    "f1",
    "average_precision",
    "support",
    "predicted",
    "threshold",
]
TAG_ERROR_COLUMNS = [
    "track_id",
    "true_tags",
    "predicted_tags",
    "missed",
    "extra",
    "errors",
    "jaccard",
    "tag_probabilities",
]
TAG_ISSUE_COLUMNS = [
    "rank",
    "track_id",
    "given_tags",
    "suggested_tags",
    "missing_tags",
    "doubtful_tags",
    "label_quality",
]
MICRO, MACRO, SAMPLES = "micro avg", "macro avg", "samples avg"
SUGGEST_AT = 0.5  # an out-of-fold probability at or above this suggests the tag


# --------------------------------------------------------------------------------------------------
# helpers


def _check_tags(name: str, values: Any, n_rows: int | None, labels: Sequence[str]) -> np.ndarray:
    """A boolean (n_tracks, n_labels) matrix; 0/1 numbers are accepted, anything else refused."""
    matrix = np.asarray(values)
    expected = (matrix.shape[0] if n_rows is None and matrix.ndim else n_rows, len(labels))
    if matrix.ndim != 2 or matrix.shape != expected:
        raise ValueError(
            f"{name} must have shape (n_tracks, n_labels) = {expected}, got {matrix.shape}: one row "
            "per track, columns in the labels' order"
        )
    if matrix.dtype != bool and not np.isin(matrix, (0, 1)).all():
        raise ValueError(
            f"{name} must hold booleans (or 0/1): whether each track carries each label"
        )
    return matrix.astype(bool)


def _check_scores(name: str, values: Any, n_rows: int, labels: Sequence[str]) -> np.ndarray:
    """A finite (n_tracks, n_labels) probability matrix with values in [0, 1]."""
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape != (n_rows, len(labels)):
        raise ValueError(
            f"{name} must have shape (n_tracks, n_labels) = ({n_rows}, {len(labels)}), got "
            f"{matrix.shape}: one row per track, columns in the labels' order"
        )
    if matrix.size and (not np.isfinite(matrix).all() or matrix.min() < 0 or matrix.max() > 1):
        raise ValueError(
            f"{name} must hold probabilities in [0, 1] (no NaN): one per track and label"
        )
    return matrix


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros(numerator.shape), where=denominator > 0)


def _join(labels: Sequence[str], columns: np.ndarray) -> str:
    return SEPARATOR.join(sorted(labels[j] for j in columns))


# --------------------------------------------------------------------------------------------------
# per-tag metrics


def per_tag_report(
    true: np.ndarray,
    predicted: np.ndarray,
    proba: np.ndarray,
    labels: Sequence[str],
    thresholds: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Precision, recall, F1 and average precision per tag, then ``micro avg``, ``macro avg`` and
    ``samples avg`` rows.

    Headline multi-label scores hide which tags fail; this table shows it, with ``support`` (tracks
    carrying the tag), ``predicted`` (tracks given it) and the tag's decision ``threshold`` (NaN when
    ``thresholds`` is None or lacks the tag), so a tag predicted far more or less often than it occurs
    points at its threshold. Precision, recall and F1 are scikit-learn's with ``zero_division=0``
    (computed directly, so a single label works too); ``average_precision`` is threshold-free
    (scikit-learn's ``average_precision_score`` on ``proba``), NaN for a tag no track carries.
    ``macro avg`` averages the tags present (support > 0), as :func:`music_genre.evaluation.report.
    per_class_report` does, so a tag absent from the split does not add a 0; ``micro avg`` pools
    every track-tag cell; ``samples avg`` averages per track (its average precision is NaN). The
    average rows' ``support`` and ``predicted`` are totals."""
    from sklearn.metrics import average_precision_score

    labels = [str(label) for label in labels]
    true = _check_tags("true", true, None, labels)
    n = len(true)
    predicted = _check_tags("predicted", predicted, n, labels)
    proba = _check_scores("proba", proba, n, labels)
    thresholds = dict(thresholds or {})

    hits, support, given = (true & predicted), true.sum(axis=0), predicted.sum(axis=0)
    tp = hits.sum(axis=0)
    average_precision = np.array(
        [
            float(average_precision_score(true[:, j], proba[:, j])) if support[j] else math.nan
            for j in range(len(labels))
        ]
    )
    table = pd.DataFrame(
        {
            "genre": labels,
            "precision": _ratio(tp, given),
            "recall": _ratio(tp, support),
            "f1": _ratio(2 * tp, support + given),
            "average_precision": average_precision,
            "support": support,
            "predicted": given,
            "threshold": [float(thresholds.get(label, math.nan)) for label in labels],
        }
    )

    totals = {"support": int(support.sum()), "predicted": int(given.sum()), "threshold": math.nan}
    present = table[table["support"] > 0]
    row_tp, row_true, row_given = hits.sum(axis=1), true.sum(axis=1), predicted.sum(axis=1)
    averages = [
        {
            "genre": MICRO,
            "precision": float(_ratio(tp.sum(), given.sum())),
            "recall": float(_ratio(tp.sum(), support.sum())),
            "f1": float(_ratio(2 * tp.sum(), support.sum() + given.sum())),
            "average_precision": float(average_precision_score(true.ravel(), proba.ravel()))
            if support.sum()
            else math.nan,
            **totals,
        },
        {
            "genre": MACRO,
            **{
                column: float(present[column].mean()) if len(present) else math.nan
                for column in ("precision", "recall", "f1", "average_precision")
            },
            **totals,
        },
        {
            "genre": SAMPLES,
            "precision": float(_ratio(row_tp, row_given).mean()) if n else math.nan,
            "recall": float(_ratio(row_tp, row_true).mean()) if n else math.nan,
            "f1": float(_ratio(2 * row_tp, row_true + row_given).mean()) if n else math.nan,
            "average_precision": math.nan,
            **totals,
        },
    ]
    table = pd.concat([table, pd.DataFrame(averages)], ignore_index=True)
    table = table.astype({"support": np.int64, "predicted": np.int64, "threshold": np.float64})
    return table[TAG_REPORT_COLUMNS]


# --------------------------------------------------------------------------------------------------
# co-occurrence of true and predicted tags


def cooccurrence_table(
    true: np.ndarray, predicted: np.ndarray, labels: Sequence[str]
) -> pd.DataFrame:
    """Counts of tracks carrying tag i (rows, ``true``) that were predicted tag j (columns,
    ``predicted``): the multi-label confusion matrix.

    The diagonal holds each tag's true positives; an off-diagonal cell counts tracks of tag i that
    (also) got tag j, the confusions between related genres. A track adds to a cell for every pair of
    its true and predicted tags, so rows do not sum to the tag's support: that is kept in
    ``attrs["support"]`` (tag -> tracks carrying it) for :func:`cooccurrence_figure`."""
    labels = [str(label) for label in labels]
    true = _check_tags("true", true, None, labels)
    predicted = _check_tags("predicted", predicted, len(true), labels)
    counts = pd.DataFrame(
        true.T.astype(np.int64) @ predicted.astype(np.int64),
        index=pd.Index(labels, name="true"),
        columns=pd.Index(labels, name="predicted"),
    )
    counts.attrs["support"] = dict(zip(labels, true.sum(axis=0).tolist(), strict=True))
    return counts


def cooccurrence_figure(
    counts: pd.DataFrame,
    title: str = "True vs predicted tags",
    *,
    support: Mapping[str, int] | Sequence[int] | None = None,
):
    """A heatmap of the co-occurrence table: colour is the share of the tracks tagged i (row) that
    were predicted j (column), comparable across tags of very different sizes; cells show the count.

    The share needs each tag's support, which the counts alone do not give: it comes from ``support``
    (tag -> tracks, or a sequence in the rows' order), else from ``counts.attrs["support"]`` as
    :func:`cooccurrence_table` sets it; a table without it (e.g. read back from CSV) is shaded by
    the share of its row's total instead, and the colour bar says so."""
    n = len(counts)
    values = counts.to_numpy(dtype=np.float64)
    if support is None:
        support = counts.attrs.get("support")
    if support is None:
        totals, label = values.sum(axis=1), "share of the row's total"
    else:
        if isinstance(support, Mapping):
            support = [support.get(tag, 0) for tag in counts.index]
        totals, label = np.asarray(support, dtype=np.float64), "share of tracks with the true tag"
        if totals.shape != (n,):
            raise ValueError(f"support must give one count per row ({n}), got {totals.shape}")
    shares = _ratio(values, totals[:, None])

    cell = 0.45 if n > 12 else 0.6
    side = max(4.0, 1.6 + cell * n)
    figure = _new_figure(side + 1.5, side + 1.0)
    axis = figure.subplots()
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="equal")
    figure.colorbar(image, ax=axis, shrink=0.8, label=label)
    axis.set_xticks(range(n), labels=[str(c) for c in counts.columns], rotation=45, ha="right")
    axis.set_yticks(range(n), labels=[str(c) for c in counts.index])
    axis.set_xlabel("predicted tag")
    axis.set_ylabel("true tag")
    axis.set_title(title)
    if n <= 40:  # beyond that the numbers no longer fit in the cells
        font = 9 if n <= 10 else (7 if n <= 16 else 5)
        for i in range(n):
            for j in range(n):
                if values[i, j] == 0:
                    continue
                colour = "white" if shares[i, j] > 0.6 else "black"
                axis.text(
                    j,
                    i,
                    f"{values[i, j]:.0f}",
                    ha="center",
                    va="center",
                    color=colour,
                    fontsize=font,
                )
    return figure


# --------------------------------------------------------------------------------------------------
# the tracks the model gets most wrong


def largest_tag_errors(
    track_ids: Sequence,
    true: np.ndarray,
    predicted: np.ndarray,
    proba: np.ndarray,
    labels: Sequence[str],
    n: int = 20,
) -> pd.DataFrame:
    """The ``n`` tracks with the most wrong tags, to listen to: most errors first, then the lowest
    Jaccard (a track with 2 errors out of 2 tags before one with 2 errors out of 6), then track_id.

    Tag columns are ``|``-joined sorted genre names ("" for none): ``missed`` (true, not predicted),
    ``extra`` (predicted, not true); ``errors`` = missed + extra; ``jaccard`` = |true ∩ predicted| /
    |true ∪ predicted|; ``tag_probabilities`` lists the tags of true ∪ predicted with the model's
    probability, most likely first ("Rock:0.83|Punk:0.41"), which shows whether a miss was close to its
    threshold. Only tracks with at least one error are listed."""
    labels = [str(label) for label in labels]
    track_ids = list(track_ids)
    true = _check_tags("true", true, len(track_ids), labels)
    predicted = _check_tags("predicted", predicted, len(track_ids), labels)
    proba = _check_scores("proba", proba, len(track_ids), labels)

    missed_cells, extra_cells = true & ~predicted, predicted & ~true
    errors = missed_cells.sum(axis=1) + extra_cells.sum(axis=1)
    union = (true | predicted).sum(axis=1)
    jaccard = np.divide(
        (true & predicted).sum(axis=1).astype(np.float64),
        union,
        out=np.ones(len(true)),
        where=union > 0,
    )
    wrong = np.flatnonzero(errors > 0)
    rows = []
    for i in wrong:
        shown = sorted(
            np.flatnonzero(true[i] | predicted[i]), key=lambda j: (-proba[i, j], labels[j])
        )
        rows.append(
            {
                "track_id": track_ids[i],
                "true_tags": _join(labels, np.flatnonzero(true[i])),
                "predicted_tags": _join(labels, np.flatnonzero(predicted[i])),
                "missed": _join(labels, np.flatnonzero(missed_cells[i])),
                "extra": _join(labels, np.flatnonzero(extra_cells[i])),
                "errors": int(errors[i]),
                "jaccard": float(jaccard[i]),
                "tag_probabilities": SEPARATOR.join(
                    f"{labels[j]}:{proba[i, j]:.2f}" for j in shown
                ),
            }
        )
    table = pd.DataFrame(rows, columns=TAG_ERROR_COLUMNS)
    table = table.sort_values(
        ["errors", "jaccard", "track_id"], ascending=[False, True, True], kind="stable"
    )
    return (
        table.head(max(int(n), 0))
        .reset_index(drop=True)
        .astype({"errors": np.int64, "jaccard": np.float64})
    )


# --------------------------------------------------------------------------------------------------
# label quality (cleanlab)


def _find_tag_issues(given: np.ndarray, oof_proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab's ranked issue indices and per-track label quality scores (self-confidence).

    ``given`` holds only labels with both tagged and untagged tracks. Two or more: the multi-label
    finder and scorer (a one-vs-rest confident-learning pass per label, a track flagged when any
    label looks wrong, ranked by the exponential moving average of its per-label self-confidences,
    the same score ``get_label_quality_scores`` gives). One: cleanlab's multi-label scorer refuses a
    single column ("Labels must be in multi-label format"), so its binary finder and scorer run the
    same one-vs-rest pass on that label (the average of one score is that score)."""
    if given.shape[1] == 1:
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores

        binary = given[:, 0].astype(np.int64)
        two_columns = np.column_stack([1.0 - oof_proba[:, 0], oof_proba[:, 0]])
        ranked = find_label_issues(
            labels=binary,
            pred_probs=two_columns,
            return_indices_ranked_by="self_confidence",
            n_jobs=1,
        )
        scores = get_label_quality_scores(binary, two_columns, method="self_confidence")
        return np.asarray(ranked, dtype=np.int64).ravel(), np.asarray(scores, dtype=np.float64)

    from cleanlab.multilabel_classification.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    # cleanlab asserts a list of Python lists (tuples or arrays fail with a bare AssertionError)
    tag_lists = [np.flatnonzero(row).tolist() for row in given]
    ranked = find_label_issues(
        labels=tag_lists,
        pred_probs=oof_proba,
        return_indices_ranked_by="self_confidence",
        n_jobs=1,
    )
    scores = get_label_quality_scores(tag_lists, oof_proba, method="self_confidence")
    return np.asarray(ranked, dtype=np.int64).ravel(), np.asarray(scores, dtype=np.float64)


def tag_label_issues(
    track_ids: Sequence,
    true: np.ndarray,
    oof_proba: np.ndarray,
    labels: Sequence[str],
    paths: Any = None,
    *,
    k: int | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Training tracks whose given tags the cross-validated model finds implausible (cleanlab).

    A track is suspect when any of its tags looks wrong: a tag it carries that the model doubts, or
    one it lacks that the model is confident about (FMA's genre lists come from uploaders and miss
    genres more often than they add wrong ones). Returns the suspects ranked most suspicious first:
    rank, track_id, path (when ``paths`` is given: the manifest or a track_id -> path mapping),
    ``given_tags``, ``suggested_tags`` (tags with out-of-fold probability >= 0.5, or the most likely
    one if none reaches it), ``missing_tags`` (suggested but not given), ``doubtful_tags`` (given
    but under 0.5) and ``label_quality`` (cleanlab's per-track score in [0, 1], low = suspect; the
    ranking's order); and a summary ``{count, fraction_of_training, n_training, k}``.

    ``oof_proba`` must be out-of-fold probabilities for exactly these tracks (a model scoring tracks
    it was trained on has memorised their tags, wrong ones included), columns in ``labels`` order.

    Labels that no track carries, or that every track carries, are left out of cleanlab's check: with
    only one given value cleanlab cannot estimate the label's confident threshold (it warns and
    flags nothing for a label without positives, yet would still count it in the score) and raises
    for a label every track carries. Their columns still count in the suggested, missing and
    doubtful tags. Tracks without any tag are checked like the others (as long as some label is
    usable); with no usable label nothing is checked and the summary says ``skipped``."""
    labels = [str(label) for label in labels]
    track_ids = np.asarray(list(track_ids))
    n_training = len(track_ids)
    true = _check_tags("true", true, n_training, labels)
    proba = _check_scores("oof_proba", oof_proba, n_training, labels)

    positives = true.sum(axis=0)
    usable = np.flatnonzero((positives > 0) & (positives < n_training))
    skipped = None
    if len(usable):
        ranked, scores = _find_tag_issues(true[:, usable], proba[:, usable])
    else:
        ranked, scores = np.zeros(0, dtype=np.int64), np.ones(n_training)
        skipped = "no label has both tagged and untagged training tracks"
    check_issue_indices(ranked, n_training)

    confident = proba >= SUGGEST_AT
    suggested = confident.copy()
    unsure = ~confident.any(axis=1)
    if len(labels):
        suggested[np.flatnonzero(unsure), np.argmax(proba[unsure], axis=1)] = True
    issues = pd.DataFrame(
        {
            "rank": np.arange(1, len(ranked) + 1, dtype=np.int64),
            "track_id": track_ids[ranked],
            "given_tags": [_join(labels, np.flatnonzero(true[i])) for i in ranked],
            "suggested_tags": [_join(labels, np.flatnonzero(suggested[i])) for i in ranked],
            "missing_tags": [
                _join(labels, np.flatnonzero(confident[i] & ~true[i])) for i in ranked
            ],
            "doubtful_tags": [
                _join(labels, np.flatnonzero(true[i] & ~confident[i])) for i in ranked
            ],
            "label_quality": scores[ranked].astype(np.float64),
        },
        columns=TAG_ISSUE_COLUMNS,
    )
    if paths is not None:
        issues.insert(2, "path", _path_lookup(paths, issues["track_id"]))
    summary = {
        "count": int(len(ranked)),
        "fraction_of_training": float(len(ranked) / n_training) if n_training else 0.0,
        "n_training": int(n_training),
        "k": None if k is None else int(k),
    }
    if skipped:
        summary["skipped"] = skipped
    return issues, summary
