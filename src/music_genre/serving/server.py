"""``music-genre serve``: the served model over HTTP, with metrics for Prometheus.

The app is MLflow's own scoring app (``mlflow.pyfunc.scoring_server.init``: what ``mlflow models serve``
runs; POST /invocations, GET /ping, /health, /version, the same requests and answers) for the same MLflow
model (the registered ``music_genre_pipeline``), with two additions: GET /metrics (the counters of
:mod:`music_genre.serving.prometheus_metrics`, labelled with the model's registry name and version) and a middleware
that times and counts each /invocations request. Files scored and failures by reason are counted from the
model's own answer: one row per input, with an ``error_reason`` for a file it could not score.

One process, one uvicorn worker (as ``mlflow models serve``'s default), so one set of counters.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from music_genre.common.errors import ExpectedError
from music_genre.serving.prometheus_metrics import (
    SERVER_ERROR,
    UNREGISTERED,
    ModelLabels,
    ServingMetrics,
    outcome_of,
)

log = logging.getLogger(__name__)

CHAMPION = "champion"


@dataclass(frozen=True)
class ServedModel:
    """What to load (a registry alias resolved to its version once, so the labels name what answers)."""

    load_uri: str
    labels: ModelLabels
    tracking_uri: str | None
    environment: str | None = None  # "environment gtzan (dataset gtzan)" when it is one's champion


def tracking_uri(project: Path | None) -> str | None:
    """``$MLFLOW_TRACKING_URI``, else the project's store (``conf/base/mlflow.yml``, anchored at the
    project), else None."""
    given = os.environ.get("MLFLOW_TRACKING_URI")
    if given or project is None:
        return given or None
    from music_genre.modeling import store

    return store.project_config(project, None)["mlflow"]["server"]["mlflow_tracking_uri"]


def champion_uri(project: Path, env: str | None) -> str:
    """``models:/<registered name>@champion`` of the task the environment serves (``serving.task``)."""
    from music_genre.modeling import store
    from music_genre.modeling.tasks import task_of_params

    loader = store.project_config(project, env)
    parameters = loader["parameters"]
    dataset = loader["globals"]["dataset_name"]
    registration = (parameters.get("modeling") or {}).get("registration") or {}
    task = task_of_params(parameters.get("serving"), "serving")
    name = (registration.get("model_name") or f"music-genre-{dataset}") + task.model_suffix
    return f"models:/{name}@{CHAMPION}"


def environment_text(project: Path, env: str | None) -> str:
    """Which environment is served (:func:`music_genre.serving.wording.environment_text`)."""
    from music_genre.modeling import store
    from music_genre.serving.wording import environment_text as words

    return words(env, store.project_config(project, env)["globals"]["dataset_name"])


def resolve(model: str | None, env: str | None, project: Path | None) -> ServedModel:
    """The model to serve: ``model`` (a ``models:/`` URI, ``runs:/``, a local MLflow model folder), else
    the environment's champion in the project's registry. An alias is resolved to its version here."""
    if model is None:
        if project is None:
            raise ExpectedError(
                "not inside the music-genre project: pass --project DIR, or --model "
                "models:/music-genre-<dataset>@champion with MLFLOW_TRACKING_URI set"
            )
        model = champion_uri(project, env)
        environment = environment_text(project, env)
    else:
        environment = None
    uri = tracking_uri(project)
    if model.startswith("models:/") and uri is None:
        raise ExpectedError(
            f"cannot look up {model}: not inside the project and MLFLOW_TRACKING_URI is not set"
        )
    import mlflow
    from mlflow import MlflowClient

    if uri:
        mlflow.set_tracking_uri(uri)
    if not model.startswith("models:/"):
        return ServedModel(model, ModelLabels(UNREGISTERED, "", model), uri)
    rest = model[len("models:/") :].strip("/")
    client = MlflowClient()
    try:
        if "@" in rest:
            name, alias = rest.split("@", 1)
            version = str(client.get_model_version_by_alias(name, alias).version)
        else:
            name, _, version = rest.partition("/")
            alias = ""
            if version in ("", "latest"):
                found = client.search_model_versions(f"name = '{name}'")
                version = str(max(int(v.version) for v in found)) if found else ""
            client.get_model_version(name, version)  # it exists
    except Exception as err:  # MLflow raises several types for an unknown name, version or alias
        raise ExpectedError(
            f"cannot find {model} in the MLflow store {uri}: {' '.join(str(err).split())}"
        ) from err
    return ServedModel(
        f"models:/{name}/{version}", ModelLabels(name, version, model, alias), uri, environment
    )


def _unregistered_labels(served: ServedModel, pyfunc_model) -> ModelLabels:
    """A model given by path or run: its registered name and version when the registry holds its run,
    else ``unregistered`` and its run id."""
    run_id = getattr(pyfunc_model.metadata, "run_id", None) or ""
    if served.tracking_uri and run_id:
        from mlflow import MlflowClient

        try:
            found = MlflowClient().search_model_versions(f"run_id = '{run_id}'")
        except Exception:  # a store without a registry: the run id labels it
            found = []
        if found:
            newest = max(found, key=lambda v: int(v.version))
            return ModelLabels(newest.name, str(newest.version), served.load_uri)
    return ModelLabels(UNREGISTERED, run_id or Path(served.load_uri).name, served.load_uri)


class CountingModel:
    """The pyfunc model as the scoring app sees it (``metadata``, ``predict``), counting what each answer
    holds: one row per input, scored or with its ``error_reason``."""

    def __init__(self, model, metrics: ServingMetrics):
        self._model = model
        self._metrics = metrics

    @property
    def metadata(self):
        return self._model.metadata

    def predict(self, data, params=None):
        predictions = self._model.predict(data, params=params)
        reasons = (
            predictions["error_reason"].tolist()
            if hasattr(predictions, "columns") and "error_reason" in predictions.columns
            else [None] * len(predictions)
        )
        self._metrics.answered(reasons)
        return predictions

    def __getattr__(self, name):
        return getattr(self._model, name)


def build_app(pyfunc_model, labels: ModelLabels, registry=None, similarity=None):
    """MLflow's scoring app for ``pyfunc_model``, plus GET /metrics and the request counters. ``registry``:
    a fresh one (with the process, platform and garbage-collector collectors) unless given.
    ``similarity``: ``(index_provider, serving_params, windowing)`` adds the similar-track and path routes
    (:mod:`music_genre.serving.similar_routes`)."""
    from fastapi import Request
    from fastapi.responses import Response
    from mlflow.pyfunc import scoring_server

    if registry is None:
        from prometheus_client import (
            CollectorRegistry,
            GCCollector,
            PlatformCollector,
            ProcessCollector,
        )

        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    metrics = ServingMetrics(labels, registry)
    app = scoring_server.init(CountingModel(pyfunc_model, metrics))

    @app.middleware("http")
    async def count_requests(request: Request, call_next):
        if request.url.path != "/invocations":
            return await call_next(request)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            metrics.request(SERVER_ERROR, time.perf_counter() - started)
            raise
        metrics.request(outcome_of(response.status_code), time.perf_counter() - started)
        return response

    @app.get("/metrics")
    async def prometheus_metrics():
        body, content_type = metrics.exposition()
        return Response(content=body, media_type=content_type)

    if similarity is not None:
        from music_genre.serving.similar_routes import add_routes

        add_routes(app, *similarity)
    return app


def load(served: ServedModel):
    """The pyfunc model, and its labels (an unregistered one's looked up by its run)."""
    # a server writes a log, not a terminal: no artifact download progress bars
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mlflow.pyfunc import scoring_server

    try:
        model = scoring_server.load_model_with_mlflow_config(served.load_uri)
    except Exception as err:  # MLflow raises several types for a model it cannot fetch
        raise ExpectedError(f"cannot load {served.load_uri}: {' '.join(str(err).split())}") from err
    labels = served.labels
    if labels.name == UNREGISTERED:
        labels = _unregistered_labels(served, model)
    return model, labels


def similarity_routes(project: Path | None, env: str | None):
    """The similarity routes' inputs for the environment (the index loaded on first use, then kept), or
    None outside a project."""
    if project is None:
        return None
    from music_genre.modeling import store
    from music_genre.serving import similar

    parameters = store.project_config(project, env)["parameters"]
    loaded = []

    def provider():
        if not loaded:
            loaded.append(similar.load_index(project, env))
        return loaded[0]

    windowing = similar.similarity_params(project, env)["windowing"]
    return provider, parameters.get("serving") or {}, windowing


def serve(served: ServedModel, host: str, port: int, similarity=None) -> None:
    """Load the model and answer on ``host:port`` until interrupted."""
    import uvicorn

    model, labels = load(served)
    app = build_app(model, labels, similarity=similarity)
    environment = f"{served.environment}: " if served.environment else ""
    print(
        f"music-genre serve: {environment}{labels.name} version {labels.version} "
        f"({served.load_uri}) on http://{host}:{port} (POST /invocations, GET /metrics; Ctrl+C "
        "stops it)",
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
