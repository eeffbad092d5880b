"""The single-label task's report sections: per-genre precision/recall/F1, the confusion matrix, the
lowest probabilities given to the true genre, cleanlab's label issues."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from music_genre.evaluation import label_quality, report
from music_genre.evaluation.tasks.base import ReportSections
from music_genre.modeling.artifact import GenreClassifier
from music_genre.modeling.tasks.base import probabilities


class SingleLabelSections(ReportSections):
    def genre_report(self, predictions: pd.DataFrame, classifier: GenreClassifier, params: Mapping):
        """Per-genre precision/recall/F1, the confusion matrix figure and the most confused pairs."""
        classes = classifier.classes
        per_class = report.per_class_report(predictions["genre"], predictions["predicted"], classes)
        counts, normalized = report.confusion_tables(
            predictions["genre"], predictions["predicted"], classes
        )
        figure = report.confusion_figure(
            counts, normalized, title=f"Confusion matrix ({params['split']} split)"
        )
        pairs = report.top_confused_pairs(normalized, counts, n=params["top_confused"])
        return per_class, figure, pairs

    def largest_errors(
        self, predictions: pd.DataFrame, classifier: GenreClassifier, n: int
    ) -> pd.DataFrame:
        """The lowest probabilities given to the true genre."""
        proba = probabilities(predictions, classifier.classes)
        return report.largest_errors(predictions, proba, classifier.classes, n=n)

    def label_issues(
        self,
        train: pd.DataFrame,
        manifest: pd.DataFrame,
        classifier: GenreClassifier,
        k: int,
        settings: Mapping,
    ) -> tuple[pd.DataFrame, dict]:
        """cleanlab's label issues, ranked by self-confidence, on out-of-fold probabilities."""
        proba = label_quality.out_of_fold_probabilities(
            train,
            classifier.model_type,
            classifier.params,
            k=k,
            seed=int(settings.get("seed", 42)),
            members=classifier.info.get("ensemble_members") or (),
        )
        return label_quality.label_issues(
            train, proba, classifier.classes, paths=manifest[["track_id", "path"]], k=k
        )


SECTIONS = SingleLabelSections()
