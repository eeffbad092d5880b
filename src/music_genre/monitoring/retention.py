"""Bounded disk use: what ``music-genre daily`` removes after each day (``retention``,
conf/base/parameters_retention.yml; docs/operations.md, "Retention").

Three kinds of output grow with every day, and each keeps its newest ``keep_last`` (and, with
``keep_days``, also whatever is younger than that many days):

- **monitoring pages**, ``data/08_reporting/<dataset>/monitoring/report_<batch>.html`` (about 4.5 MB each:
  Evidently's self-contained page). The figures of every batch stay in ``history.parquet`` and in MLflow;
- **MLflow artifacts of old runs** of the dataset's experiment: each training run's logged models (the
  model and the whole inference pipeline, with the package's code) and its evaluation report, each
  monitoring run's JSON files. The run itself stays (parameters, metrics, tags: the MLflow UI still charts
  every batch), tagged ``music_genre.artifacts_pruned``. Never touched: the runs and models of registered
  model versions (so every champion's, the previous champion's, every challenger's) and runs still going;
- **saved model versions**, ``data/06_models/<dataset>/genre_classifier.pkl/<version>/``; the newest of
  each task is always kept (the batch job falls back on it before any registration), and the champion's
  and fallback's own copies (``champion/``, ``fallback/``) are other folders, never pruned.

Everything else either does not grow (the evaluation report folder is rewritten by each run) or is the
data itself (batch predictions, the features, the labels: kilobytes a batch).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

log = logging.getLogger(__name__)

PAGES = "data/08_reporting/{dataset}/monitoring"
MODEL_VERSIONS = "data/06_models/{dataset}/genre_classifier.pkl"
PRUNED_TAG = "music_genre.artifacts_pruned"
DEFAULTS = {"monitoring_pages": 14, "mlflow_runs": 30, "model_versions": 10}


def monitoring_page(dataset: str, batch: str) -> str:
    """Where a batch's monitoring page is, relative to the project root (the MLflow run's tag)."""
    return f"{PAGES.format(dataset=dataset)}/report_{batch}.html"


@dataclass
class Pruned:
    kind: str
    removed: list[str] = field(default_factory=list)
    kept: int = 0
    bytes: int = 0


@dataclass
class RetentionReport:
    parts: list[Pruned] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(part.bytes for part in self.parts)

    def line(self) -> str:
        """One line for the daily summary."""
        if not self.parts:
            return "off (retention.enabled: false)"
        said = [f"{p.kind}: {len(p.removed)} removed, {p.kept} kept" for p in self.parts]
        return f"{'; '.join(said)} ({self.bytes / 1e6:.1f} MB freed)"


def size_of(path: str | os.PathLike) -> int:
    """Bytes of a file or of everything under a folder (0 when missing)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def keep(
    items: Iterable[tuple[str, datetime]],
    keep_last: int | None,
    keep_days: float | None,
    now: datetime,
) -> set[str]:
    """The keys of ``items`` (key, time) to keep: the newest ``keep_last``, and any younger than
    ``keep_days`` days. ``keep_last`` None keeps everything."""
    ordered = sorted(items, key=lambda item: item[1], reverse=True)
    if keep_last is None:
        return {key for key, _ in ordered}
    kept = {key for key, _ in ordered[: max(0, int(keep_last))]}
    if keep_days:
        young = now - timedelta(days=float(keep_days))
        kept |= {key for key, when in ordered if when >= young}
    return kept


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def prune_pages(folder: Path, keep_last, keep_days, now: datetime) -> Pruned:
    """The newest monitoring pages (by when they were written) stay."""
    result = Pruned("monitoring pages")
    pages = {page.name: page for page in folder.glob("report_*.html")} if folder.is_dir() else {}
    kept = keep(((name, _mtime(page)) for name, page in pages.items()), keep_last, keep_days, now)
    for name, page in sorted(pages.items()):
        if name in kept:
            continue
        result.bytes += size_of(page)
        page.unlink(missing_ok=True)
        result.removed.append(name)
    result.kept = len(kept)
    return result


def _task_of_pickle(path: Path) -> str:
    """The task of a saved model without unpickling it (no estimator library loaded)."""
    with open(path, "rb") as handle:
        return "multi_label" if b"TagClassifier" in handle.read() else "single_label"


def prune_model_versions(folder: Path, keep_last, keep_days, now: datetime) -> Pruned:
    """Kedro's versioned folder of trained models: the newest versions stay, and the newest of each
    task whatever the count."""
    result = Pruned("model versions")
    versions = (
        {v.name: v for v in folder.iterdir() if v.is_dir() and (v / folder.name).is_file()}
        if folder.is_dir()
        else {}
    )
    kept = keep(((name, _mtime(v / folder.name)) for name, v in versions.items()), keep_last,
                keep_days, now)  # fmt: skip
    seen_tasks = set()
    for name in sorted(versions, reverse=True):  # Kedro's version names sort by time
        task = _task_of_pickle(versions[name] / folder.name)
        if task not in seen_tasks:
            seen_tasks.add(task)
            kept.add(name)
    for name in sorted(versions):
        if name in kept:
            continue
        result.bytes += size_of(versions[name])
        shutil.rmtree(versions[name], ignore_errors=True)
        result.removed.append(name)
    result.kept = len(kept)
    return result


def _local_path(uri: str | None) -> Path | None:
    if not uri:
        return None
    from mlflow.utils.uri import is_local_uri

    if uri.startswith("file:"):
        from mlflow.utils.file_utils import local_file_uri_to_path

        return Path(local_file_uri_to_path(uri))
    return Path(uri) if is_local_uri(uri) and "://" not in uri else None


