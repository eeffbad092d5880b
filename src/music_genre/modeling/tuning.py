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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

REPORTED_METRICS = {"validation_multi_logloss": "min", "validation_accuracy": "max"}
SEARCH_ALGORITHMS = ("optuna", "random")
SPACE_TYPES = ("uniform", "loguniform", "randint", "lograndint", "choice")
DEFAULT_TUNING = {
    "num_samples": 20,
    "max_concurrent_trials": None,
    "num_boost_round": 500,
    "metric": "validation_multi_logloss",
    "mode": None,  # None = the metric's natural direction (min for logloss, max for accuracy)
    "report_every": 5,
    "scheduler": {"grace_period": 1, "reduction_factor": 3},
    "search_alg": "optuna",
    "search_space": {},
    "trial_cpus": 1,
    "verbose": 0,  # Tune's own status tables (hundreds of lines); one log line per finished trial instead
}
# Trial statuses (Ray Tune's): TERMINATED covers both trials run to the end and trials ASHA stopped.
TERMINATED, ERROR = "TERMINATED", "ERROR"


@dataclass
class TuningResult:
    """Everything a tuning run found, with no reference to Ray left (picklable, loggable)."""

    best_params: dict  # base hyperparameters + the best trial's, ready for train_classifier
    best_metric: float  # the best trial's best value of ``metric`` over its reports
    metric: str
    mode: str
    best_trial_id: str
    trials: pd.DataFrame  # one row per trial
    history: dict[str, list[tuple[int, float, float]]]  # trial_id -> [(round, logloss, accuracy)]
    scheduler: str
    search_alg: str  # the one actually used (``random`` when Optuna could not be used)
    num_boost_round: int
    report_every: int
    experiment_path: str | None = None  # Tune's experiment files; None when they went to a temp dir
    searched_params: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# Search space


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


def search_space(spec: Mapping) -> dict:
    """Ray Tune sampling objects from a YAML-friendly spec, so parameters files stay plain data.

    ``{name: {type: loguniform|uniform, low, high}}``, ``{type: randint|lograndint, low, high}`` (``high``
    included, unlike Ray's own randint) or ``{type: choice, values: [...]}``. Fixed values belong in the
    base hyperparameters, not here.
    """
    from ray import tune  # noqa: PLC0415

    space: dict = {}
    for name, entry in dict(spec or {}).items():
        if not isinstance(entry, Mapping) or "type" not in entry:
            raise ValueError(
                f"search space entry {name!r} must be a mapping with a 'type' ({', '.join(SPACE_TYPES)}), "
                f"not {entry!r}; fixed values belong in the base hyperparameters"
            )
        kind = str(entry["type"]).lower()
        if kind == "choice":
            values = list(entry.get("values") or [])
            if not values:
                raise ValueError(
                    f"search space entry {name!r}: choice needs a non-empty 'values' list"
                )
            space[name] = tune.choice(values)
            continue
        if kind not in SPACE_TYPES:
            raise ValueError(
                f"search space entry {name!r}: unknown type {entry['type']!r}; "
                f"use one of {', '.join(SPACE_TYPES)}"
            )
        if "low" not in entry or "high" not in entry:
            raise ValueError(f"search space entry {name!r}: {kind} needs 'low' and 'high'")
        low, high = entry["low"], entry["high"]
        if kind in ("randint", "lograndint"):
            low, high = int(low), int(high)
            if low > high:
                raise ValueError(f"search space entry {name!r}: low {low} > high {high}")
            if kind == "lograndint" and low <= 0:
                raise ValueError(f"search space entry {name!r}: lograndint needs low > 0")
            sampler = tune.randint if kind == "randint" else tune.lograndint
            space[name] = sampler(low, high + 1)  # Ray's upper bound is exclusive
        else:
            low, high = float(low), float(high)
            if not low < high:
                raise ValueError(f"search space entry {name!r}: low {low} must be < high {high}")
            if kind == "loguniform" and low <= 0:
                raise ValueError(f"search space entry {name!r}: loguniform needs low > 0")
            space[name] = (tune.uniform if kind == "uniform" else tune.loguniform)(low, high)
    return space


