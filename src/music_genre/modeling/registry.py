"""MLflow helpers: log the classifier as a pyfunc model with a signature, register good models.

Plain functions (mlflow imported inside) that the pipeline's nodes and hooks call. Registration tags every
model version with the dataset, the feature-settings digest and the git commit it came from.
"""

from __future__ import annotations

import logging
import pickle
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd

from music_genre.modeling.artifact import GenreClassifier

log = logging.getLogger(__name__)

MODEL_ARTIFACT = "genre_classifier"  # the features-in model this module logs
PIPELINE_ARTIFACT = "music_genre_pipeline"  # the paths-in model kedro-mlflow logs (serving.py)
# Pinned requirements for the logged model: MLflow would otherwise load the model in a subprocess to guess.
MODEL_REQUIREMENTS = ("lightgbm", "scikit-learn", "pandas", "numpy", "soundfile", "soxr", "scipy")
# The package directory, shipped with every logged model as code_paths.
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the whole music_genre package


def active_run_id() -> str | None:
    import mlflow

    run = mlflow.active_run()
    return run.info.run_id if run else None


def tag_active_run(**tags: object) -> None:
    """Tag the run in progress (no-op when tracking is off): what a node decided, e.g. the feature set."""
    import mlflow

    if mlflow.active_run() is not None:
        mlflow.set_tags({key: str(value) for key, value in tags.items()})


