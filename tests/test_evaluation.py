"""The evaluation report on real model outputs.

The model input tables are synthetic but learnable: 6 genres whose "mfcc_mean_*" features are gaussians
shifted per genre and whose "chroma_std_*" features are pure noise, so a real LightGBM or logistic
regression (trained through ``training.train_classifier``) reaches about 90% accuracy, makes some
mistakes to report, and should rank the informative features on top. The label-quality test plants
label flips in a copy of the training labels and checks cleanlab finds them from out-of-fold
probabilities.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from music_genre.evaluation import calibration, label_quality
from music_genre.evaluation import report as ev
from music_genre.evaluation import summary as markdown_summary
from music_genre.modeling.training import chance_level, evaluate_classifier, train_classifier

from .stats import assert_beats_chance, assert_beats_random_pick

pytestmark = pytest.mark.timeout(120)

GENRES = ["Electronic", "Experimental", "Folk", "Hip-Hop", "Instrumental", "Rock"]
INFORMATIVE = [f"mfcc_mean_{i:02d}" for i in range(1, 13)]
NOISE = [f"chroma_std_{i:02d}" for i in range(1, 9)]
SEPARATION = 1.4  # std of the per-genre means: about 90% out-of-fold accuracy with 100 tracks/genre
LIGHTGBM = {
    "num_boost_round": 300,
    "early_stopping_rounds": 20,
    "learning_rate": 0.1,
    "num_leaves": 7,
    "min_child_samples": 5,
    "num_threads": 1,
}
LOGISTIC = {"max_iter": 500}
HYPERPARAMETERS = {"lightgbm": LIGHTGBM, "logistic_regression": LOGISTIC}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_table(tracks_per_genre: int, seed: int = 0) -> pd.DataFrame:
    """Model-input-table layout: track_id, genre, split (2/3 training, 1/6 validation, 1/6 test), features."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, SEPARATION, size=(len(GENRES), len(INFORMATIVE)))
    n_train = tracks_per_genre * 2 // 3
    n_valid = (tracks_per_genre - n_train) // 2
    splits = ["training"] * n_train + ["validation"] * n_valid
    splits += ["test"] * (tracks_per_genre - len(splits))
    parts = []
    for g, genre in enumerate(GENRES):
        informative = rng.normal(size=(tracks_per_genre, len(INFORMATIVE))) + means[g]
        noise = rng.normal(size=(tracks_per_genre, len(NOISE)))
        part = pd.DataFrame(np.hstack([informative, noise]), columns=INFORMATIVE + NOISE)
        part.insert(0, "split", splits)
        part.insert(0, "genre", genre)
        part.insert(0, "track_id", np.arange(tracks_per_genre) + 1000 * (g + 1))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return make_table(60)  # 40 training, 10 validation, 10 test per genre


@pytest.fixture(scope="module")
def lightgbm_model(table):
    return train_classifier(table, "lightgbm", LIGHTGBM, seed=7)


@pytest.fixture(scope="module")
def logistic_model(table):
    return train_classifier(table, "logistic_regression", LOGISTIC, seed=7)


@pytest.fixture(scope="module")
def test_outputs(table, lightgbm_model):
    """(y_true, y_pred, proba) of the LightGBM model on the test split."""
    test = table[table["split"] == "test"]
    proba = lightgbm_model.predict_proba(test)
    return test["genre"].to_numpy(), lightgbm_model.predict(test), proba


def assert_valid_png(path, min_bytes: int = 5_000) -> None:
    import matplotlib.image as mpimg

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert len(data) > min_bytes, f"{path.name} is suspiciously small ({len(data)} bytes)"
    image = mpimg.imread(io.BytesIO(data), format="png")
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert float(image[..., :3].std()) > 0.01, f"{path.name} looks blank"


def save_through_kedro(figure, path) -> None:
    """The way the pipeline saves figures (and kedro-viz previews them)."""
    from kedro_datasets.matplotlib import MatplotlibDataset

    dataset = MatplotlibDataset(filepath=str(path), save_args={"format": "png"})
    dataset.save(figure)
    assert dataset.preview()  # base64 image for kedro-viz


# ---------------------------------------------------------------------------------------------
# per-class metrics and confusions


