"""Thin nodes over :mod:`music_genre.modeling.training` and :mod:`music_genre.modeling.registry`."""

from __future__ import annotations

import logging

import pandas as pd

from music_genre.modeling import training
from music_genre.modeling.artifact import GenreClassifier

log = logging.getLogger(__name__)


def build_model_input(
    features: pd.DataFrame, manifest: pd.DataFrame, modeling: dict
) -> pd.DataFrame:
    return training.model_input_table(features, manifest, _task(modeling))


def _task(modeling: dict) -> str:
    from music_genre.modeling.tags.labels import check_task  # noqa: PLC0415

    return check_task(str(modeling.get("task", "single_label")))


def train_model(
    model_input_table: pd.DataFrame,
    modeling: dict,
    feature_settings: dict,
    tuned_lightgbm_params: dict,
    model_choice: dict | None = None,
) -> GenreClassifier:
    """Train the model type of ``modeling.model`` (or ``model_choice`` in a comparison namespace);
    ``auto`` first picks the type by cross-validation (small collections) or validation (large ones)."""
    from music_genre.features import FeatureSettings  # noqa: PLC0415

    choice = {**modeling["model"], **(model_choice or {})}
    model_type = choice["type"]
    by_type = {name: dict(values) for name, values in modeling["hyperparameters"].items()}
    if choice.get("use_tuned_params") and model_type in ("lightgbm", training.AUTO):
        if tuned_lightgbm_params:
            by_type["lightgbm"].update(tuned_lightgbm_params)
            log.info("Using tuned LightGBM parameters: %s", tuned_lightgbm_params)
        else:
            log.warning("modeling.model.use_tuned_params is true but no tuning has run yet")
    settings = FeatureSettings.from_dict(feature_settings)
    if _task(modeling) == "multi_label":
        classifier = _train_tag_model(model_input_table, modeling, choice, by_type, settings)
    else:
        classifier = _train_single_label(model_input_table, modeling, choice, by_type, settings)
    config = {
        "model": choice,
        "hyperparameters": by_type,
        "selection": modeling.get("selection"),
        "feature_digest": settings.digest(),
    }
    if classifier.task == "multi_label":
        config.update(task=classifier.task, multi_label=modeling.get("multi_label"))
    classifier.info["training_fingerprint"] = training.training_fingerprint(
        model_input_table, config
    )
    # The versions that shape the numbers, in the model and on the MLflow run: a result is reproducible
    # only on the same stack (requirements-lock.txt).
    from music_genre.common.stack import numeric_versions  # noqa: PLC0415
    from music_genre.modeling.registry import tag_active_run  # noqa: PLC0415

    versions = numeric_versions()
    classifier.info["package_versions"] = versions
    tag_active_run(**{f"versions.{name}": version for name, version in versions.items()})
    # Stored in the model, so the CLI and serving can warn about a model that learned nothing.
    per_split = training.evaluate_classifier(classifier, model_input_table)
    classifier.info["better_than_chance"] = training.better_than_chance(
        model_input_table, per_split
    )["better_than_chance"]
    log.info(
        "Trained %s%s on %d tracks in %.1f s%s",
        classifier.model_type,
        f" tag models for {len(classifier.classes)} genres"
        if classifier.task == "multi_label"
        else "",
        classifier.info["n_training"],
        classifier.info["training_seconds"],
        f" (best iteration {classifier.best_iteration})" if classifier.best_iteration else "",
    )
    return classifier


def _train_tag_model(table, modeling, choice, by_type, settings):
    """The multi-label model: a label set from the training split, one model and threshold per genre."""
    from music_genre.modeling.tags.labels import choose_labels  # noqa: PLC0415
    from music_genre.modeling.tags.training import train_tag_classifier  # noqa: PLC0415

    multi = modeling.get("multi_label") or {}
    labels = choose_labels(table, multi)
    model = train_tag_classifier(
        table,
        labels,
        **_training_arguments(modeling, choice, by_type, settings),
        threshold_settings=multi.get("thresholds"),
    )
    log.info(
        "Multi-label: %d genres, thresholds %s",
        len(labels),
        ", ".join(f"{g} {t:.2f}" for g, t in model.thresholds.items()),
    )
    return model


def _training_arguments(modeling, choice, by_type, settings) -> dict:
    """What both tasks' training takes from the configuration (``auto``: every type's parameters)."""
    model_type = choice["type"]
    return {
        "model_type": model_type,
        "hyperparameters": by_type if model_type == training.AUTO else by_type[model_type],
        "seed": int(choice.get("seed", 42)),
        "class_weight": choice.get("class_weight"),
        "feature_settings": settings.to_dict(),
        "feature_digest": settings.digest(),
        "selection": modeling.get("selection"),
    }


def _train_single_label(table, modeling, choice, by_type, settings):
    classifier = training.train_classifier(
        table, **_training_arguments(modeling, choice, by_type, settings)
    )
    configured = by_type.get("lightgbm", {}).get("min_child_samples")
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


