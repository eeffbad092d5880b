"""The multi-label task's words: the tags over their thresholds, Jaccard and Hamming loss against the
label-frequency baseline."""

from __future__ import annotations

from collections.abc import Mapping

from music_genre.data.labels import split_tags
from music_genre.modeling.artifact import TagClassifier
from music_genre.serving.tasks.base import TaskWording


class MultiLabelWording(TaskWording):
    summary_warning = "no better than the label-frequency baseline: not registered"
    figure_caption = "True vs predicted tags (test split)"

    def headline(self, test: Mapping) -> str:
        return f"Jaccard {test['jaccard']:.2f}, Hamming loss {test['hamming_loss']:.3f}"

    def test_summary(self, test: Mapping, model_metrics: Mapping) -> str:
        return (
            f"Jaccard {test['jaccard']:.2f}, Hamming loss {test['hamming_loss']:.3f}, micro F1 "
            f"{test['f1_micro']:.2f} on {int(test.get('n_tracks', 0))} test tracks (label-frequency "
            f"baseline: Jaccard {test['baseline_jaccard']:.2f}, Hamming loss "
            f"{test['baseline_hamming_loss']:.3f})"
        )

    def model_summary(self, model_metrics: Mapping) -> str:
        return f", multi-label over {len(model_metrics.get('classes') or [])} genres"

    def model_card(self, classifier: TagClassifier) -> list[tuple[str, str]]:
        return [("Task", f"multi-label: {len(classifier.classes)} genres, a threshold each")]

    def row_tags(self, row: Mapping) -> list[tuple[str, float]]:
        value = row.get("tags")
        if not isinstance(value, str) or not value:
            return []
        return [(genre, float(row[f"proba_{genre}"])) for genre in split_tags(value)]

    def json_outputs(self, row: Mapping, classifier: TagClassifier) -> dict:
        """``tags``: the genres over their thresholds, with probability and threshold."""
        return {
            "tags": [
                {
                    "genre": genre,
                    "probability": round(p, 6),
                    "threshold": round(float(classifier.thresholds[genre]), 6),
                }
                for genre, p in self.row_tags(row)
            ]
        }


WORDING = MultiLabelWording()
