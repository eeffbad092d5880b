"""Thin nodes over :mod:`music_genre.modeling.training` and :mod:`music_genre.modeling.registry`."""

from __future__ import annotations

import logging

import pandas as pd

from music_genre.common.run_logging import DETAIL
from music_genre.modeling import cross_validation, training
from music_genre.modeling.artifact import GenreClassifier
from music_genre.modeling.tasks import Task, task_of, task_of_params

log = logging.getLogger(__name__)


def build_model_input(
    features: pd.DataFrame, manifest: pd.DataFrame, modeling: dict
) -> pd.DataFrame:
    return _task(modeling).model_input(features, manifest)


def _task(modeling: dict) -> Task:
    return task_of_params(modeling)


def train_model(
    model_input_table: pd.DataFrame,
    modeling: dict,
    feature_settings: dict,
    tuned_lightgbm_params: dict,
    model_choice: dict | None = None,
    feature_set_candidates: dict | None = None,
) -> GenreClassifier:
    """Train the model type of ``modeling.model`` (or ``model_choice`` in a comparison namespace) for
    ``modeling.task``; ``auto`` first picks the type by cross-validation (small collections) or
    validation (large ones)."""
    from music_genre.features import FeatureSettings

    task = _task(modeling)
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
    classifier = task.train(
        model_input_table,
        {**modeling, "hyperparameters": by_type},
        _training_arguments(
            modeling, choice, by_type, settings, len(model_input_table), feature_set_candidates
        ),
    )
    config = {
        "model": choice,
        "hyperparameters": by_type,
        "selection": modeling.get("selection"),
        "feature_digest": settings.digest(),
        "feature_sets": {  # digests: where the weights lie is no part of what a model is
            name: FeatureSettings.from_dict(values).digest()
            for name, values in ((feature_set_candidates or {}).get("sets") or {}).items()
        },
        **task.fingerprint_config(modeling),
    }
    classifier.info["training_fingerprint"] = training.training_fingerprint(
        model_input_table, config
    )
    # How far a file lies from the training tracks ("is this music the model knows?"): plain data.
    from music_genre.modeling.familiarity import fit_for_model

    classifier.info["familiarity"] = fit_for_model(classifier, model_input_table, modeling, choice)
    # The versions that shape the numbers, in the model and on the MLflow run: a result is reproducible
    # only on the same stack (requirements-lock.txt).
    from music_genre.common.stack import numeric_versions
    from music_genre.modeling.registry import tag_active_run

    versions = numeric_versions()
    classifier.info["package_versions"] = versions
    tag_active_run(**{f"versions.{name}": version for name, version in versions.items()})
    # Stored in the model, so the CLI and serving can warn about a model that learned nothing.
    per_split = task.evaluate(classifier, model_input_table)
    classifier.info["better_than_chance"] = task.better_than_chance(model_input_table, per_split)[
        "better_than_chance"
    ]
    log.info(
        "Trained %s%s on %d tracks in %.1f s%s",
        classifier.model_type,
        task.trained_text(classifier),
        classifier.info["n_training"],
        classifier.info["training_seconds"],
        f" (best iteration {classifier.best_iteration})" if classifier.best_iteration else "",
    )
    return classifier


def _training_arguments(modeling, choice, by_type, settings, table_size, candidates) -> dict:
    """What every task's training takes from the configuration (``auto`` and ``ensemble``: every type's
    parameters; ``feature_sets``: the candidate sets of ``feature_set: auto``, chosen by CV)."""
    model_type = choice["type"]
    selection = dict(modeling.get("selection") or {})
    refit = choice.get("refit_on_validation", "auto")
    if refit == "auto":  # small collections: every labelled track counts
        refit = cross_validation.small_collection(table_size, selection)
    candidates = dict(candidates or {})
    return {
        "model_type": model_type,
        "hyperparameters": by_type
        if model_type in (training.AUTO, training.ENSEMBLE)
        else by_type[model_type],
        "seed": int(choice["seed"]),
        "class_weight": choice.get("class_weight"),
        "feature_settings": settings.to_dict(),
        "feature_digest": settings.digest(),
        "selection": selection,
        "refit_on_validation": bool(refit),
        "members": list(choice.get("members") or []),
        "feature_sets": candidates.get("sets") or {},
        "default_feature_set": candidates.get("default"),
    }


