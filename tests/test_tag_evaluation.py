"""The multi-label evaluation report on hand-checked matrices, and cleanlab's tag issues on a synthetic
dataset with planted tag removals.

The hand example (4 tracks, labels Folk/Jazz/Rock; Jazz is predicted once but no track carries it):

    track  true        predicted    proba (Folk, Jazz, Rock)
    t0     Folk, Rock  Folk         0.90, 0.20, 0.40
    t1     Rock        Jazz, Rock   0.30, 0.60, 0.80
    t2     Folk        Folk, Rock   0.70, 0.10, 0.55
    t3     Rock        Rock         0.20, 0.30, 0.70
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from music_genre.evaluation import tags as tev

from .stats import ALPHA, assert_beats_random_pick, beats_random_pick_p

pytestmark = pytest.mark.timeout(60)

LABELS = ["Folk", "Jazz", "Rock"]
TRUE = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 0], [0, 0, 1]], dtype=bool)
PREDICTED = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 1], [0, 0, 1]], dtype=bool)
PROBA = np.array([[0.9, 0.2, 0.4], [0.3, 0.6, 0.8], [0.7, 0.1, 0.55], [0.2, 0.3, 0.7]])
THRESHOLDS = {"Folk": 0.5, "Jazz": 0.45, "Rock": 0.5}


# --------------------------------------------------------------------------------------------------
# per_tag_report


def test_per_tag_report_hand_values():
    report = tev.per_tag_report(TRUE, PREDICTED, PROBA, LABELS, THRESHOLDS).set_index("genre")
    assert list(report.reset_index().columns) == tev.TAG_REPORT_COLUMNS
    assert list(report.index) == [*LABELS, "micro avg", "macro avg", "samples avg"]

    # Folk: both carriers predicted, nothing else; their probabilities rank above the rest
    assert (
        report.loc["Folk", ["precision", "recall", "f1", "average_precision"]].tolist() == [1.0] * 4
    )
    # Jazz: predicted once, carried by no track -> zeros, AP undefined
    assert report.loc["Jazz", ["precision", "recall", "f1"]].tolist() == [0.0] * 3
    assert math.isnan(report.loc["Jazz", "average_precision"])
    # Rock: carried by t0 t1 t3, predicted for t1 t2 t3; ranking t1(+) t3(+) t2(-) t0(+)
    rock = report.loc["Rock"]
    assert rock[["precision", "recall", "f1"]].tolist() == pytest.approx([2 / 3] * 3)
    assert rock["average_precision"] == pytest.approx(1 / 3 + 1 / 3 + (1 / 3) * (3 / 4))
    assert report.loc[LABELS, "support"].tolist() == [2, 0, 3]
    assert report.loc[LABELS, "predicted"].tolist() == [2, 1, 3]
    assert report.loc[LABELS, "threshold"].tolist() == [0.5, 0.45, 0.5]

    # micro: 4 true positives of 6 predicted cells and 5 true cells
    micro = report.loc["micro avg"]
    assert micro[["precision", "recall", "f1"]].tolist() == pytest.approx([4 / 6, 4 / 5, 8 / 11])
    # all 12 cells ranked: .9+ .8+ .7+ .7+ .6- .55- .4+ ... -> 1/5 + 1/5 + 2/5 + 1/5 * 5/7
    assert micro["average_precision"] == pytest.approx(4 / 5 + 1 / 7)
    # macro skips Jazz (no support): the mean of Folk and Rock
    macro = report.loc["macro avg"]
    assert macro[["precision", "recall", "f1"]].tolist() == pytest.approx([5 / 6] * 3)
    assert macro["average_precision"] == pytest.approx((1 + 11 / 12) / 2)
    # samples: per track (p, r, f1) = (1, 1/2, 2/3), (1/2, 1, 2/3), (1/2, 1, 2/3), (1, 1, 1)
    samples = report.loc["samples avg"]
    assert samples[["precision", "recall", "f1"]].tolist() == pytest.approx([3 / 4, 7 / 8, 3 / 4])
    assert math.isnan(samples["average_precision"])
    for row in ("micro avg", "macro avg", "samples avg"):
        assert report.loc[row, "support"] == 5 and report.loc[row, "predicted"] == 6
        assert math.isnan(report.loc[row, "threshold"])
    assert report["support"].dtype == np.int64 and report["predicted"].dtype == np.int64


def test_per_tag_report_matches_sklearn_and_defaults_thresholds_to_nan():
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support

    rng = np.random.default_rng(3)
    proba = rng.random((40, 5))
    true = rng.random((40, 5)) < 0.35
    true[:3] = False  # tracks without tags
    predicted = proba >= 0.5
    predicted[3:5] = False  # tracks given no tag
    report = tev.per_tag_report(true, predicted, proba, list("abcde")).set_index("genre")
    assert report["threshold"].isna().all()
    for average, row in (("micro", "micro avg"), ("samples", "samples avg")):
        expected = precision_recall_fscore_support(
            true, predicted, average=average, zero_division=0
        )[:3]
        assert report.loc[row, ["precision", "recall", "f1"]].tolist() == pytest.approx(expected)
    per_label = precision_recall_fscore_support(true, predicted, average=None, zero_division=0)
    for column, values in zip(("precision", "recall", "f1", "support"), per_label, strict=True):
        assert report.loc[list("abcde"), column].tolist() == pytest.approx(values.tolist())
    assert report.loc["micro avg", "average_precision"] == pytest.approx(
        average_precision_score(true, proba, average="micro")
    )


def test_per_tag_report_single_label_and_shape_errors():
    report = tev.per_tag_report(TRUE[:, [2]], PREDICTED[:, [2]], PROBA[:, [2]], ["Rock"])
    assert report.set_index("genre").loc["Rock", "f1"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="proba must have shape"):
        tev.per_tag_report(TRUE, PREDICTED, PROBA.T, LABELS)
    with pytest.raises(ValueError, match="predicted must have shape"):
        tev.per_tag_report(TRUE, PREDICTED[:3], PROBA, LABELS)
    with pytest.raises(ValueError, match="booleans"):
        tev.per_tag_report(TRUE * 2, PREDICTED, PROBA, LABELS)


# --------------------------------------------------------------------------------------------------
# co-occurrence


def test_cooccurrence_table_counts():
    counts = tev.cooccurrence_table(TRUE, PREDICTED, LABELS)
    assert counts.index.name == "true" and counts.columns.name == "predicted"
    assert list(counts.index) == LABELS and list(counts.columns) == LABELS
    assert (counts.dtypes == np.int64).all()
    # Folk carriers t0 (Folk) and t2 (Folk, Rock); Rock carriers t0 (Folk), t1 (Jazz, Rock), t3 (Rock)
    assert counts.to_numpy().tolist() == [[2, 0, 1], [0, 0, 0], [1, 1, 2]]
    assert np.diag(counts).tolist() == (TRUE & PREDICTED).sum(axis=0).tolist()
    assert counts.attrs["support"] == {"Folk": 2, "Jazz": 0, "Rock": 3}


def test_cooccurrence_figure():
    counts = tev.cooccurrence_table(TRUE, PREDICTED, LABELS)
    figure = tev.cooccurrence_figure(counts, title="Tags on test")
    images = [image for axis in figure.axes for image in axis.images]
    assert len(images) == 1
    # colour = share of the true tag's tracks (Rock row over its 3 carriers), not of the row sum (4)
    assert images[0].get_array()[2].tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3])
    axis = figure.axes[0]
    assert axis.get_title() == "Tags on test"
    assert [t.get_text() for t in axis.get_xticklabels()] == LABELS
    assert [t.get_text() for t in axis.get_yticklabels()] == LABELS
    assert sorted(t.get_text() for t in axis.texts) == ["1", "1", "1", "2", "2"]
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")

    # read back without attrs (e.g. from CSV): shaded by the row's total, and the colour bar says so
    plain = pd.DataFrame(counts.to_numpy(), index=counts.index, columns=counts.columns)
    fallback = tev.cooccurrence_figure(plain)
    image = next(image for axis in fallback.axes for image in axis.images)
    assert image.get_array()[2].tolist() == pytest.approx([1 / 4, 1 / 4, 2 / 4])
    assert fallback.axes[0].get_title() == "True vs predicted tags"
    assert "row's total" in fallback.axes[1].get_ylabel()


# --------------------------------------------------------------------------------------------------
# largest_tag_errors


def test_largest_tag_errors_order_and_columns():
    labels = ["A", "B", "C", "D"]
    track_ids = [5, 3, 9, 1, 7, 2]
    true = np.array(
        [
            [1, 0, 0, 0],  # 5: right
            [1, 1, 1, 0],  # 3: missed B C, extra D -> 3 errors, jaccard 1/4
            [1, 0, 0, 0],  # 9: missed A, extra B -> 2 errors, jaccard 0
            [1, 1, 1, 1],  # 1: missed C D -> 2 errors, jaccard 1/2
            [0, 0, 0, 0],  # 7: extra C -> 1 error, jaccard 0
            [0, 1, 0, 0],  # 2: missed B -> 1 error, jaccard 0 (ties with 7: track_id decides)
        ],
        dtype=bool,
    )
    predicted = np.array(
        [[1, 0, 0, 0], [1, 0, 0, 1], [0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]],
        dtype=bool,
    )
    proba = np.full((6, 4), 0.1)
    proba[1] = [0.9, 0.3, 0.45, 0.6]
    errors = tev.largest_tag_errors(track_ids, true, predicted, proba, labels)
    assert list(errors.columns) == tev.TAG_ERROR_COLUMNS
    assert errors["track_id"].tolist() == [3, 9, 1, 2, 7]
    assert errors["errors"].tolist() == [3, 2, 2, 1, 1]
    assert errors["jaccard"].tolist() == pytest.approx([0.25, 0.0, 0.5, 0.0, 0.0])
    first = errors.iloc[0]
    assert first["true_tags"] == "A|B|C" and first["predicted_tags"] == "A|D"
    assert first["missed"] == "B|C" and first["extra"] == "D"
    assert first["tag_probabilities"] == "A:0.90|D:0.60|C:0.45|B:0.30"
    by_id = errors.set_index("track_id")
    assert by_id.loc[7, "true_tags"] == "" and by_id.loc[7, "missed"] == ""
    assert by_id.loc[2, "predicted_tags"] == "" and by_id.loc[2, "extra"] == ""
    assert tev.largest_tag_errors(track_ids, true, predicted, proba, labels, n=2)[
        "track_id"
    ].tolist() == [3, 9]
    none = tev.largest_tag_errors(track_ids, true, true, proba, labels)
    assert none.empty and list(none.columns) == tev.TAG_ERROR_COLUMNS


# --------------------------------------------------------------------------------------------------
# tag_label_issues (cleanlab)


def planted_dataset(n: int = 300, n_labels: int = 4, n_planted: int = 15, seed: int = 0):
    """Learnable tags (tag j follows feature j), minus one tag on ``n_planted`` tracks that clearly
    carry it; out-of-fold probabilities from a logistic regression per tag trained on the noisy tags."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, n_labels + 2))
    clean = features[:, :n_labels] + 0.25 * rng.normal(size=(n, n_labels)) > 0.2
    given = clean.copy()
    tracks, tags = np.nonzero(clean & (features[:, :n_labels] > 1.3))
    first = {}  # one clearly carried tag per candidate track, picked at random
    for pair in rng.permutation(len(tracks)):
        first.setdefault(int(tracks[pair]), int(tags[pair]))
    planted = rng.choice(sorted(first), size=n_planted, replace=False)
    for track in planted:
        given[track, first[track]] = False
    oof = np.column_stack(
        [
            cross_val_predict(
                LogisticRegression(max_iter=500),
                features,
                given[:, j],
                cv=5,
                method="predict_proba",
            )[:, 1]
            for j in range(n_labels)
        ]
    )
    track_ids = np.arange(n) + 1000
    return track_ids, given, oof, track_ids[planted], {track_ids[t]: first[t] for t in planted}


