"""The multi-label task's report sections: per-genre scores and average precision with each threshold,
the heatmap of true against predicted tags, the genres most often added to another's tracks, the tracks
with the most tags wrong, cleanlab's multi-label finder."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from music_genre.data.labels import join_tags, split_tags
from music_genre.evaluation import report, tags
from music_genre.evaluation.tasks.base import ReportSections
from music_genre.modeling.artifact import TagClassifier
from music_genre.modeling.tasks.base import probabilities
from music_genre.modeling.tasks.multi_label import labels as tag_labels
from music_genre.modeling.tasks.multi_label import training as tag_training


def tag_matrices(predictions: pd.DataFrame, classifier: TagClassifier):
    """True and predicted tags of the evaluated tracks, as boolean (tracks, genres) matrices."""
    index = {label: j for j, label in enumerate(classifier.classes)}

    def matrix(column):
        out = np.zeros((len(predictions), len(index)), dtype=bool)
        for i, found in enumerate(predictions[column].map(split_tags)):
            out[i, [index[t] for t in found if t in index]] = True
        return out

    return matrix("true_tags"), matrix("predicted_tags")


class MultiLabelSections(ReportSections):
    intro = (
        "Task: **multi-label** (every genre of a track; one model and threshold per genre).",
        "",
    )
    texts = {
        "warning": "**Warning: this model is no better than the label-frequency baseline (Jaccard and "
        "Hamming loss). It was not registered.**",
        "confusions": "True vs predicted tags",
        "figure": "tag co-occurrence",
        "pairs": "Genres most often added to tracks of another genre (rate = share of that genre's "
        "tracks):",
        "largest": "Tracks with the most tags wrong:",
    }

    def evaluation_columns(
        self, classifier: TagClassifier, part: pd.DataFrame, proba: np.ndarray
    ) -> dict[str, list]:
        labels = classifier.classes
        return {
            "true_tags": [
                join_tags(t)
                for t in tag_labels.tag_lists(tag_labels.tag_matrix(part, labels), labels)
            ],
            "predicted_tags": [
                join_tags(t)
                for t in tag_labels.tag_lists(classifier.tags_from_proba(proba), labels)
            ],
        }

    def genre_report(self, predictions: pd.DataFrame, classifier: TagClassifier, params: Mapping):
        """Per-genre precision/recall/F1 and average precision with each threshold, the heatmap of true
        against predicted tags, and the genres most often added to another's tracks."""
        classes = classifier.classes
        true, predicted = tag_matrices(predictions, classifier)
        proba = probabilities(predictions, classes)
        per_tag = tags.per_tag_report(true, predicted, proba, classes, classifier.thresholds)
        counts = tags.cooccurrence_table(true, predicted, classes)
        figure = tags.cooccurrence_figure(
            counts, title=f"True vs predicted tags ({params['split']} split)"
        )
        extra = tags.cooccurrence_table(true, predicted & ~true, classes)
        totals = true.sum(axis=0)
        rates = extra.div(np.where(totals > 0, totals, 1), axis=0)
        pairs = report.top_confused_pairs(rates, extra, n=params["top_confused"])
        return per_tag, figure, pairs

    def largest_errors(
        self, predictions: pd.DataFrame, classifier: TagClassifier, n: int
    ) -> pd.DataFrame:
        """The tracks with the most tags wrong."""
        true, predicted = tag_matrices(predictions, classifier)
        proba = probabilities(predictions, classifier.classes)
        return tags.largest_tag_errors(
            predictions["track_id"].to_numpy(), true, predicted, proba, classifier.classes, n=n
        )

    def label_issues(
        self,
        train: pd.DataFrame,
        manifest: pd.DataFrame,
        classifier: TagClassifier,
        k: int,
        settings: Mapping,
    ) -> tuple[pd.DataFrame, dict]:
        """cleanlab's multi-label finder on out-of-fold tag probabilities of the training split: tracks
        whose genre list looks incomplete (a genre the audio carries is missing) or wrong."""
        labels = classifier.classes
        proba = tag_training.out_of_fold_tag_probabilities(
            train, labels, classifier.model_type, classifier.params, k=k,
            seed=int(settings.get("seed", 42)),
        )  # fmt: skip
        return tags.tag_label_issues(
            train["track_id"].to_numpy(),
            tag_labels.tag_matrix(train, labels),
            proba,
            labels,
            paths=manifest[["track_id", "path"]],
            k=k,
        )

    def confidence_truth(self, predictions: pd.DataFrame, classifier: TagClassifier) -> pd.Series:
        """The genre a track counts as right for: its most likely genre when that is one of its tags
        (so "right" means the top genre is one of the track's)."""
        true, _ = tag_matrices(predictions, classifier)
        top = probabilities(predictions, classifier.classes).argmax(axis=1)
        hit = true[np.arange(len(true)), top]
        return predictions["genre"].where(~hit, predictions["predicted"])


SECTIONS = MultiLabelSections()
