"""The evaluation pipeline's report on the built-in sample: files, MLflow artifacts, cleanlab, notebook."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from music_genre.pipelines.evaluation.nodes import find_label_issues

from .stats import assert_beats_random_pick

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = ("confusion_matrix.png", "feature_importance.png", "reliability_diagram.png")


@pytest.fixture(scope="module")
def report_dir(trained_project):
    return trained_project.path / "data" / "08_reporting" / "sample" / "evaluation"


def _mlflow_run(project):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project.path / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("music-genre-sample")
    (run,) = client.search_runs([experiment.experiment_id], "attributes.run_name = '__default__'")
    return client, run


def test_every_figure_is_a_valid_png_logged_in_the_mlflow_run(trained_project, report_dir):
    from matplotlib import image

    client, run = _mlflow_run(trained_project)
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    for name in FIGURES:
        path = report_dir / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        pixels = image.imread(path)
        assert pixels.shape[0] > 200 and pixels.shape[1] > 200
        assert pixels.std() > 0.05  # a drawing, not a blank canvas
        assert f"evaluation/{name}" in logged
    for name in ("summary.md", "per_class_report.csv", "label_issues.csv", "calibration.json"):
        assert (report_dir / name).is_file() and f"evaluation/{name}" in logged
    assert 0 <= run.data.metrics["evaluation.ece"] <= 1
    assert (
        run.data.metrics["evaluation.label_issues"]
        == trained_project.load("label_issue_summary")["count"]
    )


def test_tables_hold_the_right_numbers(trained_project):
    """The report agrees with the test metrics its own run logged to MLflow (model_metrics.json is
    rewritten by other tests' modeling runs on this project; the run's logged metrics stay)."""
    predictions = trained_project.load("evaluation_predictions")
    per_class = trained_project.load("per_class_report").set_index("genre")
    _, run = _mlflow_run(trained_project)
    metrics = run.data.metrics
    assert len(predictions) == metrics["test.n_tracks"]
    assert (predictions["predicted"] == predictions["genre"]).mean() == pytest.approx(
        metrics["test.accuracy"]
    )
    assert per_class.loc["macro avg", "f1"] == pytest.approx(metrics["test.f1_macro"])
    assert per_class.drop(["macro avg", "weighted avg"])["support"].sum() == len(predictions)
    pairs = trained_project.load("top_confused_pairs")
    assert (pairs["true_genre"] != pairs["predicted_genre"]).all()
    assert pairs["rate"].is_monotonic_decreasing
    importance = trained_project.load("feature_importance_table")
    assert (
        len(importance) == 20 and importance["feature"].str.match(r"^[a-z_]+_\d\d$|^tempo$").all()
    )
    slices = trained_project.load("confidence_slices")
    overall = slices[slices["genre"] == "all"]
    assert overall["count"].sum() == len(predictions)


def test_label_issue_count_is_bounded_by_the_training_split(trained_project):
    summary = trained_project.load("label_issue_summary")
    issues = trained_project.load("label_issues")
    table = trained_project.load("model_input_table")
    n_training = int((table["split"] == "training").sum())
    assert summary["n_training"] == n_training
    assert 0 <= summary["count"] == len(issues) <= n_training
    assert issues["track_id"].is_unique
    assert set(issues["track_id"]) <= set(table.loc[table["split"] == "training", "track_id"])
    assert issues["path"].str.endswith(".mp3").all()


def test_cleanlab_ranks_planted_label_flips_among_its_issues(trained_project):
    """Flip 20% of a copy of the training labels: the head of cleanlab's ranked list (as many suspects as
    flips) holds far more flips than as many training tracks picked at random would. Judged against chance,
    not a fixed share: the sample's training split holds about a hundred tracks, on which the out-of-fold
    model flags some 40% of the tracks; only the ranking tells flips apart with so few (10% flips do not
    beat chance at 1%, 20% do on every seed tried)."""
    table = trained_project.load("model_input_table")
    manifest = trained_project.load("manifest")
    classifier = trained_project.load("genre_classifier")
    rng = np.random.default_rng(0)
    flipped = table.copy()
    training = flipped.index[flipped["split"] == "training"]
    planted = rng.choice(training, size=len(training) // 5, replace=False)
    for i in planted:
        others = [g for g in classifier.classes if g != flipped.loc[i, "genre"]]
        flipped.loc[i, "genre"] = rng.choice(others)
    issues, summary = find_label_issues(
        flipped, manifest, classifier, {"label_quality": {"k": 5, "seed": 0}}
    )
    planted_ids = set(flipped.loc[planted, "track_id"])
    assert summary["count"] == len(issues) <= len(training)
    assert issues["rank"].tolist() == list(range(1, len(issues) + 1))
    head = issues.head(len(planted_ids))
    found = issues.loc[issues["track_id"].isin(planted_ids), "rank"].tolist()
    assert_beats_random_pick(int(head["track_id"].isin(planted_ids).sum()), len(head), len(planted_ids),
                             len(training), f"flips at ranks {found} of {len(issues)} suspects")  # fmt: skip


def test_the_notebook_loads_the_report_from_the_catalog(trained_project, tmp_path):
    import nbclient
    import nbformat

    from tests.conftest import PROJECT_ROOT

    notebooks = trained_project.path / "notebooks"
    notebooks.mkdir(exist_ok=True)
    shutil.copy(PROJECT_ROOT / "notebooks" / "evaluation_report.ipynb", notebooks)
    notebook = nbformat.read(notebooks / "evaluation_report.ipynb", as_version=4)
    nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebooks)}},
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 3
    text = "\n".join(o.get("text", "") for o in outputs)
    summary = trained_project.load("label_issue_summary")
    assert f"{summary['count']} suspect labels among {summary['n_training']}" in text
    markdown = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert markdown and markdown[0].startswith("# Evaluation report")
    assert not (notebooks / "mlflow.db").exists()