@pytest.fixture(scope="module")
def planted():
    return planted_dataset()


def test_tag_label_issues_finds_planted_removals(planted):
    track_ids, given, oof, planted_ids, removed = planted
    labels = ["Blues", "Folk", "Jazz", "Rock"]
    issues, summary = tev.tag_label_issues(track_ids, given, oof, labels, k=5)
    assert list(issues.columns) == tev.TAG_ISSUE_COLUMNS
    assert summary == {
        "count": len(issues),
        "fraction_of_training": len(issues) / len(track_ids),
        "n_training": len(track_ids),
        "k": 5,
    }
    assert issues["rank"].tolist() == list(range(1, len(issues) + 1))
    # the ranking is cleanlab's label quality, lowest first
    assert issues["label_quality"].is_monotonic_increasing
    assert issues["label_quality"].between(0, 1).all()

    # Far more removals among the flagged tracks than flagging as many tracks at random would catch...
    found = issues[issues["track_id"].isin(planted_ids)]
    assert_beats_random_pick(
        len(found), len(issues), len(planted_ids), len(track_ids), "tag issues"
    )
    # ...and ranked high: the head of the list holds more of them than a random order would put there
    # (testable only where enough other suspects share the list: a perfect order must be significant).
    head = issues.head(len(found))
    if beats_random_pick_p(len(found), len(found), len(found), len(issues)) < ALPHA:
        assert_beats_random_pick(int(head["track_id"].isin(planted_ids).sum()), len(head), len(found),
                                 len(issues), f"planted removals ranked {found['rank'].tolist()}")  # fmt: skip
    # the removed tag comes back as missing (and suggested) on the planted tracks it found
    for row in found.itertuples():
        tag = labels[removed[row.track_id]]
        assert tag in row.missing_tags.split("|") and tag in row.suggested_tags.split("|")
        assert tag not in row.given_tags.split("|")


