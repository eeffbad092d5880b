"""Project hooks: Ray's lifetime around the pipelines that use it."""

from __future__ import annotations

import logging
from pathlib import Path

from kedro.framework.hooks import hook_impl

from music_genre.common.run_logging import DETAIL

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


# What a run of inference, monitoring or retraining writes or reads as it was a moment ago: the batch
# predictions, the features batches were judged on, the labels that arrived, the monitoring history
# (and the batch checkpoints, the monitoring pages, decision.json, model_registration.json beside them).
BATCH_LOOP_DATASETS = frozenset(
    {
        "predictions",
        "batch_features",
        "batch_labels",
        "monitoring_history",
        "retraining_input_table",
    }
)


class BatchLoopLockHook:
    """One run at a time of the batch loop (``inference``, ``monitoring``, ``retraining``) on a dataset:
    the first takes the dataset's batch loop lock (:func:`music_genre.common.locks.batch_loop_lock`) before
    its first node, and a second is refused at once with one ``error:`` line naming the first (its pid,
    when it started, its command). ``music-genre daily`` holds the lock for its whole day; its pipelines
    run in its own process and take it again. Runs first (tryfirst), so a refused run opens no MLflow
    run. Training runs (``kedro run``) do not take it: they may run beside the loop and beside each
    other, and meet only at promotion, which has its own lock."""

    def __init__(self) -> None:
        self._lock = None
        self._project: Path | None = None
        self._dataset: str | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project = Path(context.project_path)
        try:
            self._dataset = str(context.params["dataset"]["name"])
        except Exception:  # no dataset parameters: nothing to lock
            self._dataset = None

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        if self._dataset is None or not (BATCH_LOOP_DATASETS & pipeline.all_outputs()):
            return
        from music_genre.common.locks import batch_loop_lock  # noqa: PLC0415

        lock = batch_loop_lock(self._project or Path.cwd(), self._dataset)
        lock.acquire(wait=False)  # LockBusyError: the one line, exit 1
        self._lock = lock

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._release()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


REGISTRATION_DATASET = "model_registration"


PROMOTION_DECISION = "promotion_decision"


class ModelRegistrationHook:
    """Registers the run's model in the MLflow Model Registry when the pipeline asked for it.

    Runs last, after kedro-mlflow has logged every model of the run (the serving model is logged by
    kedro-mlflow itself at the end of the run) and closed the run; the ``model_registration`` request,
    made by a node from the test metrics, says whether the model is good enough and how to tag it.

    What it registers is this run's own, kept in memory as the nodes made them (the model, the request,
    the tracks champion and challenger are compared on), never re-read from the shared files another
    run on the same dataset may have rewritten meanwhile. Registration, the comparison with the champion
    as it is now and the champion's local copy happen under the dataset's promotion lock
    (:func:`register_and_publish`).
    """

    def __init__(self) -> None:
        self._project: Path | None = None
        self._dataset: str | None = None
        self._run: dict = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project = Path(context.project_path)
        try:
            self._dataset = str(context.params["dataset"]["name"])
        except Exception:  # a project copy without the dataset parameters: no lock path to name
            self._dataset = None
        self._run = {}

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._run = {}

    @hook_impl
    def after_node_run(self, node, inputs, outputs) -> None:
        if PROMOTION_DECISION in node.outputs:
            # decide_promotion(classifier, champion, champion_info, table, modeling)
            values = [inputs[name] for name in node.inputs]
            classifier, table, modeling = values[0], values[3], values[4] or {}
            promotion = dict(modeling.get("promotion") or {})
            splits = promotion.get("splits", ["test", "recent"])
            splits = [splits] if isinstance(splits, str) else list(splits)
            self._run["candidate"] = {
                "classifier": classifier,
                # only the compared tracks: a re-comparison needs no more, and memory stays small
                "table": table[table["split"].isin(splits)].copy(),
                "promotion": promotion,
            }
        if REGISTRATION_DATASET in node.outputs:
            self._run["request"] = outputs[REGISTRATION_DATASET]

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        if REGISTRATION_DATASET not in pipeline.all_outputs():
            return
        request = self._run.get("request") or catalog.load(REGISTRATION_DATASET)
        if not request.get("register"):
            log.info("Model not registered: %s", request.get("reason"))
            return
        candidate = self._run.get("candidate") or {}
        result = register_and_publish(
            catalog,
            request,
            candidate.get("classifier") or catalog.load("genre_classifier"),
            candidate.get("table"),
            candidate.get("promotion"),
            project=self._project or Path.cwd(),
            dataset=self._dataset or str(request.get("tags", {}).get("dataset") or "default"),
        )
        catalog.save(REGISTRATION_DATASET, result)


def register_and_publish(
    catalog,
    request: dict,
    classifier,
    table,
    promotion: dict | None,
    *,
    project: Path,
    dataset: str,
) -> dict:
    """Register ``request``'s model and move the aliases, under the dataset's promotion lock
    (``data/06_models/<dataset>/.promotion.lock``, :mod:`music_genre.common.locks`): inside it the
    champion is read as the registry has it now, and when it is another version than the one this run's
    decision compared with, ``classifier`` is compared again with the current champion on ``table`` (the
    same tracks); the alias moves on that decision and the champion's local copy is written before the
    lock is released, so the copy always matches the alias. A run that finds the lock taken waits, and
    says so in one line."""
    from music_genre.common.locks import describe, promotion_lock  # noqa: PLC0415
    from music_genre.modeling.registry import register_model  # noqa: PLC0415

    name = request["model_name"]

    def waiting(holder) -> None:  # a warning: shown inside `music-genre daily` too
        log.warning(
            "Waiting for another run's promotion of %s to finish (%s)", name, describe(holder)
        )

    def recheck(current: str | None) -> dict:
        from music_genre.modeling.promotion import compare  # noqa: PLC0415

        if table is None:  # a run that did not compare (no decide_promotion node): nothing to redo
            return {
                **(request.get("promotion") or {}),
                "promote": False,
                "reason": "the champion changed since this run compared with it, and this run kept "
                "no tracks to compare again: not promoted",
            }
        champion, info = current_champion(catalog, name, current, project)
        decision = compare(classifier, champion, info, table, promotion or {})
        log.info("Champion/challenger (against the current champion): %s", decision["reason"])
        return decision

    with promotion_lock(project, dataset).hold(wait=True, on_wait=waiting):
        result = register_model(request, recheck=recheck)
        if result["alias"] == "champion" and is_new_champion(catalog.load("champion_info"), result):
            publish_champion(catalog, result, classifier)
    return result


