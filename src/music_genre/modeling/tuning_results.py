"""What a tuning run leaves behind: :class:`TuningResult`, the trials table, and the trials in MLflow.

Why a module of its own: turning Ray Tune's results into plain rows (rounds trained, best round, stopped
early or failed) and writing them as MLflow child runs is bookkeeping on finished trials, run from the
driver after the search; it needs neither Ray nor LightGBM. MLflow loads inside
:func:`log_trials_to_mlflow`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from music_genre.common.errors import clipped
from music_genre.modeling.tuning_space import _plain

log = logging.getLogger(__name__)

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
    return clipped(f"{type(cause).__name__}: {lines[-1] if lines else ''}", 500)


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
    import mlflow
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

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
