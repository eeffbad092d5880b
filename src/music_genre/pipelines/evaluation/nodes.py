"""Thin nodes over :mod:`music_genre.evaluation.report`."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from music_genre.evaluation import report as evaluation
from music_genre.modeling.artifact import GenreClassifier

log = logging.getLogger(__name__)


def predict_split(
    genre_classifier: GenreClassifier, model_input_table: pd.DataFrame, evaluation_params: dict
) -> pd.DataFrame:
    """The evaluated split's predictions: track, true and predicted genre, confidence, probabilities."""
    part = model_input_table[model_input_table["split"] == evaluation_params["split"]]
    if part.empty:
        from music_genre.common.errors import TooFewTracksError  # noqa: PLC0415

        raise TooFewTracksError(
            f"the {evaluation_params['split']!r} split has no tracks to evaluate (too few tracks; "
            "set evaluation.split or add tracks)"
        )
    proba = genre_classifier.predict_proba(part)
    predictions = pd.DataFrame(
        {
            "track_id": part["track_id"].to_numpy(),
            "genre": part["genre"].to_numpy(),
            "predicted": genre_classifier.classes_[proba.argmax(axis=1)],
            "confidence": proba.max(axis=1),
        }
    )
    if genre_classifier.task == "multi_label":
        from music_genre.modeling.tags.labels import join_tags, tag_lists, tag_matrix  # noqa: PLC0415

        labels = genre_classifier.classes
        predictions["true_tags"] = [
            join_tags(t) for t in tag_lists(tag_matrix(part, labels), labels)
        ]
        predictions["predicted_tags"] = [
            join_tags(t) for t in tag_lists(genre_classifier.tags_from_proba(proba), labels)
        ]
    for i, genre in enumerate(genre_classifier.classes):
        predictions[f"proba_{genre}"] = proba[:, i]
    return predictions


def _tag_matrices(predictions: pd.DataFrame, classifier):
    """True and predicted tags of the evaluated tracks, as boolean (tracks, genres) matrices."""
    from music_genre.modeling.tags.labels import split_tags  # noqa: PLC0415

    index = {label: j for j, label in enumerate(classifier.classes)}

    def matrix(column):
        out = np.zeros((len(predictions), len(index)), dtype=bool)
        for i, tags in enumerate(predictions[column].map(split_tags)):
            out[i, [index[t] for t in tags if t in index]] = True
        return out

    return matrix("true_tags"), matrix("predicted_tags")


def _proba(predictions: pd.DataFrame, classes: list[str]):
    return predictions[[f"proba_{genre}" for genre in classes]].to_numpy()


def report_genres(predictions: pd.DataFrame, genre_classifier: GenreClassifier, evaluation_params):
    """Per-genre precision/recall/F1, the confusion matrix figure and the most confused pairs; for a
    multi-label model, per-genre precision/recall/F1 and average precision with each threshold, the
    heatmap of true against predicted tags, and the genres most often added to another's tracks."""
    classes = genre_classifier.classes
    if genre_classifier.task == "multi_label":
        from music_genre.evaluation import tags as tag_evaluation  # noqa: PLC0415

        true, predicted = _tag_matrices(predictions, genre_classifier)
        proba = _proba(predictions, classes)
        per_tag = tag_evaluation.per_tag_report(
            true, predicted, proba, classes, genre_classifier.thresholds
        )
        counts = tag_evaluation.cooccurrence_table(true, predicted, classes)
        figure = tag_evaluation.cooccurrence_figure(
            counts, title=f"True vs predicted tags ({evaluation_params['split']} split)"
        )
        extra = tag_evaluation.cooccurrence_table(true, predicted & ~true, classes)
        totals = true.sum(axis=0)
        rates = extra.div(np.where(totals > 0, totals, 1), axis=0)
        pairs = evaluation.top_confused_pairs(rates, extra, n=evaluation_params["top_confused"])
        return per_tag, figure, pairs
    per_class = evaluation.per_class_report(predictions["genre"], predictions["predicted"], classes)
    counts, normalized = evaluation.confusion_tables(
        predictions["genre"], predictions["predicted"], classes
    )
    figure = evaluation.confusion_figure(
        counts, normalized, title=f"Confusion matrix ({evaluation_params['split']} split)"
    )
    pairs = evaluation.top_confused_pairs(normalized, counts, n=evaluation_params["top_confused"])
    return per_class, figure, pairs


