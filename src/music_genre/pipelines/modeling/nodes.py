"""Thin nodes over :mod:`music_genre.training` and :mod:`music_genre.tracking`."""

from __future__ import annotations

import logging

import pandas as pd

from music_genre import training
from music_genre.model import GenreClassifier

log = logging.getLogger(__name__)


def build_model_input(features: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    return training.model_input_table(features, manifest)


def train_model(
    model_input_table: pd.DataFrame,
    modeling: dict,
    feature_engineering: dict,
    tuned_lightgbm_params: dict,
    model_choice: dict | None = None,
) -> GenreClassifier:
    """Train the model type of ``modeling.model`` (or ``model_choice`` in a comparison namespace)."""
    from music_genre.features import FeatureSettings  # noqa: PLC0415

    choice = {**modeling["model"], **(model_choice or {})}
    model_type = choice["type"]
    hyperparameters = dict(modeling["hyperparameters"][model_type])
    if model_type == "lightgbm" and choice.get("use_tuned_params"):
        if tuned_lightgbm_params:
            hyperparameters.update(tuned_lightgbm_params)
            log.info("Using tuned LightGBM parameters: %s", tuned_lightgbm_params)
        else:
            log.warning("modeling.model.use_tuned_params is true but no tuning has run yet")
    settings = FeatureSettings.from_dict(feature_engineering.get("settings") or {})
    classifier = training.train_classifier(
        model_input_table,
        model_type,
        hyperparameters,
        seed=int(choice.get("seed", 42)),
        class_weight=choice.get("class_weight"),
        feature_settings=settings.to_dict(),
        feature_digest=settings.digest(),
    )
    log.info(
        "Trained %s on %d tracks in %.1f s%s",
        model_type,
        classifier.info["n_training"],
        classifier.info["training_seconds"],
        f" (best iteration {classifier.best_iteration})" if classifier.best_iteration else "",
    )
    return classifier


def evaluate_model(
    genre_classifier: GenreClassifier, model_input_table: pd.DataFrame
) -> tuple[dict, dict]:
    """Metrics per split, as a JSON report and as MLflow metrics (``test.accuracy``, ...)."""
    per_split = training.evaluate_classifier(genre_classifier, model_input_table)
    flat = training.flat_metrics(genre_classifier, per_split)
    for split, values in per_split.items():
        log.info(
            "%s %s: accuracy %.3f, macro F1 %.3f, log loss %.3f (%d tracks)",
            genre_classifier.model_type,
            split,
            values["accuracy"],
            values["f1_macro"],
            values["log_loss"],
            values["n_tracks"],
        )
    report = {
        "model_type": genre_classifier.model_type,
        "classes": genre_classifier.classes,
        "best_iteration": genre_classifier.best_iteration,
        "training_seconds": genre_classifier.info.get("training_seconds"),
        "params": genre_classifier.params,
        "feature_digest": genre_classifier.feature_digest,
        "splits": per_split,
    }
    return report, {name: {"value": value, "step": 0} for name, value in flat.items()}


def publish_for_serving(genre_classifier: GenreClassifier) -> GenreClassifier:
    """The model the served pipeline ships: one unversioned file, so the MLflow model that kedro-mlflow
    logs carries this run's model alone (a versioned dataset would ship every version in its folder)."""
    return genre_classifier


def log_model_to_mlflow(genre_classifier: GenreClassifier, model_input_table: pd.DataFrame) -> dict:
    from music_genre.tracking import log_classifier_model  # noqa: PLC0415

    return log_classifier_model(genre_classifier, model_input_table)


def request_registration(
    model_metrics: dict, mlflow_model: dict, modeling: dict, dataset: dict
) -> dict:
    """Register when the test metric reaches the threshold (done by the project hook after the run)."""
    from music_genre.tracking import registration_request  # noqa: PLC0415

    request = registration_request(
        model_metrics["splits"],
        modeling["registration"],
        dataset=str(dataset.get("name")),
        feature_digest=str(model_metrics.get("feature_digest", "")),
        model_type=model_metrics["model_type"],
        run_id=mlflow_model.get("run_id") if mlflow_model.get("logged") else None,
    )
    log.info("Registration: %s", request["reason"])
    return request