def _delete_artifacts(uri: str | None) -> int:
    """Delete everything at an artifact URI (through MLflow's artifact repository, so a remote store
    works too); the bytes freed where the store is local (0 when unknown)."""
    if not uri:
        return 0
    from mlflow.store.artifact.artifact_repository_registry import (
        get_artifact_repository,
    )

    local = _local_path(uri)
    freed = size_of(local) if local is not None else 0
    try:
        get_artifact_repository(uri).delete_artifacts()
    except Exception as err:  # a store that cannot delete keeps its files
        log.warning("Could not delete the artifacts at %s: %s", uri, err)
        return 0
    return freed


def prune_mlflow_runs(
    tracking_uri: str, experiment_name: str, keep_last, keep_days, now: datetime
) -> Pruned:
    """Artifacts (logged models included) of the experiment's older runs; the runs stay, tagged."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    result = Pruned("MLflow runs with artifacts")
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return result
    runs, token = [], None
    while True:
        page = client.search_runs(
            [experiment.experiment_id], run_view_type=ViewType.ALL, max_results=1000,
            order_by=["attributes.start_time DESC"], page_token=token,
        )  # fmt: skip
        runs.extend(page)
        token = page.token
        if not token:
            break
    # never: a registered version's run or model (every champion's among them)
    versions = list(client.search_model_versions(max_results=10_000))
    protected_runs = {v.run_id for v in versions if v.run_id}
    protected_models = {getattr(v, "model_id", None) for v in versions} | {
        v.source.removeprefix("models:/")
        for v in versions
        if (v.source or "").startswith("models:/")
    }
    kept = keep(
        ((r.info.run_id, datetime.fromtimestamp(r.info.start_time / 1000, UTC)) for r in runs),
        keep_last, keep_days, now,
    )  # fmt: skip
    models_by_run: dict[str, list] = {}
    if any(r.info.run_id not in kept for r in runs):
        token = None
        while True:
            page = client.search_logged_models([experiment.experiment_id], page_token=token)
            for model in page:
                models_by_run.setdefault(model.source_run_id, []).append(model)
            token = page.token
            if not token:
                break
    already = 0
    for run in runs:
        run_id = run.info.run_id
        if PRUNED_TAG in run.data.tags:
            already += 1
            continue
        if (
            run_id in kept
            or run_id in protected_runs
            or run.info.status in ("RUNNING", "SCHEDULED")
        ):
            continue
        freed = _delete_artifacts(run.info.artifact_uri)
        for model in models_by_run.get(run_id, []):
            if model.model_id in protected_models:
                continue
            freed += _delete_artifacts(model.artifact_location)
            try:
                client.delete_logged_model(model.model_id)
            except Exception as err:  # the files are gone either way
                log.debug("Could not mark logged model %s deleted: %s", model.model_id, err)
        client.set_tag(run_id, PRUNED_TAG, now.isoformat(timespec="seconds"))
        result.bytes += freed
        result.removed.append(run_id)
    result.kept = len(runs) - len(result.removed) - already  # the runs that still have artifacts
    return result


def apply_retention(
    project: str | os.PathLike,
    dataset: str,
    settings: Mapping | None,
    *,
    tracking_uri: str | None,
    experiment_name: str | None,
    now: datetime | None = None,
) -> RetentionReport:
    """Prune the dataset's monitoring pages, old MLflow runs' artifacts and saved model versions as
    ``settings`` (the ``retention`` parameters) say; what was removed, kept and freed."""
    settings = dict(settings or {})
    report = RetentionReport()
    if not settings.get("enabled", True):
        return report
    now = now or datetime.now(UTC)
    counts = {**DEFAULTS, **(settings.get("keep_last") or {})}
    days = settings.get("keep_days") or None
    project = Path(project)
    report.parts.append(
        prune_pages(project / PAGES.format(dataset=dataset), counts["monitoring_pages"], days, now)
    )
    if tracking_uri and experiment_name:
        report.parts.append(
            prune_mlflow_runs(tracking_uri, experiment_name, counts["mlflow_runs"], days, now)
        )
    report.parts.append(
        prune_model_versions(
            project / MODEL_VERSIONS.format(dataset=dataset), counts["model_versions"], days, now
        )
    )
    for part in report.parts:
        if part.removed:
            log.info(
                "Retention: %d %s removed (%.1f MB), %d kept",
                len(part.removed), part.kind, part.bytes / 1e6, part.kept,
            )  # fmt: skip
    return report


def apply_to_project(
    project: str | os.PathLike, env: str | None, parameters: Mapping
) -> RetentionReport:
    """:func:`apply_retention` with the environment's own settings: its ``retention`` and ``dataset``
    parameters and its MLflow store and experiment (conf/<env>/mlflow.yml)."""
    from music_genre.modeling.store import project_config

    dataset = str((parameters.get("dataset") or {}).get("name") or "sample")
    try:
        mlflow_config = project_config(Path(project), env)["mlflow"]
        tracking_uri = mlflow_config["server"]["mlflow_tracking_uri"]
        experiment = mlflow_config["tracking"]["experiment"]["name"]
    except Exception as err:  # no mlflow.yml: nothing tracked to prune
        log.debug("No MLflow settings for retention: %s", err)
        tracking_uri = experiment = None
    return apply_retention(
        project,
        dataset,
        parameters.get("retention"),
        tracking_uri=tracking_uri,
        experiment_name=experiment,
    )


def retention_line(project: str | os.PathLike, env: str | None, parameters: Mapping) -> str:
    """:func:`apply_to_project`'s one line for the daily summary; a failure to prune is that line (and
    a warning in the log), never a failed day: the day's work is saved by then."""
    try:
        return apply_to_project(project, env, parameters).line()
    except Exception as err:
        log.warning("Retention not applied: %s", err, exc_info=True)
        return f"not applied: {' '.join(str(err).split())[:200]}"