def test_per_class_report_matches_sklearn(test_outputs):
    """The table is sklearn's; the model behind it learned (its test hits beat the majority answer by more
    than 60 tracks allow by luck): a perfect model passes too."""
    from sklearn.metrics import classification_report

    y_true, y_pred, _ = test_outputs
    report = ev.per_class_report(y_true, y_pred, GENRES)
    expected = classification_report(
        y_true, y_pred, labels=GENRES, output_dict=True, zero_division=0
    )
    assert list(report.columns) == ["genre", "precision", "recall", "f1", "support"]
    assert report["genre"].tolist() == [*GENRES, "macro avg", "weighted avg"]
    for row in report.itertuples(index=False):
        reference = expected[row.genre]
        assert row.precision == pytest.approx(reference["precision"])
        assert row.recall == pytest.approx(reference["recall"])
        assert row.f1 == pytest.approx(reference["f1-score"])
        assert row.support == reference["support"]
    assert 0.0 < report.set_index("genre").loc["macro avg", "f1"] <= 1.0
    assert_beats_chance(int((y_true == y_pred).sum()), len(y_true), chance_level(pd.Series(y_true)),
                        "LightGBM on the test split")  # fmt: skip


def test_macro_average_skips_genres_the_split_does_not_hold():
    """A genre held out of the test split entirely (all its tracks are new releases) adds no 0 to the
    macro average: the table agrees with the headline macro F1."""
    from sklearn.metrics import f1_score

    y_true = ["Rock", "Rock", "Pop", "Pop", "Folk"]
    y_pred = ["Rock", "Pop", "Pop", "Jazz", "Folk"]
    report = ev.per_class_report(y_true, y_pred, ["Folk", "Jazz", "Pop", "Rock"]).set_index("genre")
    assert report.loc["Jazz", "support"] == 0
    present = ["Folk", "Pop", "Rock"]
    expected = f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
    assert report.loc["macro avg", "f1"] == pytest.approx(expected)
    assert report.loc["macro avg", "f1"] == pytest.approx((1 + 0.5 + 2 / 3) / 3)


def test_confusion_tables_counts_and_row_normalisation(test_outputs):
    y_true, y_pred, _ = test_outputs
    counts, normalized = ev.confusion_tables(y_true, y_pred, GENRES)
    assert counts.index.tolist() == GENRES and counts.columns.tolist() == GENRES
    assert int(counts.to_numpy().sum()) == len(y_true)
    assert counts.sum(axis=1).tolist() == [int((y_true == g).sum()) for g in GENRES]
    np.testing.assert_allclose(normalized.sum(axis=1).to_numpy(), 1.0)
    assert np.trace(counts.to_numpy()) == int((y_true == y_pred).sum())


def test_confusion_rows_of_absent_genres_are_zero():
    counts, normalized = ev.confusion_tables(
        ["Rock", "Rock", "Folk"], ["Rock", "Folk", "Folk"], GENRES
    )
    assert normalized.loc["Rock", "Folk"] == pytest.approx(0.5)
    assert normalized.loc["Electronic"].sum() == 0 and counts.loc["Electronic"].sum() == 0


def test_top_confused_pairs_are_off_diagonal_and_sorted(test_outputs):
    y_true, y_pred, _ = test_outputs
    counts, normalized = ev.confusion_tables(y_true, y_pred, GENRES)
    pairs = ev.top_confused_pairs(normalized, counts, n=10)
    assert list(pairs.columns) == ["true_genre", "predicted_genre", "count", "rate"]
    assert not pairs.empty and len(pairs) <= 10
    assert (pairs["true_genre"] != pairs["predicted_genre"]).all()
    assert pairs["rate"].is_monotonic_decreasing
    assert (pairs["count"] > 0).all()
    for row in pairs.itertuples(index=False):
        assert row.count == counts.loc[row.true_genre, row.predicted_genre]
        assert row.rate == pytest.approx(row.count / counts.loc[row.true_genre].sum())
    off_diagonal_mistakes = int(counts.to_numpy().sum() - np.trace(counts.to_numpy()))
    if len(pairs) < 10:  # every mistake made it into the table
        assert int(pairs["count"].sum()) == off_diagonal_mistakes


def test_confusion_figure_is_a_png(tmp_path, test_outputs):
    y_true, y_pred, _ = test_outputs
    counts, normalized = ev.confusion_tables(y_true, y_pred, GENRES)
    figure = ev.confusion_figure(counts, normalized, "LightGBM on test")
    path = tmp_path / "confusion_matrix.png"
    save_through_kedro(figure, path)
    assert_valid_png(path, min_bytes=20_000)
    texts = [t.get_text() for axis in figure.axes for t in axis.get_xticklabels()]
    assert set(GENRES) <= set(texts)