def test_tag_label_issues_columns_and_paths(planted):
    track_ids, given, oof, _, _ = planted
    labels = ["Blues", "Folk", "Jazz", "Rock"]
    paths = pd.DataFrame({"track_id": track_ids, "path": [f"audio/{t}.mp3" for t in track_ids]})
    issues, _ = tev.tag_label_issues(track_ids, given, oof, labels, paths)
    assert list(issues.columns[:3]) == ["rank", "track_id", "path"]
    assert (issues["path"] == issues["track_id"].map(lambda t: f"audio/{t}.mp3")).all()
    for row in issues.itertuples():
        i = int(np.flatnonzero(track_ids == row.track_id)[0])
        assert row.given_tags == "|".join(labels[j] for j in np.flatnonzero(given[i]))
        confident = oof[i] >= 0.5
        expected = confident if confident.any() else np.arange(4) == np.argmax(oof[i])
        assert row.suggested_tags == "|".join(labels[j] for j in np.flatnonzero(expected))
        assert row.missing_tags == "|".join(
            labels[j] for j in np.flatnonzero(confident & ~given[i])
        )
        assert row.doubtful_tags == "|".join(
            labels[j] for j in np.flatnonzero(given[i] & ~confident)
        )


def test_tag_label_issues_leaves_out_constant_labels(planted):
    """A label no track carries, or every track carries, stays out of cleanlab (which would flag
    nothing for the first, yet count it in the score, and raises for the second); tracks without
    tags are checked like the others."""
    track_ids, given, oof, _, _ = planted
    given = given.copy()
    given[:10] = False  # tracks without tags
    labels = ["Blues", "Folk", "Jazz", "Rock"]
    reference, _ = tev.tag_label_issues(track_ids, given, oof, labels)
    n = len(track_ids)
    wide_given = np.column_stack([given, np.zeros(n, bool), np.ones(n, bool)])
    wide_oof = np.column_stack([oof, np.full(n, 0.7), np.full(n, 0.3)])
    wide, summary = tev.tag_label_issues(track_ids, wide_given, wide_oof, [*labels, "Zouk", "All"])
    assert wide["track_id"].tolist() == reference["track_id"].tolist()
    assert wide["label_quality"].tolist() == pytest.approx(reference["label_quality"].tolist())
    assert "skipped" not in summary
    # their columns still count in the suggested, missing and doubtful tags
    assert wide["missing_tags"].str.contains("Zouk").all()
    assert wide["doubtful_tags"].str.contains("All").all()


