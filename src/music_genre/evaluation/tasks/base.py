"""What the evaluation report asks of a task: its intro and wording, its columns of
``evaluation_predictions``, and the sections computed differently per task (the per-genre table and its
figure, the worst-judged tracks, cleanlab's suspect labels, the truth the confidence report counts)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from music_genre.modeling.artifact import GenreClassifier, TagClassifier

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# A trained model of any task.
Model = GenreClassifier | TagClassifier


class ReportSections(ABC):
    """One task's sections of the evaluation report. Stateless: one instance per task module."""

    # the summary's opening lines, and its wording replacing music_genre.evaluation.report's REPORT_TEXTS
    # (warning, confusions, figure, pairs, largest)
    intro: tuple[str, ...] = ()
    texts: Mapping[str, str] = {}

    def evaluation_columns(
        self, classifier: Model, part: pd.DataFrame, proba: np.ndarray
    ) -> dict[str, list]:
        """Columns of this task's own in ``evaluation_predictions`` (after confidence)."""
        return {}

    @abstractmethod
    def genre_report(
        self, predictions: pd.DataFrame, classifier: Model, params: Mapping
    ) -> tuple[pd.DataFrame, Figure, pd.DataFrame]:
        """(per-genre table, figure, most confused pairs) of the evaluated split."""

    @abstractmethod
    def largest_errors(self, predictions: pd.DataFrame, classifier: Model, n: int) -> pd.DataFrame:
        """The ``n`` tracks the model judged worst, to listen to first."""

    @abstractmethod
    def label_issues(
        self,
        train: pd.DataFrame,
        manifest: pd.DataFrame,
        classifier: Model,
        k: int,
        settings: Mapping,
    ) -> tuple[pd.DataFrame, dict]:
        """cleanlab's suspect labels among the training tracks (out-of-fold, ``k`` folds), and a summary."""

    def confidence_truth(self, predictions: pd.DataFrame, classifier: Model) -> pd.Series:
        """The genre each evaluated track counts as right for, in the confidence report."""
        return predictions["genre"]
