"""Retention (music_genre.monitoring.retention) on a real SQLite MLflow store with real logged and registered
models, real monitoring-page and model-version folders: what goes, what always stays, and the bytes freed."""

from __future__ import annotations

import os
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import pytest

from music_genre.monitoring import retention

pytestmark = pytest.mark.timeout(300)

NAME = "music-genre-sample"


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def size(path: Path) -> int:
    return retention.size_of(path)


@pytest.fixture
def store(tmp_path):
    """A run still going (the oldest), then five finished runs of the dataset's experiment, each with an
    artifact and a logged model (run 0's registered: the champion); artifacts under tmp_path/mlruns."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    client.create_experiment(NAME, artifact_location=(tmp_path / "mlruns").as_uri())
    experiment = mlflow.set_experiment(NAME)
    runs = []
    try:
        going = client.create_run(experiment.experiment_id)  # never ended: an old run still going
        for _ in range(5):
            with mlflow.start_run() as run:
                mlflow.log_text("x" * 50_000, "evaluation/summary.md")
                mlflow.pyfunc.log_model(name="model", python_model=Echo(), pip_requirements=[])
            runs.append(run.info.run_id)
        models = {m.source_run_id: m for m in client.search_logged_models([run.info.experiment_id])}
        client.create_registered_model(NAME)
        version = client.create_model_version(
            NAME, f"models:/{models[runs[0]].model_id}", run_id=runs[0],
            model_id=models[runs[0]].model_id,
        )  # fmt: skip
        client.set_registered_model_alias(NAME, "champion", version.version)
        yield {
            "uri": uri,
            "client": client,
            "runs": runs,
            "models": models,
            "going": going.info.run_id,
        }
    finally:
        mlflow.set_tracking_uri(before)


def local(uri: str) -> Path:
    return retention._local_path(uri)


def test_old_runs_lose_their_artifacts_and_registered_or_running_ones_never(tmp_path, store):
    client, runs, models = store["client"], store["runs"], store["models"]
    artifact_dirs = {r: local(client.get_run(r).info.artifact_uri) for r in runs}
    model_dirs = {r: local(models[r].artifact_location) for r in runs}
    for r in runs:
        assert (artifact_dirs[r] / "evaluation/summary.md").is_file() and any(
            model_dirs[r].iterdir()
        )
    expected = sum(size(artifact_dirs[r]) + size(model_dirs[r]) for r in runs[1:3])

    pruned = retention.prune_mlflow_runs(
        store["uri"], NAME, keep_last=2, keep_days=None, now=datetime.now(UTC)
    )
    # the two newest finished runs kept, run 0 kept (a registered version's), the running one kept
    assert sorted(pruned.removed) == sorted(runs[1:3])
    assert pruned.bytes == expected > 100_000
    for r in runs[1:3]:
        assert not (artifact_dirs[r] / "evaluation").exists()
        assert not model_dirs[r].exists() or not any(model_dirs[r].rglob("*"))
        run = client.get_run(r)
        assert retention.PRUNED_TAG in run.data.tags
        assert run.info.lifecycle_stage == "active"  # the run, its params and metrics stay
    for r in (runs[0], *runs[3:]):
        assert (artifact_dirs[r] / "evaluation/summary.md").is_file()
        assert any(model_dirs[r].rglob("MLmodel"))
        assert retention.PRUNED_TAG not in client.get_run(r).data.tags
    # the champion still loads from the registry
    assert mlflow.pyfunc.load_model(f"models:/{NAME}@champion") is not None
    assert pruned.kept == 4  # runs 0, 3, 4 and the one going still have their artifacts
    # a second pass finds nothing more to do
    again = retention.prune_mlflow_runs(store["uri"], NAME, 2, None, datetime.now(UTC))
    assert again.removed == [] and again.bytes == 0 and again.kept == 4


def test_pages_and_model_versions_keep_the_newest_and_each_tasks_newest(tmp_path):
    project = tmp_path / "project"
    pages = project / "data/08_reporting/sample/monitoring"
    versions = project / "data/06_models/sample/genre_classifier.pkl"
    pages.mkdir(parents=True)
    start = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    for day in range(5):
        page = pages / f"report_2026-11-0{day + 1}.html"
        page.write_text("<html>" + "p" * 1000 * (day + 1))
        os.utime(page, (start + day * 86400, start + day * 86400))
    (pages / "history.parquet").write_bytes(b"history")  # not a page: never touched
    for day in range(5):
        name = f"2026-11-0{day + 1}T06.00.00.000Z"
        folder = versions / name
        folder.mkdir(parents=True)
        # the oldest is the only multi-label model (its class name is in the pickle)
        body = {"cls": "TagClassifier" if day == 0 else "GenreClassifier", "day": day}
        (folder / "genre_classifier.pkl").write_bytes(pickle.dumps(body))
        os.utime(folder / "genre_classifier.pkl", (start + day * 86400, start + day * 86400))
    now = datetime.fromtimestamp(start, UTC) + timedelta(days=5)

    report = retention.apply_retention(
        project, "sample",
        {"keep_last": {"monitoring_pages": 2, "model_versions": 2}, "keep_days": 0},
        tracking_uri=None, experiment_name=None, now=now,
    )  # fmt: skip
    assert sorted(p.name for p in pages.iterdir()) == [
        "history.parquet", "report_2026-11-04.html", "report_2026-11-05.html",
    ]  # fmt: skip
    assert sorted(v.name for v in versions.iterdir()) == [
        "2026-11-01T06.00.00.000Z",  # the newest (only) multi-label model
        "2026-11-04T06.00.00.000Z",
        "2026-11-05T06.00.00.000Z",
    ]
    pages_part, versions_part = report.parts
    assert pages_part.removed == [f"report_2026-11-0{d}.html" for d in (1, 2, 3)]
    assert pages_part.bytes == sum(len("<html>") + 1000 * d for d in (1, 2, 3))
    assert versions_part.removed == ["2026-11-02T06.00.00.000Z", "2026-11-03T06.00.00.000Z"]
    assert "monitoring pages: 3 removed, 2 kept" in report.line()

    # keep_days keeps the young ones whatever the count: pages written in the last 1.5 days
    report = retention.apply_retention(
        project, "sample", {"keep_last": {"monitoring_pages": 0}, "keep_days": 1.5},
        tracking_uri=None, experiment_name=None, now=now,
    )  # fmt: skip
    assert [p.name for p in sorted(pages.glob("report_*"))] == ["report_2026-11-05.html"]

    # off: nothing removed
    assert (
        retention.apply_retention(
            project, "sample", {"enabled": False}, tracking_uri=None, experiment_name=None
        )
        .line()
        .startswith("off")
    )
    assert (pages / "report_2026-11-05.html").is_file()
