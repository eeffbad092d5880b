"""Champion and challenger: a new model serves only when it beats the one in service.

The comparison is made on the same tracks for both (the test split and, after retraining, the newest
labelled batch, split ``recent``, which the challenger did not train on), with the metric and margin of
``modeling.promotion``. A champion trained on other features (another feature set) cannot be scored on
these tracks: then the challenger must beat the score the champion had on its own test split.

Each task has its own champion (its own registered model and local copy): a challenger only ever meets
the champion of its own task, on that task's metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from music_genre.modeling.artifact import GenreClassifier
from music_genre.modeling.tasks import task_of

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"


def score(classifier: GenreClassifier, table: pd.DataFrame, splits, metric: str) -> dict:
    """``metric`` of the classifier on the table's rows of ``splits`` whose genre it knows."""
    splits = [splits] if isinstance(splits, str) else list(splits)
    part = table[table["split"].isin(splits) & table["genre"].isin(classifier.classes)]
    if part.empty:
        return {"value": float("nan"), "n_tracks": 0}
    values = task_of(classifier).evaluate(classifier, part.assign(split="test"))["test"]
    return {"value": float(values[metric]), "n_tracks": int(values["n_tracks"])}


def compare(
    challenger: GenreClassifier,
    champion: GenreClassifier | None,
    champion_info: Mapping | None,
    table: pd.DataFrame,
    promotion: Mapping,
) -> dict:
    """Whether the challenger should replace the champion, with both scores and the reason."""
    splits = promotion.get("splits", ["test", "recent"])
    # the metric is named after the splits it is measured on: ``recent`` has rows only after retraining
    present = [name for name in splits if (table["split"] == name).any()]
    split = "+".join(present or splits)
    task = task_of(challenger)
    metric = task.promotion_metric(promotion)
    margin = float(promotion.get("margin", 0.0))
    mine = score(challenger, table, splits, metric)
    decision = {
        "metric": f"{split}.{metric}",
        "margin": margin,
        "challenger": {
            "version": challenger.version,
            "score": mine["value"],
            "n_tracks": mine["n_tracks"],
        },
        "champion": None,
        "like_for_like": True,
    }
    if champion is None:
        return {
            **decision,
            "promote": True,
            "reason": "no champion yet: the first registered model becomes the champion",
        }
    if task_of(champion) is not task:  # a copy from before each task kept its own champion
        return {
            **decision,
            "promote": True,
            "reason": f"the local champion copy is a {task_of(champion).name} model, not comparable: "
            f"the first registered {task.name} model becomes the {task.name} champion",
        }
    if champion.feature_digest == challenger.feature_digest:
        theirs = score(champion, table, splits, metric)
    else:
        recorded = (champion_info or {}).get("score")
        theirs = {"value": float("nan") if recorded is None else float(recorded), "n_tracks": None}
        decision["like_for_like"] = False
    decision["champion"] = {
        "version": champion.version,
        "registry_version": (champion.info.get("registry") or {}).get("version"),
        "score": theirs["value"],
        "n_tracks": theirs["n_tracks"],
    }
    if math.isnan(mine["value"]):
        return {**decision, "promote": False, "reason": f"no {split} tracks to compare on"}
    if math.isnan(theirs["value"]):
        return {**decision, "promote": True, "reason": "the champion has no score to beat"}
    better = mine["value"] >= theirs["value"] + margin
    how = "" if decision["like_for_like"] else " (the champion's own score: it uses other features)"
    reason = (
        f"challenger {split}.{metric} {mine['value']:.4f} "
        f"{'>=' if better else '<'} champion {theirs['value']:.4f} + margin {margin}{how}"
    )
    return {**decision, "promote": better, "reason": reason}