def report_largest_errors(
    predictions: pd.DataFrame, genre_classifier: GenreClassifier, evaluation_params: dict
) -> pd.DataFrame:
    """The tracks the model judged worst, to listen to first: most tags wrong (multi-label), or the
    lowest probability given to the true genre."""
    n = int(evaluation_params.get("largest_errors", 20))
    classes = genre_classifier.classes
    proba = _proba(predictions, classes)
    if genre_classifier.task == "multi_label":
        from music_genre.evaluation import tags as tag_evaluation  # noqa: PLC0415

        true, predicted = _tag_matrices(predictions, genre_classifier)
        return tag_evaluation.largest_tag_errors(
            predictions["track_id"].to_numpy(), true, predicted, proba, classes, n=n
        )
    return evaluation.largest_errors(predictions, proba, classes, n=n)


def report_feature_importance(genre_classifier: GenreClassifier, evaluation_params: dict):
    table = evaluation.feature_importance_table(
        genre_classifier, top=evaluation_params["top_features"]
    )
    return table, evaluation.feature_importance_figure(table)


def find_label_issues(
    model_input_table: pd.DataFrame,
    manifest: pd.DataFrame,
    genre_classifier: GenreClassifier,
    evaluation_params: dict,
):
    """Out-of-fold probabilities on the training split, then cleanlab's suspects ranked by
    self-confidence (FMA's labels are uploader-assigned, per album: some are wrong)."""
    settings = evaluation_params["label_quality"]
    train = model_input_table[model_input_table["split"] == "training"].reset_index(drop=True)
    smallest = int(train["genre"].value_counts().min()) if len(train) else 0
    k = min(int(settings["k"]), smallest)  # folds adapt to the smallest genre of a small collection
    if k < 2:
        log.warning(
            "Label quality skipped: the smallest genre has %d training track(s); cleanlab's "
            "out-of-fold check needs at least 2",
            smallest,
        )
        empty = pd.DataFrame(
            columns=[
                "rank",
                "track_id",
                "path",
                "given_genre",
                "suggested_genre",
                "self_confidence",
                "suggested_confidence",
            ]  # fmt: skip
        )
        return empty, {"count": 0, "fraction_of_training": 0.0, "n_training": len(train), "k": None,
                       "skipped": f"smallest genre has {smallest} training track(s)"}  # fmt: skip
    if k < int(settings["k"]):
        log.info(
            "Label quality: %d folds instead of %s (the smallest genre has %d training tracks)",
            k,
            settings["k"],
            smallest,
        )
    if genre_classifier.task == "multi_label":
        issues, summary = _tag_label_issues(train, manifest, genre_classifier, k, settings)
    else:
        proba = evaluation.out_of_fold_probabilities(
            train,
            genre_classifier.model_type,
            genre_classifier.params,
            k=k,
            seed=int(settings.get("seed", 42)),
        )
        issues, summary = evaluation.label_issues(
            train,
            proba,
            genre_classifier.classes,
            paths=manifest[["track_id", "path"]],
            k=k,
        )
    log.info(
        "Label quality: %d suspect labels in %d training tracks (%.1f%%)",
        summary["count"],
        summary["n_training"],
        100 * summary["fraction_of_training"],
    )
    return issues, summary