def batch_step(batch: str) -> tuple[int, int]:
    """MLflow step and timestamp (ms) for a batch named by its day: days since 1970 and that day, so
    the MLflow UI charts a metric over the batches' dates; (0, now) for other names."""
    import time

    try:
        day = pd.Timestamp(str(batch))
    except ValueError:
        return 0, int(time.time() * 1000)
    if day.tzinfo is not None:
        day = day.tz_convert(None)
    return int(day.value // 86_400_000_000_000), int(day.value // 1_000_000)


def log_metrics_at(metrics: Mapping[str, float | None], batch: str) -> None:
    """Log metrics to the run in progress (no-op when tracking is off) at the batch's step and date."""
    import mlflow
    from mlflow.entities import Metric

    run = mlflow.active_run()
    if run is None:
        return
    step, timestamp = batch_step(batch)
    entries = [
        Metric(key, float(value), timestamp, step)
        for key, value in metrics.items()
        if value is not None
    ]
    mlflow.MlflowClient().log_batch(run.info.run_id, metrics=entries)


def pinned_requirements(names: Iterable[str] = MODEL_REQUIREMENTS) -> list[str]:
    """``name==installed version`` for each of ``names`` (the bare name where it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    pinned = []
    for name in names:
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pinned.append(name)
    return pinned


def log_classifier_model(
    classifier: GenreClassifier, example: pd.DataFrame, name: str = MODEL_ARTIFACT
) -> dict:
    """Log the bundle as a pyfunc model in the active run, with an input signature inferred from
    ``example`` (feature columns) and the probability frame it yields. Returns where it went."""
    import mlflow
    from mlflow.models import infer_signature

    from music_genre.modeling import mlflow_model

    run_id = active_run_id()
    if run_id is None:
        log.info("No active MLflow run (tracking disabled): the model is not logged to MLflow")
        return {"logged": False}
    features = example[classifier.feature_columns].head(5).astype("float64")
    signature = infer_signature(features, classifier.predict_frame(features))
    with tempfile.TemporaryDirectory() as tmp:
        pickled = Path(tmp) / "classifier.pkl"
        pickled.write_bytes(pickle.dumps(classifier))
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=mlflow_model.GenreClassifierModel(),
            artifacts={"classifier": str(pickled)},
            code_paths=[str(PACKAGE_DIR)],
            signature=signature,
            input_example=features.head(2),
            pip_requirements=pinned_requirements(),
        )
    return {"logged": True, "run_id": run_id, "artifact_path": name, "model_uri": info.model_uri}


def git_commit(cwd: str | Path = ".") -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def registration_request(
    metrics: Mapping[str, Mapping],
    registration: Mapping,
    *,
    dataset: str,
    feature_digest: str,
    model_type: str,
    run_id: str | None,
    better_than_chance: bool = True,
    training_fingerprint: str = "",
    promotion: Mapping | None = None,
    task: str | None = None,
) -> dict:
    """Whether this run's model deserves the registry, and with which tags (decided from test metrics
    by the task's gate: :meth:`music_genre.modeling.tasks.base.Task.registration_gate`; a model no better
    than chance never does). Each task registers under its own name (``music-genre-<dataset>`` plus the
    task's suffix), so each keeps its own versions and its own champion."""
    from music_genre.modeling.tasks import get_task

    chosen = get_task(task)
    gate = chosen.registration_gate(metrics, registration)
    passed = gate["passed"]
    # A test (or a smoke run) that needs a registered model whatever a handful of tracks scored turns
    # the chance gate off with the threshold at 0; users keep it on.
    if not registration.get("require_better_than_chance", True):
        better_than_chance = True
    register = bool(run_id) and passed and better_than_chance
    if not run_id:
        reason = "no MLflow run (tracking disabled)"
    elif not better_than_chance:
        reason = chosen.chance_reason
    else:
        reason = gate["verdict"]
    return {
        "register": register,
        "reason": reason,
        "model_name": (registration.get("model_name") or f"music-genre-{dataset}")
        + chosen.model_suffix,
        "run_id": run_id,
        "artifact_path": registration.get("artifact_path", PIPELINE_ARTIFACT),
        "metric": gate["metric"],
        "value": gate["value"],
        "threshold": gate["threshold"],
        "promotion": dict(promotion or {}),
        "tags": {
            "training_fingerprint": training_fingerprint,
            "dataset": dataset,
            "feature_settings_digest": feature_digest,
            "git_commit": git_commit(),
            "model_type": model_type,
            "task": chosen.name,
        },
    }


def find_version_by_tag(client, name: str, key: str, value: str):
    """The registered version of ``name`` tagged ``key=value``, or None."""
    for version in client.search_model_versions(f"name = '{name}'"):
        if (version.tags or {}).get(key) == value:
            return version
    return None


def alias_version(client, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def decided_against(promotion: Mapping | None) -> str | None:
    """The registry version of the champion a promotion decision compared with (None: no champion)."""
    champion = (promotion or {}).get("champion") or {}
    version = champion.get("registry_version")
    return None if version is None else str(version)


def register_model(
    request: Mapping, recheck: Callable[[str | None], Mapping] | None = None
) -> dict:
    """Register ``runs:/<run>/<artifact>`` under the request's name, tagging the new version, unless a
    version with the same training fingerprint (same rows, features and parameters) is registered
    already; then point the aliases: the first version, or a challenger that beat the champion (the
    request's ``promotion``), becomes ``champion`` (the one it replaces, ``previous_champion``), any other
    new version ``challenger``.

    The decision is taken against the champion as the registry has it now: when the ``champion`` alias
    names another version than the one the request's decision compared with (another run promoted in
    between), ``recheck(current champion version)`` decides again and its decision is the one applied
    (with ``stale_champion``: the version the first comparison was against). Callers hold the dataset's
    promotion lock (:func:`music_genre.common.locks.promotion_lock`) around this and the local copy."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from music_genre.modeling.promotion import (
        CHALLENGER,
        CHAMPION,
        PREVIOUS_CHAMPION,
    )

    uri = f"runs:/{request['run_id']}/{request['artifact_path']}"
    client = MlflowClient()
    name = request["model_name"]
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    fingerprint = str(request["tags"].get("training_fingerprint") or "")
    same = (
        find_version_by_tag(client, name, "training_fingerprint", fingerprint)
        if fingerprint
        else None
    )
    if same is not None:
        version = str(same.version)
        log.info(
            "Not registered again: %s version %s was trained on the same data with the same "
            "parameters (training fingerprint %s)",
            name,
            version,
            fingerprint,
        )
    else:
        # MLflow 3 keeps a logged model apart from its run's artifacts: register that model itself
        # (mlflow.register_model would find no artifacts at the run path, warn, and fall back to it).
        logged = mlflow.search_logged_models(
            experiment_ids=[client.get_run(request["run_id"]).info.experiment_id],
            filter_string=f"source_run_id = '{request['run_id']}' AND name = '{request['artifact_path']}'",
            output_format="list",
        )
        source = f"models:/{logged[0].model_id}" if logged else uri
        created = client.create_model_version(
            name,
            source,
            run_id=request["run_id"],
            tags=dict(request["tags"]),
            model_id=logged[0].model_id if logged else None,
        )
        version = str(created.version)
        log.info("Registered %s as %s version %s (%s)", uri, name, version, request["reason"])
    promotion = dict(request.get("promotion") or {})
    champion = alias_version(client, name, CHAMPION)
    if promotion and recheck is not None and champion != version:
        earlier = decided_against(promotion)
        if champion != earlier:
            log.info(
                "The champion of %s changed since this run compared with it (version %s then, %s "
                "now): comparing with version %s again, on the same tracks",
                name,
                earlier or "none",
                champion or "none",
                champion or "none",
            )
            promotion = {**dict(recheck(champion)), "stale_champion": earlier}
            # the run's tags said what the first comparison decided: they say what was applied
            client.set_tag(request["run_id"], "promote", str(promotion.get("promote")))
            client.set_tag(request["run_id"], "promotion", str(promotion.get("reason", ""))[:5000])
    previous = None
    if champion == version:
        alias = CHAMPION
    elif champion is None or promotion.get("promote"):
        if champion is not None:
            client.set_registered_model_alias(name, PREVIOUS_CHAMPION, champion)
            previous = champion
        client.set_registered_model_alias(name, CHAMPION, version)
        if alias_version(client, name, CHALLENGER) == version:
            client.delete_registered_model_alias(name, CHALLENGER)
        alias = CHAMPION
        log.info(
            "%s version %s is the champion now%s (%s)",
            name,
            version,
            f", replacing version {champion}" if champion else "",
            promotion.get("reason", "the first registered model"),
        )
    else:
        client.set_registered_model_alias(name, CHALLENGER, version)
        alias = CHALLENGER
        log.info(
            "%s version %s is the challenger; version %s stays champion (%s)",
            name,
            version,
            champion,
            promotion.get("reason", "not compared"),
        )
    if promotion:
        client.set_model_version_tag(name, version, "promotion", promotion.get("reason", ""))
    return {
        **request,
        "promotion": promotion,
        "registered_version": int(version),
        "new_version": same is None,
        "alias": alias,
        "champion_version": int(version) if alias == CHAMPION else int(champion),
        "replaced_champion": None if previous is None else int(previous),
        "model_uri": uri,
    }
