"""Project hooks: Ray's lifetime around the pipelines that use it."""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl

log = logging.getLogger(__name__)

RAY_TAG = "ray"


class RayHook:
    """Starts Ray (local, or the cluster in ``conf/<env>/ray.yml``) just before the first node tagged
    ``ray`` runs and stops it when the run ends, so ``kedro run --pipelines=data_ingestion``, ``kedro viz``
    or a run that fails in ingestion never pay for a Ray start, and Ray is not idling while the built-in
    sample is synthesized."""

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
    def before_node_run(self, node) -> None:
        if RAY_TAG not in node.tags or self._started_here:
            return
        from music_genre.common.ray_runtime import start_ray  # noqa: PLC0415

        self._started_here = start_ray(self._config)

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        self._stop()

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._started_here:
            from music_genre.common.ray_runtime import stop_ray  # noqa: PLC0415

            stop_ray()
            self._started_here = False


class TestedStackHook:
    """One warning when this Python or platform is not the one ``requirements-lock.txt`` was tested on:
    pip then ignored the lock's pins and installed pyproject's lower bounds, so numbers may differ."""

    @hook_impl
    def after_context_created(self, context) -> None:
        from music_genre.common.stack import platform_mismatch  # noqa: PLC0415

        mismatch = platform_mismatch(context.project_path)
        if mismatch:
            log.warning("Untested stack: %s", mismatch)


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
            from mlflow import MlflowClient  # noqa: PLC0415
            from mlflow.entities import ViewType  # noqa: PLC0415

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
        from music_genre.modeling.registry import register_model  # noqa: PLC0415

        result = register_model(request)
        catalog.save(REGISTRATION_DATASET, result)
        if result["alias"] == "champion" and is_new_champion(catalog.load("champion_info"), result):
            publish_champion(catalog, result)


def is_new_champion(champion_info: dict | None, registration: dict) -> bool:
    """Whether the local champion copy (of the run's task: each task keeps its own) is another model
    than this registration's champion: another version, or another registered model."""
    info = champion_info or {}
    return (info.get("name"), str(info.get("version"))) != (
        registration["model_name"],
        str(registration["registered_version"]),
    )


def publish_champion(catalog, registration: dict) -> None:
    """Write the local copies of the run's task (``modeling.task``) that the CLI, the batch job and
    serving load where that task is served: the new champion, and the one it replaced as the fallback
    model. Another task's copies, and so what an environment serves, are never touched."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from music_genre.modeling.tasks import task_of  # noqa: PLC0415

    previous = catalog.load("champion_genre_classifier")
    classifier = catalog.load("genre_classifier")
    # (a copy of another task's model is left from before each task kept its own: no fallback)
    if previous is not None and task_of(previous) is task_of(classifier):
        catalog.save("previous_champion", previous)
    classifier.info["registry"] = {
        "name": registration["model_name"],
        "version": registration["registered_version"],
    }
    promotion = registration.get("promotion") or {}
    catalog.save("champion_genre_classifier", classifier)
    catalog.save(
        "champion_info",
        {
            "name": registration["model_name"],
            "version": registration["registered_version"],
            "model_version": classifier.version,
            "run_id": registration["run_id"],
            "metric": promotion.get("metric"),
            "score": (promotion.get("challenger") or {}).get("score"),
            "replaced": registration.get("replaced_champion"),
            "reason": promotion.get("reason"),
            "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    log.info(
        "Champion: %s version %s (local copy for the CLI and the batch job)",
        registration["model_name"],
        registration["registered_version"],
    )


class RunSummaryHook:
    """Prints the run's summary block last (after MLflow and the registry): dataset, tracks used and
    excluded with reasons, the feature set and model, test scores, registered or not and why, where the
    report is and the next commands; for a batch inference run, what was scored."""

    def __init__(self) -> None:
        self._env: str | None = None

    @hook_impl
    def before_pipeline_run(self, run_params) -> None:
        self._env = run_params.get("env")

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        outputs = pipeline.all_outputs()
        try:
            if "model_metrics" in outputs:
                text = self._training(catalog)
            elif "monitoring_decision" in outputs:
                from music_genre.serving.run_summary import monitoring_summary, render  # noqa: PLC0415

                metrics = catalog.load("monitoring_metrics")
                dataset = str((catalog.load("params:dataset") or {}).get("name", "?"))
                page = f"data/08_reporting/{dataset}/monitoring/report_{metrics['batch']}.html"
                text = render(
                    f"music-genre monitoring: {dataset}",
                    monitoring_summary(metrics, catalog.load("monitoring_decision"), page),
                )
            elif "inference_report" in outputs:
                from music_genre.serving.run_summary import inference_summary, render  # noqa: PLC0415

                report = dict(catalog.load("inference_report"))
                dataset = str((catalog.load("params:dataset") or {}).get("name", "?"))
                report["output"] = f"data/07_model_output/{dataset}/predictions.parquet"
                text = render(f"music-genre batch inference: {dataset}", inference_summary(report))
            else:
                return
        except Exception as err:  # a summary must never turn a good run into a failed one
            log.warning("Could not write the run summary: %s", err)
            return
        print("\n" + text, flush=True)

    def _training(self, catalog) -> str:
        from music_genre.serving.run_summary import render, training_summary  # noqa: PLC0415

        def optional(name):
            try:
                return catalog.load(name)
            except Exception:  # not produced by this run's pipelines, or never written
                return None

        dataset = str((optional("params:dataset") or {}).get("name", "?"))
        rows = training_summary(
            dataset=dataset,
            env=self._env,
            manifest=optional("manifest"),
            new_releases=optional("new_releases"),
            exclusions=optional("exclusions"),
            extraction_failures=optional("extraction_failures"),
            feature_settings=optional("feature_settings"),
            model_metrics=catalog.load("model_metrics"),
            registration=optional("model_registration"),
            report_path=f"data/08_reporting/{dataset}/evaluation/summary.md",
            serving_task=(optional("params:serving") or {}).get("task"),
        )
        return render(f"music-genre run: {dataset}", rows)
