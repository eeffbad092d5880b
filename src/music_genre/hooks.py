"""Project hooks: Ray's lifetime around the pipelines that use it."""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl

log = logging.getLogger(__name__)

RAY_TAG = "ray"


class RayHook:
    """Starts Ray (local, or the cluster in ``conf/<env>/ray.yml``) before a pipeline with nodes tagged
    ``ray`` and stops it when the run ends, so ``kedro run --pipelines=data_ingestion`` or ``kedro viz``
    never pay for a Ray start."""

    def __init__(self) -> None:
        self._config: dict = {}
        self._started_here = False

    @hook_impl
    def after_context_created(self, context) -> None:
        try:
            self._config = dict(context.config_loader["ray"] or {})
        except Exception:  # no ray.yml in this project copy: a local Ray with defaults
            self._config = {}

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        if not any(RAY_TAG in node.tags for node in pipeline.nodes):
            return
        from music_genre.ray_runtime import start_ray  # noqa: PLC0415

        self._started_here = start_ray(self._config)

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        self._stop()

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._started_here:
            from music_genre.ray_runtime import stop_ray  # noqa: PLC0415

            stop_ray()
            self._started_here = False


class MlflowSessionIsolationHook:
    """Forget the previous session's MLflow run id before a new session runs.

    kedro-mlflow keeps its hook as a process-wide singleton whose ``run_id`` outlives a session: a second
    session in the same process (a notebook, the tests, batch inference after training) whose pipeline has
    tracking disabled would reopen the first session's run. One session, one run.
    """

    @hook_impl
    def after_context_created(self, context) -> None:
        try:
            from kedro_mlflow.framework.hooks import mlflow_hook  # noqa: PLC0415
        except ImportError:  # pragma: no cover - kedro-mlflow is a dependency
            return
        mlflow_hook.run_id = None


REGISTRATION_DATASET = "model_registration"


class ModelRegistrationHook:
    """Registers the run's model in the MLflow Model Registry when the pipeline asked for it.

    Runs last, after kedro-mlflow has logged every model of the run (the serving model is logged by
    kedro-mlflow itself at the end of the run) and closed the run; the ``model_registration`` request,
    written by a node from the test metrics, says whether the model is good enough and how to tag it.
    """

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        if REGISTRATION_DATASET not in pipeline.all_outputs():
            return
        request = catalog.load(REGISTRATION_DATASET)
        if not request.get("register"):
            log.info("Model not registered: %s", request.get("reason"))
            return
        from music_genre.tracking import register_model  # noqa: PLC0415

        catalog.save(REGISTRATION_DATASET, register_model(request))
