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
from music_genre.modeling.tasks.base import Task, probabilities

log = logging.getLogger(__name__)


class SingleLabelTask(Task):
    name = "single_label"
    chance_reason = "no better than chance on validation or test"
    summary_warning = "no better than chance: not registered; add tracks (docs/configuration.md)"
    figure_caption = "Confusion matrix (test split)"

    # ---- training --------------------------------------------------------------------------------------

    def train(self, table: pd.DataFrame, modeling: Mapping, arguments: Mapping):
        arguments = dict(arguments)
        feature_sets = arguments.pop("feature_sets", None) or {}
        default_set = arguments.pop("default_feature_set", None)
        if feature_sets:  # feature_set auto: the set is chosen with the model, on the user's tracks
            from music_genre.modeling import selection  # noqa: PLC0415

            classifier = selection.train_chosen(table, feature_sets, default_set, arguments)
        else:
            classifier = training.train_classifier(table, **arguments)
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

    # ---- outputs ---------------------------------------------------------------------------------------

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

    # ---- evaluation report -----------------------------------------------------------------------------

    def genre_report(self, predictions, classifier, params, evaluation):
        """Per-genre precision/recall/F1, the confusion matrix figure and the most confused pairs."""
        report = evaluation.report
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

    def largest_errors(self, predictions, classifier, n, evaluation):
        """The lowest probabilities given to the true genre."""
        proba = probabilities(predictions, classifier.classes)
        return evaluation.report.largest_errors(predictions, proba, classifier.classes, n=n)

    def label_issues(self, train, manifest, classifier, k, settings, evaluation):
        """cleanlab's label issues, ranked by self-confidence, on out-of-fold probabilities."""
        report = evaluation.report
        proba = report.out_of_fold_probabilities(
            train,
            classifier.model_type,
            classifier.params,
            k=k,
            seed=int(settings.get("seed", 42)),
            members=classifier.info.get("ensemble_members") or (),
        )
        return report.label_issues(
            train, proba, classifier.classes, paths=manifest[["track_id", "path"]], k=k
        )
