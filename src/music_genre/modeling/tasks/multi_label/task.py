"""The multi-label task (``modeling.task: multi_label``): every genre of a track, a threshold per genre.

Jaccard and Hamming loss against the label-frequency baseline; registered as
``music-genre-<dataset>-tags`` when ``modeling.registration.multi_label``'s test Jaccard and Hamming loss
both hold; promoted on ``modeling.promotion.multi_label_metric``. Its predictions carry ``tags``: the
genres over their thresholds, most probable first. docs/multi_label.md tells when to use which task.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from music_genre.common.errors import ExpectedError
from music_genre.data.labels import SEPARATOR, TAGS_COLUMN
from music_genre.modeling import training
from music_genre.modeling.tasks.base import Task
from music_genre.modeling.tasks.multi_label import labels as tag_labels
from music_genre.modeling.tasks.multi_label import metrics as tag_metrics
from music_genre.modeling.tasks.multi_label import training as tag_training

log = logging.getLogger(__name__)


class MultiLabelTask(Task):
    name = "multi_label"
    model_suffix = "-tags"
    run_params = "--params=modeling.task=multi_label"
    keeps_multi_genre_tracks = True
    label_columns = (TAGS_COLUMN,)
    output_extras = ("tags",)
    chance_reason = "no better than the label-frequency baseline on validation or test"

    # ---- data ------------------------------------------------------------------------------------------

    def check_collection(self, location: Mapping) -> None:
        if location.get("format", "fma") == "folder":
            raise ExpectedError(
                f"modeling.task=multi_label needs several genres per track, and a folder-per-genre "
                f"collection ({location['root']}) gives each track one (its folder): use "
                "modeling.task=single_label, or an FMA dataset whose tracks.csv lists genres_all"
            )

    def check_model_comparison(self) -> None:
        raise ExpectedError(
            "model_comparison compares single-label models: run it without modeling.task=multi_label "
            "(python benchmarks/multi_label.py compares the model types on the multi-label task)"
        )

    def model_input(self, features: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
        tag_labels.check_has_tags(manifest)
        return super().model_input(features, manifest)

    # ---- training --------------------------------------------------------------------------------------

    def train(self, table: pd.DataFrame, modeling: Mapping, arguments: Mapping):
        """A label set from the training split, one model and threshold per genre."""
        settings = modeling.get("multi_label") or {}
        arguments = dict(arguments)
        feature_sets = arguments.pop("feature_sets", None) or {}
        default_set = arguments.pop("default_feature_set", None)
        arguments.pop("members", None)
        arguments.pop("refit_on_validation", None)
        if (
            feature_sets
        ):  # no cross-validated choice of features for tags yet: the documented default
            from music_genre.modeling import selection

            usable, name = selection.default_set(feature_sets, default_set, table.columns)
            table = selection.restrict(table, usable[name])
            log.info(
                "Multi-label: feature set %s (the default; chosen by CV for single_label)", name
            )
            from music_genre.features import FeatureSettings

            chosen = FeatureSettings.from_dict(usable[name])
            arguments.update(feature_settings=chosen.to_dict(), feature_digest=chosen.digest())
        labels = tag_labels.choose_labels(table, settings)
        model = tag_training.train_tag_classifier(
            table, labels, **arguments, threshold_settings=settings.get("thresholds")
        )
        log.info(
            "Multi-label: %d genres, thresholds %s",
            len(labels),
            ", ".join(f"{g} {t:.2f}" for g, t in model.thresholds.items()),
        )
        return model

    def fingerprint_config(self, modeling: Mapping) -> dict:
        return {"task": self.name, "multi_label": modeling.get("multi_label")}

    def trained_text(self, classifier) -> str:
        return f" tag models for {len(classifier.classes)} genres"

    # ---- metrics ---------------------------------------------------------------------------------------

    def evaluate(self, classifier, table: pd.DataFrame) -> dict[str, dict]:
        return tag_training.evaluate_tag_classifier(classifier, table)

    def better_than_chance(self, table: pd.DataFrame, per_split: Mapping[str, Mapping]) -> dict:
        """A higher Jaccard and a lower Hamming loss than the label-frequency baseline."""
        return tag_training.beats_baseline(per_split)

    def flat_metrics(self, classifier, per_split, table: pd.DataFrame) -> dict[str, float]:
        """Plus ``test.average_precision.Rock``, ...: each genre's AP per split."""
        flat = super().flat_metrics(classifier, per_split, table)
        for split in training.SPLITS:
            part = table[table["split"] == split]
            if part.empty:
                continue
            values = tag_metrics.per_genre_average_precision(
                tag_labels.tag_matrix(part, classifier.classes),
                classifier.predict_proba(part),
                classifier.classes,
            )
            flat.update({f"{split}.average_precision.{g}": v for g, v in values.items()})
        return flat

    def log_metrics(self, classifier, per_split, chance) -> None:
        if not chance["better_than_chance"]:
            log.warning(
                "THIS MODEL IS NO BETTER THAN THE LABEL-FREQUENCY BASELINE: %s. It will not be "
                "registered.",
                "; ".join(
                    f"{split} Jaccard {v['jaccard']:.2f} vs {v['baseline_jaccard']:.2f}, Hamming loss "
                    f"{v['hamming_loss']:.3f} vs {v['baseline_hamming_loss']:.3f}"
                    for split, v in chance["splits"].items()
                    if not v["better"]
                ),
            )
        for split, values in per_split.items():
            log.info(
                "%s tags %s: Jaccard %.3f (baseline %.3f), Hamming loss %.3f (baseline %.3f), micro "
                "F1 %.3f, macro AP %.3f, genres per track %.2f predicted vs %.2f true (%d tracks)",
                classifier.model_type,
                split,
                values["jaccard"],
                values["baseline_jaccard"],
                values["hamming_loss"],
                values["baseline_hamming_loss"],
                values["f1_micro"],
                values["average_precision_macro"],
                values["cardinality_predicted"],
                values["cardinality_true"],
                values["n_tracks"],
            )

    def report_extras(self, classifier) -> dict:
        return {"thresholds": dict(classifier.thresholds)}

    # ---- registry and promotion ------------------------------------------------------------------------

    def registration_gate(self, metrics: Mapping[str, Mapping], registration: Mapping) -> dict:
        """``registration.multi_label``'s test Jaccard reached and its Hamming loss not exceeded, both."""
        gates = dict(registration.get("multi_label") or {"jaccard": 0.3, "hamming_loss": 0.2})
        test = metrics.get("test", {})
        jaccard = float(test.get("jaccard", float("nan")))
        hamming = float(test.get("hamming_loss", float("nan")))
        return {
            "passed": jaccard >= float(gates["jaccard"])
            and hamming <= float(gates["hamming_loss"]),
            "metric": "test.jaccard",
            "value": jaccard,
            "threshold": float(gates["jaccard"]),
            "verdict": (
                f"test.jaccard {jaccard:.4f} {'>=' if jaccard >= gates['jaccard'] else '<'} "
                f"{gates['jaccard']} and test.hamming_loss {hamming:.4f} "
                f"{'<=' if hamming <= gates['hamming_loss'] else '>'} {gates['hamming_loss']}"
            ),
        }

    def promotion_metric(self, promotion: Mapping) -> str:
        return str(promotion.get("multi_label_metric", "jaccard"))

    # ---- outputs ---------------------------------------------------------------------------------------

    def row_outputs(self, classifier, proba) -> dict:
        """``tags``: the genres over their thresholds, ``Rock|Punk``, most probable first."""
        proba = np.asarray(proba)
        chosen = np.flatnonzero(classifier.tags_from_proba(proba[None, :])[0])
        order = sorted(chosen, key=lambda j: -float(proba[j]))
        return {"tags": SEPARATOR.join(classifier.classes[j] for j in order)}