def test_tag_label_issues_single_usable_label_and_none():
    rng = np.random.default_rng(1)
    n = 120
    proba = np.clip(rng.beta(0.5, 0.5, size=n), 0.01, 0.99)
    tagged = proba > 0.5
    wrong = np.argsort(proba)[-3:]  # the model is sure, the tags say no
    tagged[wrong] = False
    given = np.column_stack([tagged, np.zeros(n, bool)])
    oof = np.column_stack([proba, np.full(n, 0.1)])
    issues, summary = tev.tag_label_issues(np.arange(n), given, oof, ["Rock", "Zouk"])
    assert set(wrong) <= set(issues["track_id"].head(5))
    assert issues["label_quality"].is_monotonic_increasing
    assert summary["count"] == len(issues) and "skipped" not in summary

    issues, summary = tev.tag_label_issues(np.arange(n), given[:, 1:], oof[:, 1:], ["Zouk"])
    assert issues.empty and list(issues.columns) == tev.TAG_ISSUE_COLUMNS
    assert summary["count"] == 0 and summary["skipped"]


def test_tag_label_issues_refuses_bad_shapes_and_cleanlab_nonsense(planted, monkeypatch):
    import cleanlab.multilabel_classification.filter as ml_filter

    track_ids, given, oof, _, _ = planted
    labels = ["Blues", "Folk", "Jazz", "Rock"]
    with pytest.raises(ValueError, match="oof_proba must have shape"):
        tev.tag_label_issues(track_ids, given, oof.T, labels)
    with pytest.raises(ValueError, match="true must have shape"):
        tev.tag_label_issues(track_ids[:-1], given, oof, labels)
    nan_oof = oof.copy()
    nan_oof[0, 0] = np.nan
    with pytest.raises(ValueError, match="probabilities in"):
        tev.tag_label_issues(track_ids, given, nan_oof, labels)
    monkeypatch.setattr(ml_filter, "find_label_issues", lambda *a, **kw: np.array([0, 0]))
    with pytest.raises(RuntimeError, match="at most one per track"):
        tev.tag_label_issues(track_ids, given, oof, labels)
    monkeypatch.setattr(ml_filter, "find_label_issues", lambda *a, **kw: np.array([len(given)]))
    with pytest.raises(RuntimeError, match="distinct row positions"):
        tev.tag_label_issues(track_ids, given, oof, labels)