# ---------------------------------------------------------------------------------------------
# feature importance


def test_feature_importance_has_real_names_and_ranks_informative_features(lightgbm_model):
    """The ranking puts the informative features on top far more often than a random order would (a noise
    feature may still catch a split or two: how many is the model's luck, not the ranking's)."""
    table = ev.feature_importance_table(lightgbm_model, top=20)
    assert list(table.columns) == ["feature", "gain", "share"]
    assert len(table) == 20
    assert set(table["feature"]) == set(INFORMATIVE + NOISE)
    assert not table["feature"].str.contains(r"^(?:Feature|Column)_\d+$").any()
    assert table["gain"].is_monotonic_decreasing
    assert table["share"].sum() == pytest.approx(1.0)
    top = table["feature"].head(len(INFORMATIVE))
    assert_beats_random_pick(int(top.isin(INFORMATIVE).sum()), len(top), len(INFORMATIVE), len(table),
                             f"informative features among the top {len(top)} by gain {top.tolist()}")  # fmt: skip
    assert len(ev.feature_importance_table(lightgbm_model, top=3)) == 3


def test_feature_importance_figure_is_a_png(tmp_path, lightgbm_model):
    table = ev.feature_importance_table(lightgbm_model)
    figure = ev.feature_importance_figure(table)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels[-1] == table["feature"].iloc[0]  # largest gain on top, under its real name
    assert set(labels) == set(table["feature"])
    path = tmp_path / "feature_importance.png"
    save_through_kedro(figure, path)
    assert_valid_png(path)


def test_models_without_importances_get_an_empty_table_and_a_figure(tmp_path, logistic_model):
    table = ev.feature_importance_table(logistic_model)
    assert table.empty and list(table.columns) == ["feature", "gain", "share"]
    figure = ev.feature_importance_figure(table)
    assert "no feature importances" in " ".join(t.get_text() for t in figure.axes[0].texts)
    path = tmp_path / "feature_importance.png"
    figure.savefig(path)
    assert_valid_png(path, min_bytes=3_000)


# ---------------------------------------------------------------------------------------------
# label quality