def _plain(value: Any) -> Any:
    """numpy scalars -> Python ones, so params survive YAML, JSON and MLflow unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def _trial_hyperparameters(base: Mapping, sampled: Mapping) -> dict:
    """The full hyperparameters of one trial: the sampled ones over the base ones.

    Bagging only happens with ``bagging_freq > 0``: when ``bagging_fraction`` is set (searched or not)
    without a frequency, bag every round, or the searched fraction would change nothing.
    """
    params = {**dict(base or {}), **{k: _plain(v) for k, v in dict(sampled).items()}}
    if params.get("bagging_fraction", 1.0) < 1.0 and not params.get("bagging_freq"):
        params["bagging_freq"] = 1
    return params


# ---------------------------------------------------------------------------------------------------
# The trial (runs in a Ray worker)


def _tune_report_callback(report_every: int):
    """A LightGBM callback that reports the validation metrics to Tune every ``report_every`` rounds."""
    from ray import tune  # noqa: PLC0415

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
    import lightgbm as lgb  # noqa: PLC0415

    from music_genre.modeling.training import lightgbm_params  # noqa: PLC0415

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


def _tuning_settings(tuning: Mapping) -> dict:
    """``tuning`` over the defaults, checked, so a typo fails before any trial starts."""
    unknown = set(tuning or {}) - set(DEFAULT_TUNING)
    if unknown:
        raise ValueError(
            f"unknown tuning settings {sorted(unknown)}; known: {', '.join(sorted(DEFAULT_TUNING))}"
        )
    settings = {**DEFAULT_TUNING, **dict(tuning or {})}
    settings["scheduler"] = {**DEFAULT_TUNING["scheduler"], **dict(settings["scheduler"] or {})}
    if settings["metric"] not in REPORTED_METRICS:
        raise ValueError(
            f"tuning.metric {settings['metric']!r} is not reported; use one of {', '.join(REPORTED_METRICS)}"
        )
    settings["mode"] = settings["mode"] or REPORTED_METRICS[settings["metric"]]
    if settings["mode"] not in ("min", "max"):
        raise ValueError(f"tuning.mode must be min or max, not {settings['mode']!r}")
    if settings["search_alg"] not in SEARCH_ALGORITHMS:
        raise ValueError(
            f"tuning.search_alg {settings['search_alg']!r}: use one of {', '.join(SEARCH_ALGORITHMS)}"
        )
    if not settings["search_space"]:
        raise ValueError("tuning.search_space is empty: nothing to tune")
    for key in ("num_samples", "num_boost_round", "report_every", "trial_cpus"):
        settings[key] = int(settings[key])
        if settings[key] < 1:
            raise ValueError(f"tuning.{key} must be at least 1, not {settings[key]}")
    return settings


def _trial_data(table: pd.DataFrame, class_weight: str | None) -> tuple[dict, list[str]]:
    """Training and validation arrays (labels as class indices) exactly as train_classifier builds them."""
    from music_genre.modeling.training import _check_splits, feature_columns, sample_weights  # noqa: PLC0415

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
    from ray.tune.search.basic_variant import BasicVariantGenerator  # noqa: PLC0415

    if name == "optuna":
        try:
            import optuna  # noqa: PLC0415
            from ray.tune.search.optuna import OptunaSearch  # noqa: PLC0415

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
        except Exception as err:  # noqa: BLE001 - any failure means: use random search instead
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


def _history(result) -> list[tuple[int, float, float]]:
    """(round, validation logloss, validation accuracy) per report of one trial."""
    frame = result.metrics_dataframe
    if frame is None or frame.empty or "boosting_round" not in frame:
        return []
    frame = frame.dropna(subset=["boosting_round"]).sort_values("boosting_round")
    return [
        (int(r), float(loss), float(acc))
        for r, loss, acc in zip(
            frame["boosting_round"],
            frame["validation_multi_logloss"],
            frame["validation_accuracy"],
            strict=True,
        )
    ]


def _best_report(
    history: list[tuple[int, float, float]], metric: str, mode: str
) -> tuple[int, float]:
    """(round, value) of the best report of ``metric`` (the first one on ties)."""
    position = 1 if metric == "validation_multi_logloss" else 2
    pick = min if mode == "min" else max
    best = pick(history, key=lambda entry: entry[position])
    return best[0], best[position]


def _error_text(error: BaseException) -> str:
    """The trial's own exception in one line (Ray wraps it in a RayTaskError with the remote traceback)."""
    cause = getattr(error, "cause", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return f"{type(cause).__name__}: {lines[-1] if lines else ''}"[:500]


def _trial_row(
    trial_id: str,
    config: Mapping,
    history: list,
    error,
    num_boost_round: int,
    metric: str,
    mode: str,
) -> dict:
    """One line of the trials table; ``best_round`` is where the trial's ``metric`` was best."""
    row: dict = {"trial_id": trial_id, **{k: _plain(v) for k, v in config.items()}}
    rounds = history[-1][0] if history else 0
    row.update(
        iterations_reported=len(history),
        rounds_trained=rounds,
        best_round=_best_report(history, metric, mode)[0] if history else np.nan,
        final_validation_multi_logloss=history[-1][1] if history else np.nan,
        best_validation_multi_logloss=min(h[1] for h in history) if history else np.nan,
        final_validation_accuracy=history[-1][2] if history else np.nan,
        best_validation_accuracy=max(h[2] for h in history) if history else np.nan,
        stopped_early=bool(error is None and history and rounds < num_boost_round),
        status=ERROR if error is not None else TERMINATED,
        error=None if error is None else _error_text(error),
    )
    return row


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
    import ray  # noqa: PLC0415
    from ray import tune  # noqa: PLC0415
    from ray.tune.schedulers import ASHAScheduler  # noqa: PLC0415

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


# ---------------------------------------------------------------------------------------------------
# MLflow


def log_trials_to_mlflow(
    result: TuningResult, experiment_id: str | None = None, parent_run_id: str | None = None
) -> list[str]:
    """One MLflow child run per trial under the parent run, plus the tuning summary on the parent.

    Written from the driver after the search, one run after the other (SQLite stores allow one writer).
    The parent defaults to the active run (the one kedro-mlflow opens for the Kedro run); without one
    nothing is logged (a warning says so). Metrics are logged per report with the boosting round as the
    step, so the trials' curves line up in MLflow's chart view. Trials ASHA stopped are FINISHED runs tagged
    ``stopped_early=true`` (stopping them is the scheduler working, not a failure); failed trials are FAILED.
    Returns the child run ids, in the order of ``result.trials``.
    """
    import mlflow  # noqa: PLC0415
    from mlflow.entities import Metric, Param, RunTag  # noqa: PLC0415
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    if parent_run_id is None:
        active = mlflow.active_run()
        if active is None:
            log.warning(
                "No active MLflow run and no parent_run_id: the tuning trials are not logged"
            )
            return []
        parent_run_id = active.info.run_id
    client = MlflowClient()
    if experiment_id is None:
        experiment_id = client.get_run(parent_run_id).info.experiment_id

    child_ids: list[str] = []
    for row in result.trials.to_dict("records"):
        trial_id = row["trial_id"]
        run = client.create_run(
            experiment_id,
            run_name=f"trial-{trial_id}",
            tags={
                "mlflow.parentRunId": parent_run_id,
                "tuning.trial_id": trial_id,
                "tuning.search_alg": result.search_alg,
                "tuning.status": row["status"],
                "tuning.is_best": str(trial_id == result.best_trial_id).lower(),
                "stopped_early": str(bool(row["stopped_early"])).lower(),
            },
        )
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        metrics = []
        for step, loss, accuracy in result.history.get(trial_id, []):
            metrics.append(Metric("validation_multi_logloss", loss, now, step))
            metrics.append(Metric("validation_accuracy", accuracy, now, step))
        for name in (
            "final_validation_multi_logloss",
            "best_validation_multi_logloss",
            "final_validation_accuracy",
            "best_validation_accuracy",
            "rounds_trained",
            "iterations_reported",
            "best_round",
        ):
            value = row.get(name)
            if value is not None and not pd.isna(value):
                metrics.append(Metric(name, float(value), now, 0))
        params = [Param(name, str(row[name])) for name in result.searched_params if name in row]
        for start in range(0, max(len(metrics), 1), 1000):  # MLflow's per-batch limit
            client.log_batch(
                run_id,
                metrics=metrics[start : start + 1000],
                params=params if start == 0 else [],
            )
        if row.get("error"):
            client.set_tag(run_id, "tuning.error", row["error"])
        client.set_terminated(run_id, "FAILED" if row["status"] == ERROR else "FINISHED")
        child_ids.append(run_id)

    trials = result.trials
    now = int(time.time() * 1000)
    client.log_batch(
        parent_run_id,
        metrics=[
            Metric(f"tuning.best_{result.metric}", result.best_metric, now, 0),
            Metric("tuning.trials", float(len(trials)), now, 0),
            Metric("tuning.stopped_early_trials", float(trials["stopped_early"].sum()), now, 0),
            Metric("tuning.failed_trials", float((trials["status"] == ERROR).sum()), now, 0),
            Metric(
                "tuning.best_num_boost_round", float(result.best_params["num_boost_round"]), now, 0
            ),
        ],
        tags=[
            RunTag("tuning.best_trial_id", result.best_trial_id),
            RunTag("tuning.search_alg", result.search_alg),
            RunTag("tuning.scheduler", result.scheduler),
        ],
    )
    return child_ids
