"""Thin nodes over :mod:`music_genre.evaluation`."""

from __future__ import annotations

import logging

import pandas as pd

from music_genre import evaluation
from music_genre.model import GenreClassifier

log = logging.getLogger(__name__)


def predict_split(
    genre_classifier: GenreClassifier, model_input_table: pd.DataFrame, evaluation_params: dict
) -> pd.DataFrame:
    """The evaluated split's predictions: track, true and predicted genre, confidence, probabilities."""
    part = model_input_table[model_input_table["split"] == evaluation_params["split"]]
    if part.empty:
        from music_genre.errors import TooFewTracksError  # noqa: PLC0415

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
    for i, genre in enumerate(genre_classifier.classes):
        predictions[f"proba_{genre}"] = proba[:, i]
    return predictions


def _proba(predictions: pd.DataFrame, classes: list[str]):
    return predictions[[f"proba_{genre}" for genre in classes]].to_numpy()


def report_genres(predictions: pd.DataFrame, genre_classifier: GenreClassifier, evaluation_params):
    """Per-genre precision/recall/F1, the confusion matrix figure and the most confused pairs."""
    classes = genre_classifier.classes
    per_class = evaluation.per_class_report(predictions["genre"], predictions["predicted"], classes)
    counts, normalized = evaluation.confusion_tables(
        predictions["genre"], predictions["predicted"], classes
    )
    figure = evaluation.confusion_figure(
        counts, normalized, title=f"Confusion matrix ({evaluation_params['split']} split)"
    )
    pairs = evaluation.top_confused_pairs(normalized, counts, n=evaluation_params["top_confused"])
    return per_class, figure, pairs


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


def report_confidence(
    predictions: pd.DataFrame, genre_classifier: GenreClassifier, evaluation_params: dict
):
    """Scores above and below the confidence threshold, and a reliability diagram with its ECE."""
    classes = genre_classifier.classes
    proba = _proba(predictions, classes)
    slices = evaluation.confidence_slices(
        predictions["genre"], proba, classes, threshold=evaluation_params["confidence_threshold"]
    )
    bins, ece = evaluation.reliability(
        predictions["genre"], proba, classes, n_bins=evaluation_params["calibration_bins"]
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
            "feature_importance": feature_importance,
            "label_issues": label_issues,
            "label_issue_summary": label_issue_summary,
            "confidence_slices": slices,
            "ece": calibration["ece"],
        }
    )