def evaluate_model(
    genre_classifier: GenreClassifier, model_input_table: pd.DataFrame
) -> tuple[dict, dict]:
    """Metrics per split, as a JSON report and as MLflow metrics (``test.accuracy``, ...)."""
    per_split = training.evaluate_classifier(genre_classifier, model_input_table)
    flat = training.flat_metrics(genre_classifier, per_split)
    if genre_classifier.task == "multi_label":
        flat.update(_per_genre_ap(genre_classifier, model_input_table))
    chance = training.better_than_chance(model_input_table, per_split)
    if genre_classifier.task == "multi_label":
        _log_tag_metrics(genre_classifier, per_split, chance)
    else:
        _log_metrics(genre_classifier, per_split, chance)
    report = {
        "task": genre_classifier.task,
        "model_type": genre_classifier.model_type,
        "classes": genre_classifier.classes,
        "best_iteration": genre_classifier.best_iteration,
        "training_seconds": genre_classifier.info.get("training_seconds"),
        "params": genre_classifier.params,
        "feature_digest": genre_classifier.feature_digest,
        "training_fingerprint": genre_classifier.info.get("training_fingerprint", ""),
        "feature_set": genre_classifier.feature_settings.get("feature_set", "handcrafted"),
        "better_than_chance": chance["better_than_chance"],
        "chance": chance["splits"],
        "model_selection": genre_classifier.info.get("model_selection"),
        "splits": per_split,
    }
    if genre_classifier.task == "multi_label":
        report["thresholds"] = dict(genre_classifier.thresholds)
    return report, {name: {"value": value, "step": 0} for name, value in flat.items()}


def _per_genre_ap(classifier, table: pd.DataFrame) -> dict[str, float]:
    """``test.average_precision.Rock``, ...: each genre's AP per split, for MLflow."""
    from music_genre.modeling.tags.labels import tag_matrix  # noqa: PLC0415
    from music_genre.modeling.tags.metrics import per_genre_average_precision  # noqa: PLC0415

    flat = {}
    for split in training.SPLITS:
        part = table[table["split"] == split]
        if part.empty:
            continue
        values = per_genre_average_precision(
            tag_matrix(part, classifier.classes), classifier.predict_proba(part), classifier.classes
        )
        flat.update({f"{split}.average_precision.{g}": v for g, v in values.items()})
    return flat


def _log_metrics(classifier, per_split: dict, chance: dict) -> None:
    if not chance["better_than_chance"]:
        log.warning(
            "THIS MODEL IS NO BETTER THAN CHANCE: %s. It will not be registered. Too few tracks per "
            "genre? (docs/configuration.md: the smallest collection that gives a meaningful model)",
            "; ".join(
                f"{split} accuracy {v['accuracy']:.2f} vs {v['chance']:.2f} for always answering the "
                "most frequent genre"
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
        )


def _log_tag_metrics(classifier, per_split: dict, chance: dict) -> None:
    if not chance["better_than_chance"]:
        log.warning(
            "THIS MODEL IS NO BETTER THAN THE LABEL-FREQUENCY BASELINE: %s. It will not be registered.",
            "; ".join(
                f"{split} Jaccard {v['jaccard']:.2f} vs {v['baseline_jaccard']:.2f}, Hamming loss "
                f"{v['hamming_loss']:.3f} vs {v['baseline_hamming_loss']:.3f}"
                for split, v in chance["splits"].items()
                if not v["better"]
            ),
        )
    for split, values in per_split.items():
        log.info(
            "%s tags %s: Jaccard %.3f (baseline %.3f), Hamming loss %.3f (baseline %.3f), micro F1 "
            "%.3f, macro AP %.3f, genres per track %.2f predicted vs %.2f true (%d tracks)",
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


def publish_for_serving(genre_classifier: GenreClassifier) -> GenreClassifier:
    """The model the served pipeline ships: one unversioned file, so the MLflow model that kedro-mlflow
    logs carries this run's model alone (a versioned dataset would ship every version in its folder)."""
    return genre_classifier


def log_model_to_mlflow(genre_classifier: GenreClassifier, model_input_table: pd.DataFrame) -> dict:
    from music_genre.modeling.registry import log_classifier_model  # noqa: PLC0415

    return log_classifier_model(genre_classifier, model_input_table)


def decide_promotion(
    genre_classifier: GenreClassifier,
    champion_genre_classifier: GenreClassifier | None,
    champion_info: dict,
    model_input_table: pd.DataFrame,
    modeling: dict,
) -> dict:
    """Would this model replace the champion? Both scored on the same tracks (the registration hook
    moves the alias only when the model is registered and the answer is yes)."""
    from music_genre.modeling.promotion import compare  # noqa: PLC0415

    decision = compare(
        genre_classifier,
        champion_genre_classifier,
        champion_info,
        model_input_table,
        modeling.get("promotion") or {},
    )
    log.info("Champion/challenger: %s", decision["reason"])
    from music_genre.modeling.registry import tag_active_run  # noqa: PLC0415

    tag_active_run(promote=decision["promote"], promotion=decision["reason"])
    return decision


def request_registration(
    model_metrics: dict,
    mlflow_model: dict,
    promotion_decision: dict,
    modeling: dict,
    dataset: dict,
) -> dict:
    """Register when the test metric reaches the threshold (done by the project hook after the run)."""
    from music_genre.modeling.registry import registration_request  # noqa: PLC0415

    request = registration_request(
        model_metrics["splits"],
        modeling["registration"],
        dataset=str(dataset.get("name")),
        feature_digest=str(model_metrics.get("feature_digest", "")),
        model_type=model_metrics["model_type"],
        run_id=mlflow_model.get("run_id") if mlflow_model.get("logged") else None,
        better_than_chance=bool(model_metrics.get("better_than_chance", True)),
        training_fingerprint=str(model_metrics.get("training_fingerprint", "")),
        promotion=promotion_decision,
        task=str(model_metrics.get("task", "single_label")),
    )
    log.info("Registration: %s", request["reason"])
    return request
