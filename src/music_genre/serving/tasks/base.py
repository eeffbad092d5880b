"""What a task's outputs say to a person: the page's model card, headline and figure caption, the
command line's JSON keys, the run summary's Model, Test and warning lines."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

from music_genre.modeling.artifact import GenreClassifier, TagClassifier

# A trained model of any task.
Model = GenreClassifier | TagClassifier


class TaskWording(ABC):
    """One task's wording. Stateless: one instance per task module. The defaults are the single-label
    task's where it adds nothing (no extra JSON keys, no card rows, no tags)."""

    summary_warning: str  # the run summary's line for a model no better than chance
    figure_caption: str  # the page's caption of the report's figure

    @abstractmethod
    def headline(self, test: Mapping) -> str:
        """The page's test scores, e.g. ``accuracy 0.71, macro F1 0.69``."""

    @abstractmethod
    def test_summary(self, test: Mapping, model_metrics: Mapping) -> str:
        """The run summary's Test line."""

    def model_summary(self, model_metrics: Mapping) -> str:
        """What the run summary's Model line adds after the model type."""
        return ""

    def model_card(self, classifier: Model) -> list[tuple[str, str]]:
        """The page's rows about the task of the model answering (none for the default task)."""
        return []

    def row_tags(self, row: Mapping) -> list[tuple[str, float]]:
        """The (genre, probability) pairs a prediction row's own columns name, most probable first:
        what the command line and the page show before the ranked genres (none for one genre)."""
        return []

    def json_outputs(self, row: Mapping, classifier: Model) -> dict:
        """This task's own keys of ``music-genre predict --json``."""
        return {}