def current_champion(catalog, name: str, version: str | None, project: Path):
    """The champion ``version`` of ``name`` and its info: the local copy when it is that version (it is,
    whenever the alias moved through this project), else the classifier inside the registered model."""
    if version is None:
        return None, None
    info = catalog.load("champion_info") or {}
    local = catalog.load("champion_genre_classifier")
    if local is not None and (info.get("name"), str(info.get("version"))) == (name, str(version)):
        return local, info
    from music_genre.modeling import store  # noqa: PLC0415

    loaded = store.load_from_registry(f"models:/{name}/{version}", project).classifier
    loaded.info["registry"] = {"name": name, "version": int(version)}
    return loaded, {}


def is_new_champion(champion_info: dict | None, registration: dict) -> bool:
    """Whether the local champion copy (of the run's task: each task keeps its own) is another model
    than this registration's champion: another version, or another registered model."""
    info = champion_info or {}
    return (info.get("name"), str(info.get("version"))) != (
        registration["model_name"],
        str(registration["registered_version"]),
    )


def publish_champion(catalog, registration: dict, classifier=None) -> None:
    """Write the local copies of the run's task (``modeling.task``) that the CLI, the batch job and
    serving load where that task is served: the new champion (``classifier``, this run's model; by
    default the newest saved one), and the one it replaced as the fallback model. Another task's copies,
    and so what an environment serves, are never touched."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from music_genre.modeling.tasks import task_of  # noqa: PLC0415

    previous = catalog.load("champion_genre_classifier")
    if classifier is None:
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
            # what the registration gate measured (the first champion was compared with no model)
            "registered_on": registration.get("reason"),
            "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    log.info(
        "Champion: %s version %s (local copy for the CLI and the batch job)",
        registration["model_name"],
        registration["registered_version"],
        extra=DETAIL,
    )


def start_line(run_params: dict, pipeline, dataset: dict) -> str:
    """The run's first console line: what runs, on which data, in which environment.

    The stages are the registered pipelines whose nodes all run (``__default__`` names
    data_ingestion, feature_engineering, modeling and evaluation); a run cut with ``--from-nodes`` or
    ``--nodes`` counts its nodes instead."""
    from kedro.framework.project import pipelines  # noqa: PLC0415

    order = {node: i for i, node in enumerate(pipeline.nodes)}  # Kedro's run order
    stages = []
    try:
        for name, registered in pipelines.items():
            nodes = set(registered.nodes)
            if name != "__default__" and nodes and nodes <= order.keys():
                stages.append((min(order[n] for n in nodes), name, nodes))
    except Exception:  # the registry could not be read: the node count alone
        stages = []
    # in the order they start; a registered pipeline that only repeats part of a bigger one listed
    # (sample_data within data_ingestion) is not named twice
    names = [n for _, n, nodes in sorted(stages) if not any(nodes < o for _, _, o in stages)]
    what = ", ".join(names) if names else "selected nodes"
    where = dataset.get("root")
    return (
        f"Run: {dataset.get('name', '?')} dataset{f' at {where}' if where else ''}, environment "
        f"{run_params.get('env') or 'local'}: {what} ({len(order)} nodes)"
    )


class RunSummaryHook:
    """Prints the run's summary block last (after MLflow and the registry): dataset, tracks used and
    excluded with reasons, the feature set and model, test scores, registered or not and why, where the
    report is and the next commands; for a batch inference run, what was scored."""

    def __init__(self) -> None:
        self._env: str | None = None

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._env = run_params.get("env")
        from music_genre.common.run_logging import in_subrun  # noqa: PLC0415

        try:
            dataset = dict(catalog.load("params:dataset") or {})
        except Exception:  # a pipeline without the dataset parameters
            dataset = {}
        log.info(
            start_line(run_params, pipeline, dataset),
            extra=DETAIL if in_subrun() else None,  # inside `music-genre daily`: the day says it
        )

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
        from music_genre.common.run_logging import console_print  # noqa: PLC0415

        console_print("\n" + text)

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


timing_log = logging.getLogger("music_genre.timing")


class NodeTimesHook:
    """Each node's wall time, as one INFO record per node on the ``music_genre.timing`` logger:
    ``node_time {"node": "<name>", "seconds": 12.3}`` (JSON after the word ``node_time``), kept in the
    project's info.log; ``benchmarks/scale.py`` reads them back to print where a run spends its time."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}

    @hook_impl
    def before_node_run(self, node) -> None:
        import time  # noqa: PLC0415

        self._started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node) -> None:
        import json  # noqa: PLC0415
        import time  # noqa: PLC0415

        started = self._started.pop(node.name, None)
        if started is None:
            return
        seconds = round(time.perf_counter() - started, 3)
        timing_log.info(
            "node_time %s", json.dumps({"node": node.name, "seconds": seconds}), extra=DETAIL
        )

    @hook_impl
    def on_node_error(self, error, node) -> None:
        self._started.pop(node.name, None)
