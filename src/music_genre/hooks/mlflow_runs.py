"""MLflow's runs and experiments kept tidy around a session: one run per session, no empty experiment."""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl

log = logging.getLogger(__name__)


class MlflowSessionIsolationHook:
    """Forget the previous session's MLflow run id before a new session runs.

    kedro-mlflow keeps its hook as a process-wide singleton whose ``run_id`` outlives a session: a second
    session in the same process (a notebook, the tests, batch inference after training) whose pipeline has
    tracking disabled would reopen the first session's run. One session, one run.
    """

    @hook_impl
    def after_context_created(self, context) -> None:
        try:
            from kedro_mlflow.framework.hooks import mlflow_hook
        except ImportError:  # pragma: no cover - kedro-mlflow is a dependency
            return
        mlflow_hook.run_id = None


class EmptyExperimentHook:
    """kedro-mlflow creates the dataset's experiment as soon as a session starts, even for a run that
    tracks nothing (``download``, ``sample_data``) or fails before its first node: such a run would
    leave an empty experiment in the MLflow UI. After the run, an experiment without a single run is
    deleted again (MLflow keeps it restorable, and kedro-mlflow restores it for the next tracked run)."""

    def __init__(self) -> None:
        self._context = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._context = context

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._drop_if_empty()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._drop_if_empty()

    def _drop_if_empty(self) -> None:
        config = getattr(self._context, "mlflow", None)
        if config is None:
            return
        try:
            from mlflow import MlflowClient
            from mlflow.entities import ViewType

            client = MlflowClient(tracking_uri=config.server.mlflow_tracking_uri)
            experiment = client.get_experiment_by_name(config.tracking.experiment.name)
            if experiment is None or experiment.lifecycle_stage != "active":
                return
            runs = client.search_runs(
                [experiment.experiment_id], run_view_type=ViewType.ALL, max_results=1
            )
            if not runs:
                client.delete_experiment(experiment.experiment_id)
        except Exception as err:  # tidying up must never fail a run
            log.debug("Could not check for an empty MLflow experiment: %s", err)