def evaluate_model(
    genre_classifier: GenreClassifier, model_input_table: pd.DataFrame
) -> tuple[dict, dict]:
    """Metrics per split, as a JSON report and as MLflow metrics (``test.accuracy``, ...)."""
    task = task_of(genre_classifier)
    per_split = task.evaluate(genre_classifier, model_input_table)
    flat = task.flat_metrics(genre_classifier, per_split, model_input_table)
    chance = task.better_than_chance(model_input_table, per_split)
    task.log_metrics(genre_classifier, per_split, chance)
    report = {
        "task": task.name,
        "model_type": genre_classifier.model_type,
        "classes": genre_classifier.classes,
        "best_iteration": genre_classifier.best_iteration,
        "training_seconds": genre_classifier.info.get("training_seconds"),
        "params": genre_classifier.params,
        "feature_digest": genre_classifier.feature_digest,
        "training_fingerprint": genre_classifier.info.get("training_fingerprint", ""),
        "feature_set": genre_classifier.info.get("feature_set")
        or genre_classifier.feature_settings.get("feature_set", "handcrafted"),
        "feature_set_choice": genre_classifier.info.get("feature_set_choice"),
        "n_features": len(genre_classifier.feature_columns),
        "fitted_on": genre_classifier.info.get("fitted_on"),
        "better_than_chance": chance["better_than_chance"],
        "chance": chance["splits"],
        "model_selection": genre_classifier.info.get("model_selection"),
        "splits": per_split,
        **task.report_extras(genre_classifier),
    }
    return report, {name: {"value": value, "step": 0} for name, value in flat.items()}


def publish_for_serving(genre_classifier: GenreClassifier) -> GenreClassifier:
    """The model the served pipeline ships: one unversioned file, so the MLflow model that kedro-mlflow
    logs carries this run's model alone (a versioned dataset would ship every version in its folder)."""
    return genre_classifier


def log_model_to_mlflow(genre_classifier: GenreClassifier, model_input_table: pd.DataFrame) -> dict:
    from music_genre.modeling.registry import log_classifier_model

    return log_classifier_model(genre_classifier, model_input_table)


def decide_promotion(
    genre_classifier: GenreClassifier,
    champion_genre_classifier: GenreClassifier | None,
    champion_info: dict,
    model_input_table: pd.DataFrame,
    modeling: dict,
) -> dict:
    """Would this model replace the champion of its task (``champion_genre_classifier``: the copy of
    ``modeling.task``'s)? Both scored on the same tracks (registration at the run's end,
    :mod:`music_genre.modeling.champion`, moves the alias only when the model is registered and the
    answer is yes, compared again when the champion changed meanwhile)."""
    from music_genre.modeling.promotion import compare

    decision = compare(
        genre_classifier,
        champion_genre_classifier,
        champion_info,
        model_input_table,
        modeling.get("promotion") or {},
    )
    log.info("Champion/challenger: %s", decision["reason"], extra=DETAIL)
    from music_genre.modeling.registry import tag_active_run

    tag_active_run(promote=decision["promote"], promotion=decision["reason"])
    return decision


def keep_registration_candidate(
    genre_classifier: GenreClassifier, model_input_table: pd.DataFrame, modeling: dict
):
    """This run's model and the tracks it was compared with the champion on, kept in memory for the
    registration at the run's end (:func:`music_genre.modeling.champion.register_run`): the shared
    files may be rewritten by another run on the same dataset meanwhile.

    Args:
        genre_classifier: the model this run trained.
        model_input_table: the table it was scored on (only ``modeling.promotion.splits`` is kept).
        modeling: the ``modeling`` parameters (their ``promotion`` block).

    Returns:
        A :class:`music_genre.modeling.champion.RegistrationCandidate`.
    """
    from music_genre.modeling.champion import registration_candidate

    return registration_candidate(
        genre_classifier, model_input_table, modeling.get("promotion") or {}
    )


def request_registration(
    model_metrics: dict,
    mlflow_model: dict,
    promotion_decision: dict,
    modeling: dict,
    dataset: dict,
) -> dict:
    """Register when the test metric reaches the threshold (done at the run's end, once kedro-mlflow has
    logged the served model: :func:`music_genre.modeling.champion.register_run`)."""
    from music_genre.modeling.registry import registration_request

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
        task=model_metrics.get("task"),
    )
    log.info("Registration: %s", request["reason"], extra=DETAIL)
    return request


def report_model_selection(genre_classifier) -> pd.DataFrame:
    """``model_cv.csv``: every feature set x model type the run scored to choose (empty when nothing was
    chosen: a named feature set and model type)."""
    from music_genre.modeling.selection import selection_table

    return selection_table(genre_classifier.info.get("model_selection"))
