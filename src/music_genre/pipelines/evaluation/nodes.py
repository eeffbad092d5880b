"""Thin nodes over :mod:`music_genre.evaluation` (report, calibration, label quality, summary): the
sections that differ by task are the task's report sections (:mod:`music_genre.evaluation.tasks`, found
by the model's task)."""

from __future__ import annotations

import logging

import pandas as pd

from music_genre.evaluation.calibration import confidence_slices, reliability, reliability_figure
from music_genre.evaluation.report import feature_importance_figure, feature_importance_table
from music_genre.evaluation.summary import summary_markdown
from music_genre.evaluation.tasks import ReportSections, sections_of
from music_genre.modeling.artifact import GenreClassifier
from music_genre.modeling.tasks import get_task, task_of
from music_genre.modeling.tasks.base import probabilities
from music_genre.modeling.training import with_feature_columns

log = logging.getLogger(__name__)


def _sections(genre_classifier) -> ReportSections:
    return sections_of(task_of(genre_classifier))


def predict_split(
    genre_classifier: GenreClassifier, model_input_table: pd.DataFrame, evaluation_params: dict
) -> pd.DataFrame:
    """The evaluated split's predictions: track, true and predicted genre, confidence (the task's own
    columns, e.g. true and predicted tags), probabilities."""
    part = model_input_table[model_input_table["split"] == evaluation_params["split"]]
    if part.empty:
        from music_genre.common.errors import TooFewTracksError

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
    for name, values in (
        _sections(genre_classifier).evaluation_columns(genre_classifier, part, proba).items()
    ):
        predictions[name] = values
    for i, genre in enumerate(genre_classifier.classes):
        predictions[f"proba_{genre}"] = proba[:, i]
    return predictions


def report_genres(predictions: pd.DataFrame, genre_classifier: GenreClassifier, evaluation_params):
    """The task's per-genre table, figure and most confused pairs: per-genre precision/recall/F1, the
    confusion matrix and the most confused pairs; for a multi-label model, per-genre scores and
    average precision with each threshold, the heatmap of true against predicted tags, and the genres
    most often added to another's tracks."""
    return _sections(genre_classifier).genre_report(
        predictions, genre_classifier, evaluation_params
    )


def report_largest_errors(
    predictions: pd.DataFrame, genre_classifier: GenreClassifier, evaluation_params: dict
) -> pd.DataFrame:
    """The tracks the model judged worst, to listen to first: the lowest probability given to the true
    genre, or (multi-label) most tags wrong."""
    return _sections(genre_classifier).largest_errors(
        predictions, genre_classifier, int(evaluation_params["largest_errors"])
    )


def report_feature_importance(genre_classifier: GenreClassifier, evaluation_params: dict):
    table = feature_importance_table(genre_classifier, top=evaluation_params["top_features"])
    return table, feature_importance_figure(table)


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
    # the model's own columns only (feature_set auto: the table holds every candidate set's)
    train = with_feature_columns(train, genre_classifier.feature_columns)
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
    issues, summary = _sections(genre_classifier).label_issues(
        train, manifest, genre_classifier, k, settings
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
    proba = probabilities(predictions, classes)
    truth = _sections(genre_classifier).confidence_truth(predictions, genre_classifier)
    slices = confidence_slices(
        truth, proba, classes, threshold=evaluation_params["confidence_threshold"]
    )
    bins, ece = reliability(truth, proba, classes, n_bins=evaluation_params["calibration_bins"])
    calibration = {"ece": float(ece), "bins": bins.to_dict(orient="records")}
    return slices, reliability_figure(bins, ece), calibration


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


def list_suspect_tags(label_issues: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """The files whose own genre tag the model strongly disagrees with (the label issues, by file).

    Args:
        label_issues: the label-issue finder's suspects.
        manifest: the manifest (paths).

    Returns:
        The ``suspect_tags`` table: path, tag, heard, sure, tag_probability.
    """
    from music_genre.evaluation.suspects import suspect_tags

    table = suspect_tags(label_issues, manifest)
    if len(table):
        log.info("Suspect tags: %d files whose tag the model strongly disagrees with (suspect_tags)",
                 len(table))  # fmt: skip
    return table


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
    suspect_tags: pd.DataFrame | None = None,
) -> str:
    sections = sections_of(get_task(model_metrics.get("task")))
    return summary_markdown(
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
            "intro": sections.intro,
            "texts": sections.texts,
            "feature_importance": feature_importance,
            "label_issues": label_issues,
            "label_issue_summary": label_issue_summary,
            "confidence_slices": slices,
            "ece": calibration["ece"],
            # a library's suspect tags open its report
            "suspect_tags": suspect_tags if dataset.get("format") == "tags" else None,
        }
    )