def _tag_label_issues(train, manifest, classifier, k: int, settings: dict):
    """cleanlab's multi-label finder on out-of-fold tag probabilities of the training split: tracks
    whose genre list looks incomplete (a genre the audio carries is missing) or wrong."""
    from music_genre.evaluation import tags as tag_evaluation  # noqa: PLC0415
    from music_genre.modeling.tags.labels import tag_matrix  # noqa: PLC0415
    from music_genre.modeling.tags.training import out_of_fold_tag_probabilities  # noqa: PLC0415

    labels = classifier.classes
    proba = out_of_fold_tag_probabilities(
        train, labels, classifier.model_type, classifier.params, k=k,
        seed=int(settings.get("seed", 42)),
    )  # fmt: skip
    return tag_evaluation.tag_label_issues(
        train["track_id"].to_numpy(),
        tag_matrix(train, labels),
        proba,
        labels,
        paths=manifest[["track_id", "path"]],
        k=k,
    )


def _truth_for_confidence(predictions: pd.DataFrame, classifier) -> pd.Series:
    """Multi-label: the genre a track counts as right for, in the confidence report: its most likely
    genre when that is one of its tags (so "right" means the top genre is one of the track's)."""
    if classifier.task != "multi_label":
        return predictions["genre"]
    true, _ = _tag_matrices(predictions, classifier)
    top = _proba(predictions, classifier.classes).argmax(axis=1)
    hit = true[np.arange(len(true)), top]
    return predictions["genre"].where(~hit, predictions["predicted"])


def report_confidence(
    predictions: pd.DataFrame, genre_classifier: GenreClassifier, evaluation_params: dict
):
    """Scores above and below the confidence threshold, and a reliability diagram with its ECE."""
    classes = genre_classifier.classes
    proba = _proba(predictions, classes)
    truth = _truth_for_confidence(predictions, genre_classifier)
    slices = evaluation.confidence_slices(
        truth, proba, classes, threshold=evaluation_params["confidence_threshold"]
    )
    bins, ece = evaluation.reliability(
        truth, proba, classes, n_bins=evaluation_params["calibration_bins"]
    )
    calibration = {"ece": float(ece), "bins": bins.to_dict(orient="records")}
    return slices, evaluation.reliability_figure(bins, ece), calibration


def evaluation_metrics(label_issue_summary: dict, calibration: dict, slices: pd.DataFrame) -> dict:
    """The evaluation's headline numbers as MLflow metrics (``evaluation.ece``, ...)."""
    overall = slices[slices["genre"] == "all"].set_index("slice")
    metrics = {
        "ece": calibration["ece"],
        "label_issues": label_issue_summary["count"],
        "label_issue_fraction": label_issue_summary["fraction_of_training"],
    }
    for name in ("confident", "uncertain"):
        if name in overall.index:
            metrics[f"{name}_share"] = overall.loc[name, "share_of_genre"]
            if overall.loc[name, "count"] > 0:
                metrics[f"{name}_accuracy"] = overall.loc[name, "accuracy"]
    return {name: {"value": float(value), "step": 0} for name, value in metrics.items()}


def write_summary(
    model_metrics: dict,
    per_class: pd.DataFrame,
    top_confused: pd.DataFrame,
    largest_errors: pd.DataFrame,
    feature_importance: pd.DataFrame,
    label_issues: pd.DataFrame,
    label_issue_summary: dict,
    slices: pd.DataFrame,
    calibration: dict,
    evaluation_params: dict,
    dataset: dict,
) -> str:
    return evaluation.summary_markdown(
        {
            "title": f"Evaluation report: {dataset.get('name')}",
            "model_type": model_metrics["model_type"],
            "feature_set": model_metrics.get("feature_set"),
            "better_than_chance": model_metrics.get("better_than_chance"),
            "split": evaluation_params["split"],
            "metrics": model_metrics["splits"],
            "per_class": per_class,
            "top_confused": top_confused,
            "largest_errors": largest_errors,
            "task": model_metrics.get("task", "single_label"),
            "feature_importance": feature_importance,
            "label_issues": label_issues,
            "label_issue_summary": label_issue_summary,
            "confidence_slices": slices,
            "ece": calibration["ece"],
        }
    )