def flip_labels(train: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A copy of ``train`` with ``fraction`` of its genres changed to another genre (features kept)."""
    rng = np.random.default_rng(seed)
    noisy = train.copy()
    flipped = rng.choice(len(noisy), size=int(round(fraction * len(noisy))), replace=False)
    genre = noisy.columns.get_loc("genre")
    for row in flipped:
        given = noisy.iat[row, genre]
        noisy.iat[row, genre] = rng.choice([g for g in GENRES if g != given])
    return noisy, flipped


@pytest.mark.parametrize("model_type", ["lightgbm", "logistic_regression"])
def test_cleanlab_finds_planted_label_flips(model_type):
    train = (
        make_table(150, seed=1).query("split == 'training'").reset_index(drop=True)
    )  # 600 tracks
    noisy, flipped = flip_labels(train, fraction=0.08, seed=3)  # 48 flips
    assert (noisy["genre"] != train["genre"]).sum() == len(flipped)
    k = 5
    oof = label_quality.out_of_fold_probabilities(
        noisy, model_type, HYPERPARAMETERS[model_type], k=k, seed=11
    )
    assert oof.shape == (len(noisy), len(GENRES))
    np.testing.assert_allclose(oof.sum(axis=1), 1.0)
    classes = sorted(GENRES)
    # Meaningful only if the data is learnable: the out-of-fold model agrees with the *clean* labels far
    # more often than the majority answer would.
    clean_hits = int((np.asarray(classes)[oof.argmax(axis=1)] == train["genre"].to_numpy()).sum())
    clean_accuracy = clean_hits / len(train)
    assert_beats_chance(
        clean_hits, len(train), chance_level(train["genre"]), "out-of-fold vs clean labels"
    )

    issues, summary = label_quality.label_issues(noisy, oof, classes, k=k)
    assert summary["count"] == len(issues) <= len(noisy)
    assert summary["n_training"] == len(noisy) and summary["k"] == k
    assert summary["fraction_of_training"] == pytest.approx(len(issues) / len(noisy))
    assert issues["track_id"].is_unique and issues["rank"].tolist() == list(
        range(1, len(issues) + 1)
    )
    assert issues["self_confidence"].is_monotonic_increasing  # ranked by self-confidence

    flipped_ids = set(noisy["track_id"].iloc[flipped])
    found = flipped_ids & set(issues["track_id"])
    recall = len(found) / len(flipped_ids)
    precision = len(found) / len(issues)
    print(
        f"{model_type}: {len(issues)} issues for {len(flipped_ids)} flips among {len(noisy)} tracks, "
        f"recall {recall:.2f}, precision {precision:.2f}, clean accuracy {clean_accuracy:.3f}"
    )
    # Far more flips among the flagged tracks than flagging as many tracks at random would catch.
    assert_beats_random_pick(
        len(found), len(issues), len(flipped_ids), len(noisy), "cleanlab's issues"
    )
    # The suggested genre recovers the genre before the flip far more often than picking one of the
    # other genres at random would.
    true_genre = train.set_index("track_id")["genre"]
    recovered = issues[issues["track_id"].isin(found)]
    recovered_hits = int(
        (recovered["suggested_genre"] == recovered["track_id"].map(true_genre)).sum()
    )
    assert_beats_chance(recovered_hits, len(recovered), 1 / (len(classes) - 1), "genres recovered")
    # The rows cleanlab flags are the ones whose given label the model finds implausible.
    row = noisy.set_index("track_id")
    for issue in issues.head(5).itertuples(index=False):
        assert issue.given_genre == row.loc[issue.track_id, "genre"]
        assert issue.self_confidence < issue.suggested_confidence


def test_label_issues_refuses_probabilities_that_are_not_one_row_per_track(table):
    """The reference project's bug: 241,632 "issues" for 1,200 tracks from mis-shaped inputs."""
    train = table[table["split"] == "training"].reset_index(drop=True)
    classes = sorted(GENRES)
    rng = np.random.default_rng(0)
    per_frame = rng.dirichlet(np.ones(len(classes)), size=len(train) * 4)  # e.g. frame-level rows
    with pytest.raises(ValueError, match="one row per track"):
        label_quality.label_issues(train, per_frame, classes)
    with pytest.raises(ValueError, match="one row per track"):
        label_quality.label_issues(train, per_frame[: len(train)].T, classes)
    # Random probabilities: many issues, but never more than there are training tracks.
    issues, summary = label_quality.label_issues(train, per_frame[: len(train)], classes)
    assert 0 < summary["count"] <= len(train) and summary["fraction_of_training"] <= 1.0


def planted_disagreements(model, train: pd.DataFrame) -> tuple[np.ndarray, list[int]]:
    """The model's probabilities, except that it is sure the first track of three genres is the next
    genre. (In-sample probabilities are too confident for cleanlab to flag subtler disagreements: its
    per-genre thresholds are the mean self-confidence, which is ~0.98 on tracks the model fit.)"""
    proba = model.predict_proba(train)
    planted = [int(np.flatnonzero(train["genre"].to_numpy() == genre)[0]) for genre in GENRES[:3]]
    proba[planted] = 0.001
    proba[planted, [1, 2, 3]] = 0.995
    return proba / proba.sum(axis=1, keepdims=True), planted


def test_label_issues_adds_paths_from_the_manifest(table, lightgbm_model):
    train = table[table["split"] == "training"].reset_index(drop=True)
    proba, planted = planted_disagreements(lightgbm_model, train)
    manifest = train[["track_id"]].assign(path=lambda f: f["track_id"].map("audio/{}.mp3".format))
    issues, _ = label_quality.label_issues(train, proba, lightgbm_model.classes, paths=manifest)
    assert list(issues.columns[:3]) == ["rank", "track_id", "path"]
    assert set(train["track_id"].iloc[planted]) <= set(issues["track_id"])
    assert (issues["path"] == issues["track_id"].map("audio/{}.mp3".format)).all()
    by_mapping, _ = label_quality.label_issues(
        train,
        proba,
        lightgbm_model.classes,
        paths=dict(zip(manifest.track_id, manifest.path, strict=True)),
    )
    assert by_mapping["path"].tolist() == issues["path"].tolist()


def test_out_of_fold_probabilities_refuse_other_splits_and_tiny_genres(table):
    with pytest.raises(ValueError, match="training split only"):
        label_quality.out_of_fold_probabilities(table, "logistic_regression", LOGISTIC, k=3, seed=0)
    train = table[table["split"] == "training"]
    with pytest.raises(ValueError, match="per genre"):
        label_quality.out_of_fold_probabilities(
            train, "logistic_regression", LOGISTIC, k=41, seed=0
        )


# ---------------------------------------------------------------------------------------------
# confidence and calibration


def test_confidence_slices_add_up(table, lightgbm_model):
    """The threshold is the median top probability of this model, so both slices hold tracks whatever the
    model's confidence (a fixed threshold may leave one empty: its accuracy NaN)."""
    proba = lightgbm_model.predict_proba(table)
    y_true = table["genre"].to_numpy()
    threshold = float(np.median(proba.max(axis=1)))
    slices = calibration.confidence_slices(
        y_true, proba, lightgbm_model.classes, threshold=threshold
    )
    assert list(slices.columns) == [
        "genre",
        "slice",
        "threshold",
        "count",
        "share_of_genre",
        "accuracy",
        "f1",
    ]
    assert slices["genre"].unique().tolist() == ["all", *lightgbm_model.classes]
    totals = slices.groupby("genre", sort=False)["count"].sum()
    assert totals["all"] == len(table)
    for genre in GENRES:
        assert totals[genre] == int((y_true == genre).sum())
    per_slice = slices[slices["genre"] != "all"].groupby("slice")["count"].sum()
    assert (
        per_slice.to_dict()
        == slices[slices["genre"] == "all"].set_index("slice")["count"].to_dict()
    )
    shares = slices.groupby("genre")["share_of_genre"].sum()
    np.testing.assert_allclose(shares.to_numpy(), 1.0)

    confident = proba.max(axis=1) >= threshold
    y_pred = lightgbm_model.predict(table)
    overall = slices[slices["genre"] == "all"].set_index("slice")
    assert overall.loc["confident", "count"] == confident.sum()
    assert overall.loc["confident", "count"] > 0 and overall.loc["uncertain", "count"] > 0, overall
    assert overall.loc["confident", "accuracy"] == pytest.approx(
        np.mean(y_pred[confident] == y_true[confident])
    )
    assert overall.loc["confident", "accuracy"] > overall.loc["uncertain", "accuracy"]


def calibrated_sample(n: int, overconfident: bool, seed: int = 0):
    """Probabilities whose top class is right with exactly the stated confidence (or far less)."""
    rng = np.random.default_rng(seed)
    k = len(GENRES)
    confidence = rng.uniform(0.97, 1.0, n) if overconfident else rng.uniform(1.0 / k + 0.01, 1.0, n)
    predicted = rng.integers(0, k, n)
    proba = np.repeat(((1 - confidence) / (k - 1))[:, None], k, axis=1)
    proba[np.arange(n), predicted] = confidence
    hit_rate = 0.5 if overconfident else confidence
    correct = rng.uniform(size=n) < hit_rate
    other = (predicted + rng.integers(1, k, n)) % k
    truth = np.where(correct, predicted, other)
    return np.asarray(GENRES)[truth], proba


def test_reliability_ece_is_near_zero_when_calibrated_and_large_when_overconfident(tmp_path):
    y_true, proba = calibrated_sample(20_000, overconfident=False)
    bins, ece = calibration.reliability(y_true, proba, GENRES, n_bins=10)
    assert ece < 0.02
    assert int(bins["count"].sum()) == len(y_true)
    assert list(bins.columns) == [
        "bin",
        "lower",
        "upper",
        "count",
        "mean_confidence",
        "accuracy",
        "gap",
    ]
    filled = bins[bins["count"] > 0]
    assert (
        (filled["mean_confidence"] > filled["lower"])
        & (filled["mean_confidence"] <= filled["upper"])
    ).all()
    assert bins.loc[0, "count"] == 0 and np.isnan(bins.loc[0, "accuracy"])  # confidence >= 1/6

    y_true, proba = calibrated_sample(5_000, overconfident=True)
    bins, over_ece = calibration.reliability(y_true, proba, GENRES, n_bins=10)
    assert over_ece > 0.4

    figure = calibration.reliability_figure(bins, over_ece)
    assert "ECE" in figure.axes[0].get_title()
    path = tmp_path / "reliability_diagram.png"
    save_through_kedro(figure, path)
    assert_valid_png(path)


def test_reliability_ece_by_hand():
    # Bin (0.5, 0.6]: confidences 0.55, 0.55, one right -> |0.5 - 0.55| = 0.05, weight 2/4.
    # Bin (0.9, 1.0]: confidences 0.95, 0.95, both right -> |1 - 0.95| = 0.05, weight 2/4.
    proba = np.array([[0.55, 0.45], [0.55, 0.45], [0.95, 0.05], [0.05, 0.95]])
    y_true = ["a", "b", "a", "b"]
    bins, ece = calibration.reliability(y_true, proba, ["a", "b"], n_bins=10)
    assert ece == pytest.approx(0.05)
    assert bins.set_index("bin").loc[5, "count"] == 2 and bins.set_index("bin").loc[9, "count"] == 2


# ---------------------------------------------------------------------------------------------
# the Markdown summary


def test_summary_markdown_links_figures_and_renders_tables(table, lightgbm_model, test_outputs):
    y_true, y_pred, proba = test_outputs
    counts, normalized = ev.confusion_tables(y_true, y_pred, lightgbm_model.classes)
    bins, ece = calibration.reliability(y_true, proba, lightgbm_model.classes)
    train = table[table["split"] == "training"].reset_index(drop=True)
    proba_train, _ = planted_disagreements(lightgbm_model, train)
    issues, issue_summary = label_quality.label_issues(
        train, proba_train, lightgbm_model.classes, k=5
    )
    assert issue_summary["count"] >= 3
    context = {
        "title": "Genre model evaluation",
        "model_type": lightgbm_model.model_type,
        "metrics": evaluate_classifier(lightgbm_model, table),
        "per_class": ev.per_class_report(y_true, y_pred, lightgbm_model.classes),
        "top_confused": ev.top_confused_pairs(normalized, counts),
        "feature_importance": ev.feature_importance_table(lightgbm_model),
        "label_issues": issues,
        "label_issue_summary": issue_summary,
        "confidence_slices": calibration.confidence_slices(
            y_true, proba, lightgbm_model.classes, 0.6
        ),
        "ece": ece,
    }
    text = markdown_summary.summary_markdown(context)
    assert text.startswith("# Genre model evaluation")
    for link in (
        "![confusion matrix](confusion_matrix.png)",
        "![feature importance](feature_importance.png)",
        "![reliability diagram](reliability_diagram.png)",
    ):
        assert link in text
    assert "| genre | precision | recall | f1 | support |" in text
    assert "| true_genre | predicted_genre | count | rate |" in text
    assert "| feature | gain | share |" in text
    assert "| split | accuracy |" in text and "| test |" in text
    assert "| rank | track_id | given_genre | suggested_genre |" in text
    assert "| genre | slice | threshold | count |" in text
    assert f"**{ece:.3f}**" in text
    assert f"**{issue_summary['count']}** of {len(train)}" in text
    assert "| macro avg |" in text

    renamed = markdown_summary.summary_markdown(
        {**context, "figures": {"confusion_matrix": "cm_test.png"}}
    )
    assert "![confusion matrix](cm_test.png)" in renamed

    empty = markdown_summary.summary_markdown({})
    assert empty.startswith("# Evaluation report") and "_not computed_" in empty


def test_markdown_table_escapes_pipes_and_formats_numbers():
    frame = pd.DataFrame({"name": ["a|b", "c"], "value": [0.12345, np.nan], "n": [1, 2]})
    text = markdown_summary.markdown_table(frame)
    assert text.splitlines() == [
        "| name | value | n |",
        "| --- | ---: | ---: |",
        "| a\\|b | 0.123 | 1 |",
        "| c |  | 2 |",
    ]


def test_label_issues_guards_against_more_issues_than_tracks(table, monkeypatch):
    """Whatever cleanlab hands back, the report never claims more suspects than training tracks."""
    import cleanlab.filter

    train = table[table["split"] == "training"].reset_index(drop=True)
    proba = np.full((len(train), len(GENRES)), 1.0 / len(GENRES))
    too_many = np.tile(np.arange(len(train)), 3)  # e.g. one index per frame, not per track
    monkeypatch.setattr(cleanlab.filter, "find_label_issues", lambda *a, **kw: too_many)
    with pytest.raises(RuntimeError, match="at most one per track"):
        label_quality.label_issues(train, proba, sorted(GENRES))
