"""Thin nodes over :mod:`music_genre.modeling.tuning`."""

from __future__ import annotations

import logging

import pandas as pd

log = logging.getLogger(__name__)

_TUNING_ONLY_KEYS = ("enabled_in_default_run", "storage_path")


def tune_hyperparameters(
    model_input_table: pd.DataFrame, tuning: dict, modeling: dict
) -> tuple[dict, pd.DataFrame]:
    """Search LightGBM's hyperparameters on Ray; the best ones are what ``modeling`` uses when
    ``modeling.model.use_tuned_params`` is true. Trials go to MLflow as child runs of this run."""
    from music_genre.modeling.tuning import log_trials_to_mlflow, tune_lightgbm

    result = tune_lightgbm(
        model_input_table,
        {k: v for k, v in tuning.items() if k not in _TUNING_ONLY_KEYS},
        modeling["hyperparameters"]["lightgbm"],
        seed=int(modeling["model"]["seed"]),
        class_weight=modeling["model"].get("class_weight"),
        storage_path=tuning.get("storage_path"),
    )
    log_trials_to_mlflow(result)
    stopped = int(result.trials["stopped_early"].sum())
    log.info(
        "Tuning: %d trials (%d stopped early by ASHA), best %s %.4f with %s",
        len(result.trials),
        stopped,
        result.metric,
        result.best_metric,
        {k: result.best_params[k] for k in result.searched_params},
    )
    return result.best_params, result.trials


def tune_if_enabled(
    model_input_table: pd.DataFrame,
    tuning: dict,
    modeling: dict,
    previous_tuned_lightgbm_params: dict,
) -> dict:
    """In the default run, tune only when ``tuning.enabled_in_default_run`` is true; otherwise keep the
    parameters the last `kedro run --pipelines=tuning` found (or none)."""
    if not tuning.get("enabled_in_default_run"):
        return previous_tuned_lightgbm_params
    best_params, _ = tune_hyperparameters(model_input_table, tuning, modeling)
    return best_params
