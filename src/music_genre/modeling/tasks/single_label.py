"""The single-label task: one genre per track (FMA's genre_top, or the folder), a softmax over genres.

Accuracy and macro F1 against always answering the most frequent genre; registered on
``modeling.registration.metric`` (test macro F1) reaching its threshold; promoted on
``modeling.promotion.metric``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd

from music_genre.common.run_logging import DETAIL
from music_genre.modeling import training
from music_genre.modeling.tasks.base import Task

log = logging.getLogger(__name__)


class SingleLabelTask(Task):
    name = "single_label"
    chance_reason = "no better than chance on validation or test"

    # ---- training --------------------------------------------------------------------------------------

    def train(self, table: pd.DataFrame, modeling: Mapping, arguments: Mapping):
        arguments = dict(arguments)
        feature_sets = arguments.pop("feature_sets", None) or {}
        default_set = arguments.pop("default_feature_set", None)
        from music_genre.modeling import selection

        if feature_sets:  # feature_set auto: the set is chosen with the model, on the user's tracks
            classifier = selection.train_chosen(table, feature_sets, default_set, arguments)
        else:  # one feature set: train_model chooses the type first when it is auto
            classifier = selection.train_model(table, **arguments)
        configured = (
            (modeling.get("hyperparameters") or {}).get("lightgbm", {}).get("min_child_samples")
        )
        if (
            classifier.model_type == "lightgbm"
            and classifier.params.get("min_child_samples") != configured
        ):
            log.info(
                "Small collection: LightGBM min_child_samples %s -> %s, so that its trees can split",
                configured,
                classifier.params.get("min_child_samples"),
            )
        return classifier

    # ---- metrics ---------------------------------------------------------------------------------------

    def evaluate(self, classifier, table: pd.DataFrame) -> dict[str, dict]:
        return training.evaluate_classifier(classifier, table)

    def better_than_chance(self, table: pd.DataFrame, per_split: Mapping[str, Mapping]) -> dict:
        return training.better_than_chance(table, per_split)

    def log_metrics(self, classifier, per_split: Mapping[str, Mapping], chance: Mapping) -> None:
        if not chance["better_than_chance"]:
            log.warning(
                "THIS MODEL IS NO BETTER THAN CHANCE: %s. It will not be registered. Too few tracks "
                "per genre? (docs/configuration.md: the smallest collection that gives a meaningful "
                "model)",
                "; ".join(
                    f"{split} accuracy {v['accuracy']:.2f} vs {v['chance']:.2f} for always answering "
                    "the most frequent genre"
                    for split, v in chance["splits"].items()
                    if not v["better"]
                ),
            )
        for split, values in per_split.items():
            log.info(
                "%s %s: accuracy %.3f, macro F1 %.3f, log loss %.3f (%d tracks)",
                classifier.model_type,
                split,
                values["accuracy"],
                values["f1_macro"],
                values["log_loss"],
                values["n_tracks"],
                extra=None if split == "test" else DETAIL,  # the test split is the run's verdict
            )

    # ---- registry and promotion ------------------------------------------------------------------------

    def registration_gate(self, metrics: Mapping[str, Mapping], registration: Mapping) -> dict:
        """``registration.metric`` (``test.f1_macro``) at or above ``registration.threshold``."""
        split, _, metric = registration.get("metric", "test.f1_macro").partition(".")
        value = float(metrics.get(split, {}).get(metric, float("nan")))
        threshold = float(registration["threshold"])
        passed = value >= threshold
        return {
            "passed": passed,
            "metric": f"{split}.{metric}",
            "value": value,
            "threshold": threshold,
            "verdict": f"{split}.{metric} {value:.4f} {'>=' if passed else '<'} {threshold}",
        }

    def promotion_metric(self, promotion: Mapping) -> str:
        return str(promotion.get("metric", "accuracy"))
