"""The evaluation's one-page Markdown summary, linking the saved PNG figures by file name."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from music_genre.evaluation.calibration import ALL_GENRES

# File names summary_markdown links by default; the catalog's MatplotlibDataset entries for the
# figures should save under these names in the same folder as the Markdown (or pass context["figures"]).
FIGURE_FILES = {
    "confusion_matrix": "confusion_matrix.png",
    "feature_importance": "feature_importance.png",
    "reliability": "reliability_diagram.png",
}


def _format_cell(value: Any, float_format: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return float_format.format(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    frame: pd.DataFrame, float_format: str = "{:.3f}", max_rows: int | None = None
) -> str:
    """A GitHub-flavoured Markdown table (no ``tabulate`` needed); the index is left out."""
    if frame is None or frame.empty:
        return "_(none)_"
    shown = frame if max_rows is None else frame.head(max_rows)
    header = "| " + " | ".join(str(c) for c in shown.columns) + " |"
    rule = (
        "| "
        + " | ".join(
            "---:" if pd.api.types.is_numeric_dtype(shown[c]) else "---" for c in shown.columns
        )
        + " |"
    )
    body = [
        "| " + " | ".join(_format_cell(v, float_format) for v in row) + " |"
        for row in shown.itertuples(index=False, name=None)
    ]
    lines = [header, rule, *body]
    if max_rows is not None and len(frame) > max_rows:
        lines.append(f"\n_{len(frame) - max_rows} more rows not shown_")
    return "\n".join(lines)


def _metrics_frame(metrics: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    rows = [{"split": split, **dict(values)} for split, values in metrics.items()]
    frame = pd.DataFrame(rows)
    if "n_tracks" in frame.columns:
        frame["n_tracks"] = frame["n_tracks"].astype("Int64")
    return frame


# The summary's task-specific wording (one genre per track's here): a task's ``report_texts`` replace
# any of them (music_genre.modeling.tasks).
REPORT_TEXTS = {
    "warning": "**Warning: this model is no better than always answering the most frequent genre. It "
    "was not registered. Add tracks (see docs/configuration.md for the smallest useful collection).**",
    "confusions": "Confusions",
    "figure": "confusion matrix",
    "pairs": "Most frequent confusions (rate = share of the true genre's tracks):",
    "largest": "Surest mistakes (least probability on the true genre):",
}


def summary_markdown(context: Mapping[str, Any]) -> str:
    """A one-page Markdown report of the evaluation, linking the saved PNG figures by file name.

    Context keys (all optional; a missing section says it was not computed):

    - ``title``: heading (default "Evaluation report"); ``model_type``: e.g. "lightgbm";
      ``split``: the split the per-class tables describe (default "test").
    - ``intro``: lines after the model line (the task's, e.g. what a multi-label report shows);
      ``texts``: the task's wording, replacing any of :data:`REPORT_TEXTS` (the warning shown when
      ``better_than_chance`` is False, the confusion section's heading, figure and captions).
    - ``metrics``: ``{split: {metric: value}}`` as :func:`music_genre.modeling.training.evaluate_classifier`
      returns (headline metrics per split).
    - ``per_class``: :func:`per_class_report`; ``top_confused``: :func:`top_confused_pairs`.
    - ``feature_importance``: :func:`feature_importance_table`.
    - ``label_issues`` and ``label_issue_summary``: the two results of :func:`label_issues`;
      ``top_issues``: how many suspects to list (default 10).
    - ``confidence_slices``: :func:`confidence_slices` (its ``all`` rows are shown);
      ``ece``: the expected calibration error from :func:`reliability`.
    - ``figures``: ``{"confusion_matrix" | "feature_importance" | "reliability": file name}`` relative
      to the Markdown file; defaults to :data:`FIGURE_FILES`.
    """
    figures = {**FIGURE_FILES, **dict(context.get("figures") or {})}
    split = context.get("split", "test")
    lines = [f"# {context.get('title', 'Evaluation report')}", ""]
    if context.get("model_type"):
        feature_set = f", features `{context['feature_set']}`" if context.get("feature_set") else ""
        lines += [f"Model: `{context['model_type']}`{feature_set}", ""]
    texts = {**REPORT_TEXTS, **dict(context.get("texts") or {})}
    lines += list(context.get("intro") or [])
    if context.get("better_than_chance") is False:
        lines += [texts["warning"], ""]
    if context.get("suspect_tags") is not None:  # a library's own tags: what its owner reads first
        from music_genre.evaluation.suspects import suspect_markdown

        top = int(context.get("top_issues", 10))
        lines += suspect_markdown(context["suspect_tags"], top, markdown_table)

    lines += ["## Headline metrics", ""]
    metrics = context.get("metrics")
    lines += [markdown_table(_metrics_frame(metrics)) if metrics else "_not computed_", ""]

    lines += [f"## Per-genre results ({split})", ""]
    per_class = context.get("per_class")
    lines += [markdown_table(per_class) if per_class is not None else "_not computed_", ""]
    if per_class is not None:
        genres = per_class[
            ~per_class["genre"].isin(["macro avg", "weighted avg", "micro avg", "samples avg"])
        ]
        unmeasured = genres.loc[genres["support"] == 0, "genre"].tolist()
        if unmeasured:
            lines += [
                f"No {split} tracks for {', '.join(map(str, unmeasured))}: their rows are 0 by "
                "convention, not measured.",
                "",
            ]

    lines += [
        f"## {texts['confusions']} ({split})",
        "",
        f"![{texts['figure']}]({figures['confusion_matrix']})",
        "",
    ]
    top_confused = context.get("top_confused")
    lines += [texts["pairs"], ""]
    lines += [markdown_table(top_confused) if top_confused is not None else "_not computed_", ""]
    largest = context.get("largest_errors")
    if largest is not None:
        lines += [
            texts["largest"],
            "",
            markdown_table(largest, max_rows=10) if not largest.empty else "_none_",
            "",
        ]

    lines += ["## Feature importance", ""]
    importance = context.get("feature_importance")
    if importance is not None and not importance.empty:
        lines += [f"![feature importance]({figures['feature_importance']})", ""]
        lines += [markdown_table(importance, max_rows=10), ""]
    else:
        lines += ["_this model type reports no feature importances_", ""]

    lines += ["## Label quality (cleanlab, out-of-fold on the training split)", ""]
    summary = context.get("label_issue_summary")
    if summary and summary.get("skipped"):
        lines += [f"_skipped: {summary['skipped']}_", ""]
    elif summary:
        folds = f", {summary['k']}-fold" if summary.get("k") else ""
        lines += [
            f"Suspect labels: **{summary['count']}** of {summary.get('n_training', '?')} training "
            f"tracks ({summary['fraction_of_training']:.1%}{folds}).",
            "",
        ]
        issues = context.get("label_issues")
        if issues is not None:
            top_issues = int(context.get("top_issues", 10))
            lines += [f"Top {top_issues} suspects (lowest self-confidence first):", ""]
            lines += [markdown_table(issues, max_rows=top_issues), ""]
    else:
        lines += ["_not computed_", ""]

    lines += ["## Confidence and calibration", ""]
    ece = context.get("ece")
    slices = context.get("confidence_slices")
    if ece is None and slices is None:
        lines += ["_not computed_", ""]
    else:
        lines += [f"![reliability diagram]({figures['reliability']})", ""]
    if ece is not None:
        lines += [f"Expected calibration error (ECE): **{ece:.3f}**", ""]
    if slices is not None and not slices.empty:
        lines += [markdown_table(slices[slices["genre"] == ALL_GENRES]), ""]
    return "\n".join(lines).rstrip() + "\n"
