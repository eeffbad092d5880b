"""The single-label task's words: accuracy and macro F1, against always answering the most frequent
genre."""

from __future__ import annotations

from collections.abc import Mapping

from music_genre.serving.tasks.base import TaskWording


class SingleLabelWording(TaskWording):
    summary_warning = "no better than chance: not registered; add tracks (docs/configuration.md)"
    figure_caption = "Confusion matrix (test split)"

    def headline(self, test: Mapping) -> str:
        return f"accuracy {test['accuracy']:.2f}, macro F1 {test['f1_macro']:.2f}"

    def test_summary(self, test: Mapping, model_metrics: Mapping) -> str:
        line = (
            f"accuracy {test['accuracy']:.2f}, macro F1 {test['f1_macro']:.2f} on "
            f"{int(test.get('n_tracks', 0))} test tracks"
        )
        chance = (model_metrics.get("chance") or {}).get("test", {}).get("chance")
        if chance is not None:
            line += f" (always answering the most frequent genre: {chance:.2f})"
        return line


WORDING = SingleLabelWording()
