"""Tune LightGBM's hyperparameters with Ray Tune: ASHA stops poor trials early, Optuna proposes new ones.

Why it is cheap: a boosting run is a sequence of rounds, and a poor configuration usually shows it after a
few of them. Every trial therefore reports the validation multi_logloss (and accuracy) to Tune every
``report_every`` boosting rounds through a LightGBM callback; one report is one Tune
``training_iteration``. ASHA (asynchronous successive halving) compares each trial at fixed rungs
(``grace_period``, ``grace_period * reduction_factor``, ... reports) with the trials that reached the same
rung before it, and stops it unless it is in the best ``1 / reduction_factor`` there. Trials do NOT use
LightGBM's early stopping: ASHA is the only stopper, so a trial that trained fewer than ``num_boost_round``
rounds was stopped by ASHA. Optuna's TPE (seeded) proposes the next configurations from the finished ones
(a stopped trial counts with its last, early, value); ``search_alg: random`` samples them at random.
ASHA favours configurations that learn fast (a high learning rate looks good at early rungs): keep
``grace_period`` and ``report_every`` large enough that the first rung means something on the real data.

The data goes to the trials once, through Ray's object store (``tune.with_parameters``), as numpy
arrays. Ray must already run (the project's hook starts it for nodes tagged ``ray``); nothing here calls
``ray.init``. MLflow child runs are written afterwards from the driver (:func:`log_trials_to_mlflow`), so
trials never write to the tracking store concurrently (SQLite would lock).

This module is the Ray Tune driver and the trial that runs in a Ray worker; the search space and the
settings live in :mod:`music_genre.modeling.tuning_space`, the result, the trials table and the MLflow
logging in :mod:`music_genre.modeling.tuning_results` (both re-exported here).

Ray, LightGBM, Optuna and MLflow load inside functions: importing this module costs nothing.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from music_genre.modeling.tuning_results import (
    ERROR,
    TERMINATED,
    TuningResult,
    _best_report,
    _history,
    _trial_row,
    log_trials_to_mlflow,
)
from music_genre.modeling.tuning_space import (
    DEFAULT_TUNING,
    REPORTED_METRICS,
    SEARCH_ALGORITHMS,
    SPACE_TYPES,
    _trial_hyperparameters,
    _tuning_settings,
    search_space,
)

__all__ = [
    "DEFAULT_TUNING",
    "ERROR",
    "REPORTED_METRICS",
    "SEARCH_ALGORITHMS",
    "SPACE_TYPES",
    "TERMINATED",
    "TuningResult",
    "log_trials_to_mlflow",
    "search_space",
    "tune_lightgbm",
]

log = logging.getLogger(__name__)


def _trial_logger(tune, metric: str, total: int):
    """A Tune callback that logs one line per finished trial (and nothing else)."""

    class TrialLogger(tune.Callback):
        def __init__(self) -> None:
            self.finished = 0

        def _line(self, trial, how: str) -> None:
            self.finished += 1
            result = trial.last_result or {}
            value = result.get(metric)
            score = f"{metric} {value:.4f}" if isinstance(value, int | float) else "no score"
            rounds = result.get("rounds", result.get("training_iteration", "?"))
            log.info(
                "Trial %d/%d %s: %s after %s reports", self.finished, total, how, score, rounds
            )

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            self._line(trial, "finished")

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            self._line(trial, "failed")

    return TrialLogger()


# ---------------------------------------------------------------------------------------------------
# The trial (runs in a Ray worker)


def _tune_report_callback(report_every: int):
    """A LightGBM callback that reports the validation metrics to Tune every ``report_every`` rounds."""
    from ray import tune

    def report(env) -> None:
        rounds_done = env.iteration + 1
        if rounds_done % report_every and rounds_done != env.end_iteration:
            return
        values = {name: value for _, name, value, *_ in env.evaluation_result_list}
        tune.report(
            {
                "boosting_round": rounds_done,
                "validation_multi_logloss": float(values["multi_logloss"]),
                "validation_accuracy": 1.0 - float(values["multi_error"]),
            }
        )

    report.order = 30  # after LightGBM's own callbacks
    return report


def _train_trial(config: dict, *, data: dict, settings: dict) -> None:
    """One Tune trial: boost up to ``num_boost_round`` rounds, reporting as it goes, until ASHA stops it."""
    import lightgbm as lgb

    from music_genre.modeling.training import lightgbm_params

    hyperparameters = _trial_hyperparameters(settings["base_hyperparameters"], config)
    params = lightgbm_params(hyperparameters, settings["n_classes"], settings["seed"])
    params.update(metric=["multi_logloss", "multi_error"], num_threads=settings["trial_cpus"])
    train_set = lgb.Dataset(data["x_train"], label=data["y_train"], weight=data["w_train"])
    valid_set = lgb.Dataset(data["x_valid"], label=data["y_valid"], reference=train_set)
    lgb.train(
        params,
        train_set,
        num_boost_round=settings["num_boost_round"],
        valid_sets=[valid_set],
        valid_names=["validation"],
        callbacks=[_tune_report_callback(settings["report_every"])],
    )


# ---------------------------------------------------------------------------------------------------
# The driver


def _trial_data(table: pd.DataFrame, class_weight: str | None) -> tuple[dict, list[str]]:
    """Training and validation arrays (labels as class indices) exactly as train_classifier builds them."""
    from music_genre.modeling.training import _check_splits, feature_columns, sample_weights

    _check_splits(table)
    columns = feature_columns(table)
    classes = sorted(table["genre"].unique())
    index = {genre: i for i, genre in enumerate(classes)}
    train = table[table["split"] == "training"]
    valid = table[table["split"] == "validation"]
    data = {
        "x_train": np.ascontiguousarray(train[columns].to_numpy(np.float64)),
        "y_train": train["genre"].map(index).to_numpy(np.int32),
        "w_train": sample_weights(train["genre"], class_weight),
        "x_valid": np.ascontiguousarray(valid[columns].to_numpy(np.float64)),
        "y_valid": valid["genre"].map(index).to_numpy(np.int32),
    }
    return data, classes


def _search_algorithm(name: str, metric: str, mode: str, space: dict, seed: int):
    """A seeded searcher, and the name of the one used: Optuna's TPE, or random search as a fallback.

    Optuna is checked on a throw-away searcher first (one ask and tell), so an Optuna release Ray does not
    support falls back to random search with a warning instead of failing mid-run.
    """
    from ray.tune.search.basic_variant import BasicVariantGenerator

    if name == "optuna":
        try:
            import optuna
            from ray.tune.search.optuna import OptunaSearch

            verbosity = optuna.logging.get_verbosity()
            optuna.logging.set_verbosity(optuna.logging.WARNING)  # the probe's study is no news
            try:
                probe = OptunaSearch(seed=seed)
                probe.set_search_properties(metric, mode, space)
                if probe.suggest("probe") is None:
                    raise RuntimeError("OptunaSearch suggested nothing")
                probe.on_trial_complete("probe", {metric: 1.0})
            finally:
                optuna.logging.set_verbosity(verbosity)
            # Optuna's own INFO lines (a new study, each trial) would double the one line per trial.
            optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
            return OptunaSearch(seed=seed), "optuna"
        except Exception as err:  # any failure means: use random search instead
            log.warning(
                "Optuna search is unusable here (%s: %s); using random search",
                type(err).__name__,
                err,
            )
    return BasicVariantGenerator(random_state=seed), "random"


def _storage_folder(storage_path: str | None) -> tuple[str, str | None]:
    """Where Tune writes (absolute or a URI), and a temp folder to delete afterwards (or None)."""
    if storage_path is None:
        folder = tempfile.mkdtemp(prefix="music_genre_tuning_")
        return folder, folder
    if "://" in str(storage_path):  # s3://, gs://: shared storage for a multi-node cluster
        return str(storage_path), None
    path = Path(storage_path).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return str(path), None


def tune_lightgbm(
    table: pd.DataFrame,
    tuning: Mapping,
    base_hyperparameters: Mapping,
    *,
    seed: int = 42,
    class_weight: str | None = None,
    storage_path: str | None = None,
) -> TuningResult:
    """Search LightGBM hyperparameters on the training split, judged on the validation split.

    ``tuning``: num_samples, max_concurrent_trials, num_boost_round (per trial), metric
    (validation_multi_logloss or validation_accuracy) and mode, report_every (rounds per report),
    scheduler {grace_period, reduction_factor} (ASHA, counted in reports), search_alg (optuna|random),
    search_space (see :func:`search_space`), trial_cpus (Ray CPUs and LightGBM threads per trial),
    verbose (Tune's console output, 0-2). ``storage_path`` keeps Tune's experiment files (an absolute
    folder, created; on a multi-node cluster it must be shared storage or a URI); by default they go to
    a temporary folder that is deleted afterwards. Needs a running Ray.
    """
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    if not ray.is_initialized():
        raise RuntimeError(
            "Ray is not running: tag the node `ray` (the project's hook starts Ray for it) or call "
            "music_genre.common.ray_runtime.start_ray first"
        )
    settings = _tuning_settings(tuning)
    metric, mode = settings["metric"], settings["mode"]
    num_boost_round, report_every = settings["num_boost_round"], settings["report_every"]
    space = search_space(settings["search_space"])
    data, classes = _trial_data(table, class_weight)
    max_reports = math.ceil(num_boost_round / report_every)
    grace_period = int(settings["scheduler"]["grace_period"])
    reduction_factor = float(settings["scheduler"]["reduction_factor"])
    if not 1 <= grace_period <= max_reports:
        raise ValueError(
            f"tuning.scheduler.grace_period {grace_period} must be between 1 and the reports per trial "
            f"({max_reports} = num_boost_round / report_every)"
        )
    scheduler = ASHAScheduler(
        time_attr="training_iteration",
        max_t=max_reports,
        grace_period=grace_period,
        reduction_factor=reduction_factor,
    )
    search_alg, search_alg_name = _search_algorithm(
        settings["search_alg"], metric, mode, space, seed
    )
    trial_settings = {
        "base_hyperparameters": dict(base_hyperparameters or {}),
        "n_classes": len(classes),
        "seed": int(seed),
        "num_boost_round": num_boost_round,
        "report_every": report_every,
        "trial_cpus": settings["trial_cpus"],
    }
    trainable = tune.with_resources(
        tune.with_parameters(_train_trial, data=data, settings=trial_settings),
        {"cpu": settings["trial_cpus"]},
    )
    storage, temporary = _storage_folder(storage_path)
    experiment_name = f"lightgbm_tuning_{time.strftime('%Y%m%d-%H%M%S')}_{uuid.uuid4().hex[:6]}"
    log.info(
        "Tuning LightGBM: %d trials (%s search, ASHA over %d reports of %d rounds) on %d training / "
        "%d validation tracks",
        settings["num_samples"],
        search_alg_name,
        max_reports,
        report_every,
        len(data["y_train"]),
        len(data["y_valid"]),
    )
    # Tune's newer console output prints a configuration box and result paths whatever `verbose` says;
    # its own switch turns back to the reporter that honours verbose=0 (one log line per trial is ours).
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    try:
        tuner = tune.Tuner(
            trainable,
            param_space=space,
            tune_config=tune.TuneConfig(
                metric=metric,
                mode=mode,
                scheduler=scheduler,
                search_alg=search_alg,
                num_samples=settings["num_samples"],
                max_concurrent_trials=settings["max_concurrent_trials"],
                # A new trial reuses a finished one's worker (same resources): no process start and
                # LightGBM import per trial, and an ASHA-stopped trial ends at its next report
                # instead of its worker being killed. Several times faster on small tables.
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=experiment_name,
                storage_path=storage,
                verbose=int(settings["verbose"]),
                callbacks=[_trial_logger(tune, metric, settings["num_samples"])],
            ),
        )
        results = tuner.fit()
        trials, history, configs = [], {}, {}
        for result in results:
            trial_id = str((result.metrics or {}).get("trial_id") or Path(result.path).name)
            history[trial_id] = _history(result)
            configs[trial_id] = dict(result.config or {})
            trials.append(
                _trial_row(
                    trial_id,
                    configs[trial_id],
                    history[trial_id],
                    result.error,
                    num_boost_round,
                    metric,
                    mode,
                )
            )
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)
    frame = pd.DataFrame(trials)
    reported = frame[frame["iterations_reported"] > 0]
    if reported.empty:
        raise RuntimeError(
            f"no tuning trial reported a result; first error: {frame['error'].iloc[0]}"
        )
    failed = int((frame["status"] == ERROR).sum())
    if failed:
        log.warning(
            "%d of %d tuning trials failed: %s", failed, len(frame), frame["error"].dropna().iloc[0]
        )

    best_by_trial = {
        trial_id: _best_report(history[trial_id], metric, mode) for trial_id in reported["trial_id"]
    }
    pick = min if mode == "min" else max
    best_trial_id = pick(best_by_trial, key=lambda trial_id: best_by_trial[trial_id][1])
    best_round, best_metric = best_by_trial[best_trial_id]
    best_params = _trial_hyperparameters(base_hyperparameters, configs[best_trial_id])
    # Trials report every report_every rounds, so the best round is only known to that precision.
    best_params["num_boost_round"] = min(
        num_boost_round, math.ceil(best_round / report_every) * report_every
    )
    log.info(
        "Best of %d trials: %s (%s %.4f at round %d); ASHA stopped %d early",
        len(frame),
        best_trial_id,
        metric,
        best_metric,
        best_round,
        int(frame["stopped_early"].sum()),
    )
    return TuningResult(
        best_params=best_params,
        best_metric=float(best_metric),
        metric=metric,
        mode=mode,
        best_trial_id=best_trial_id,
        trials=frame,
        history=history,
        scheduler=(
            f"asha(time_attr=training_iteration, max_t={max_reports}, grace_period={grace_period}, "
            f"reduction_factor={reduction_factor:g})"
        ),
        search_alg=search_alg_name,
        num_boost_round=num_boost_round,
        report_every=report_every,
        experiment_path=None if temporary else results.experiment_path,
        searched_params=list(space),
    )
