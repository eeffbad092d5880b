"""What a new user meets in the first ten minutes: a run that ends with its result, expected failures in one
line, a CLI without traps. Real `kedro run` and `music-genre` processes, as a person types them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from music_genre.features.embeddings import weights as musicnn_weights

from .conftest import SAMPLE_RUN_PARAMS, make_project_copy

KEDRO = Path(sys.executable).with_name("kedro")
# A record of info.log (conf/logging.yml): "2026-12-04T18:27:48+00:00 INFO music_genre.x: message".
ISO_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:?\d\d|Z)"
LOG_RECORD = re.compile(rf"^{ISO_TIME} (?P<level>[A-Z]+) (?P<name>\S+): (?P<message>.*)$")
# A console record when stderr is not a terminal: the same without the logger's name.
CONSOLE_RECORD = re.compile(rf"^{ISO_TIME} (?P<level>[A-Z]+) (?P<message>.*)$")


def run(cwd: Path, *args: str, env: dict | None = None, timeout: float = 900, program=KEDRO):
    full_env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200", **(env or {})}
    full_env.pop("KEDRO_LOGGING_CONFIG", None)  # the project's own conf/logging.yml, as a user gets
    return subprocess.run(
        [str(program), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def params(values: dict) -> str:
    return "--params=" + ",".join(f"{key}={value}" for key, value in values.items())


def log_records(path: Path) -> list[tuple[str, str, str]]:
    """(logger, level, message) of every record in info.log: every line is one whole record."""
    lines = path.read_text(encoding="utf8").splitlines()
    matches = [LOG_RECORD.match(line) for line in lines]
    assert all(matches), [line for line, m in zip(lines, matches, strict=True) if not m][:3]
    return [(m["name"], m["level"], m["message"]) for m in matches]


def under(name: str, parent: str) -> bool:
    return name == parent or name.startswith(parent + ".")


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory, sample_archive):
    """`kedro run` in a fresh project copy, on a copy of the small sample."""
    base = tmp_path_factory.mktemp("first_contact")
    root = base / "sample"
    shutil.copytree(sample_archive, root)
    project = make_project_copy(base / "project")
    result = run(project, "run", params({**SAMPLE_RUN_PARAMS, "dataset.root": root}))
    return project, result


def test_a_run_ends_with_its_summary_and_no_library_chatter(fresh_run):
    project, result = fresh_run
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    start = max(i for i, line in enumerate(lines) if line.startswith("== music-genre run: sample"))
    tail = lines[start:]  # the block is the end of the output
    block = "\n".join(tail)
    metrics = json.loads((project / "data/08_reporting/sample/model_metrics.json").read_text())
    assert tail[-1].startswith("=====") and len(tail) <= 14
    labels = [line.split()[0] for line in tail[1:-1] if line[:1].strip()]
    assert labels[:7] == ["Data", "Features", "Model", "Test", "Labels", "Registry", "Report"]
    # the small sample's test split is too small to say much, and the block says so
    tracks = int(metrics["splits"]["test"]["n_tracks"])
    assert tracks < 30 and f"only {tracks} test tracks: this figure is noise" in block
    # the suspect labels, counted with one line of advice
    issues = json.loads(
        (project / "data/08_reporting/sample/evaluation/label_issue_summary.json").read_text()
    )
    said = f"{issues['count']} suspect labels ({100 * issues['fraction_of_training']:.1f}% of training)"
    assert said in block
    assert ("listen to the first ones" in block) is (issues["fraction_of_training"] > 0.05)
    # the report's path is the catalog's, as typed in the project folder
    (report,) = [line for line in tail if line.startswith("Report")]
    assert report.split()[1] == "data/08_reporting/sample/evaluation/summary.md"
    assert (
        "excluded (" in block and "missing_file 1" in block
    )  # the sample's planted faults, with reasons
    metrics = json.loads((project / "data/08_reporting/sample/model_metrics.json").read_text())
    assert f"accuracy {metrics['splits']['test']['accuracy']:.2f}" in block
    assert "registered as music-genre-sample version 1" in block and "it is the champion" in block
    assert "new releases held out" in block
    assert "music-genre predict song.mp3" in block and "mlflow ui" in block
    assert "Traceback" not in output

    # What a person reads (stdout and stderr are pipes here, as under cron or CI): at most about 40 lines,
    # the project's own records one line each with an ISO timestamp, then the summary block.
    console = [line for line in output.splitlines() if line.strip()]
    assert len(console) <= 40, "\n".join(console)
    records = [line for line in result.stderr.splitlines() if line.strip()]
    assert records and all(CONSOLE_RECORD.match(line) for line in records), records
    messages = [CONSOLE_RECORD.match(line)["message"] for line in records]
    assert messages[0].startswith("Run: sample dataset at ") and "data_ingestion" in messages[0]
    # one line per exclusion reason, with its count (the full list is the exclusions table)
    exclusions = pd.read_parquet(project / "data/03_primary/sample/exclusions.parquet")
    for reason, count in exclusions["reason"].value_counts().items():
        said = [m for m in messages if m.startswith("Excluded ") and f"({reason}: " in m]
        assert len(said) == 1 and said[0].startswith(f"Excluded {count} track"), (reason, said)
    # info.log keeps everything, one line per record: the console's lines, and the libraries' (Kedro's
    # per-node and per-dataset records among them) that the console left out
    logged = log_records(project / "info.log")
    own = {message for name, _, message in logged if under(name, "music_genre")}
    assert all(message in own for message in messages)
    library = [message for name, _, message in logged if under(name, "kedro")]
    assert library and not any(message in messages for message in library)
    assert any(
        under(name, "music_genre") and level == "INFO" and message.startswith("Registration: ")
        for name, level, message in logged
    )


def test_batch_inference_ends_with_its_own_summary(fresh_run):
    project, _ = fresh_run
    sample = next(iter((project.parent / "sample").rglob("*.mp3")))
    folder = project.parent / "new_releases"
    folder.mkdir(exist_ok=True)
    shutil.copy(sample, folder / "a.mp3")
    (folder / "broken.mp3").write_bytes(b"")
    result = run(project, "run", "--pipelines=inference", params({**SAMPLE_RUN_PARAMS,
                 "dataset.root": project.parent / "sample", "inference.input_dir": folder}))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    # the block's lines, its label column's padding aside
    tail = "\n".join(" ".join(line.split()) for line in result.stdout.splitlines()[-14:])
    assert "== music-genre batch inference: sample" in tail
    assert "Next kedro run --pipelines=monitoring" in tail
    assert "2 found, 0 already scored by this model, 2 scored now" in tail
    assert "Failed 1 (empty_file 1)" in tail
    # the answers by verdict, and the genres of the confident ones apart from every answer's
    report = json.loads((project / "data/08_reporting/sample/inference_report.json").read_text())
    answers = [line for line in tail.splitlines() if line.startswith("Answers ")]
    counts = report["verdicts"]
    assert sum(counts.values()) == 1  # a.mp3 answered, broken.mp3 failed
    shown = ", ".join(f"{n} {k}" for i, (k, n) in enumerate(counts.items()) if i < 3 or n)
    assert answers == [f"Answers {shown}"]
    assert "(confident answers)" in tail and "(every answer)" in tail
    assert "data/07_model_output/sample/predictions.parquet" in tail


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (
            ["--env=gtzan", "--params=dataset.root=/nonexistent/genres"],
            1,
            "collection folder not found",
        ),
        # an empty value: `--params=dataset.root=`, or the README's `$(realpath ../shared/...)` where
        # there is no ../shared
        (["--env=gtzan", "--params=dataset.root="], 1, "dataset.root is empty"),
        (["--pipelines=download"], 1, "needs no download"),
        (["--env=nosuchenv"], 2, "no environment 'nosuchenv'"),
        (
            ["--env=fma_small", "--params=dataset.root=/nonexistent/fma"],
            1,
            "FMA metadata not found",
        ),
    ],
    ids=["no-data", "empty-root", "download-without-fma-env", "wrong-env", "fma-without-data"],
)
def test_expected_failures_end_in_one_line(tmp_path, args, code, expected):
    project = make_project_copy(tmp_path / "project")
    result = run(project, "run", *args, timeout=300)
    assert result.returncode == code
    assert "Traceback" not in result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and expected in last


def test_no_network_for_download_is_one_line_and_leaves_nothing_behind(tmp_path):
    project = make_project_copy(tmp_path / "project")
    root = tmp_path / "fma"
    result = run(project, "run", "--pipelines=download", "--env=fma_small", params({
        "dataset.root": root, "download.base_url": "http://127.0.0.1:9/", "download.retries": 1,
        "download.backoff_s": 0.01, "download.progress": False}), timeout=300)  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: could not download http://127.0.0.1:9/fma_metadata.zip")
    assert "resuming" not in result.stdout + result.stderr  # nothing was received to resume from
    assert not root.exists()  # no empty archives folder
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("music-genre-fma_small")
    assert experiment is None or experiment.lifecycle_stage == "deleted"  # no empty experiment


def test_a_checkpoint_that_is_not_musicnn_is_one_line(tmp_path, musicnn_wheel):
    """Without TensorFlow (none is needed to convert the weights): a TensorFlow checkpoint of another
    network, here MTT_musicnn from the same wheel (same shapes, other training), is refused in one line by
    the fingerprint check, and nothing is written."""
    import zipfile

    project = make_project_copy(tmp_path / "project")
    with zipfile.ZipFile(musicnn_wheel) as archive:
        archive.extractall(tmp_path, [m for m in archive.namelist() if "/MTT_musicnn/" in m])
    blocker = tmp_path / "no_tensorflow"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['tensorflow'] = None\n")
    path = os.pathsep.join(p for p in (str(blocker), os.environ.get("PYTHONPATH")) if p)
    env = {"HOME": str(tmp_path), "PYTHONPATH": path, musicnn_weights.WEIGHTS_ENV: ""}
    weights_dir = tmp_path / "weights"
    result = run(project, "run", "--pipelines=embedding_weights", params({
        "feature_engineering.embedding.checkpoint": tmp_path / "musicnn" / "MTT_musicnn",
        "feature_engineering.embedding.weights_dir": weights_dir}), env=env, timeout=300)  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "is not musicnn's MSD_musicnn checkpoint" in last
    assert sum(line.startswith("error:") for line in result.stderr.splitlines()) == 1
    assert not weights_dir.exists() or not any(weights_dir.iterdir())


# ---------------------------------------------------------------------------------------------- the CLI
def test_cli_traps(fresh_run, tmp_path):
    project, _ = fresh_run
    clip = next(iter((project.parent / "sample").rglob("*.mp3")))
    cli = Path(sys.executable).with_name("music-genre")

    wrong_env = run(project, "predict", str(clip), "--env", "nosuchenv", program=cli)
    assert wrong_env.returncode == 2 and "Traceback" not in wrong_env.stderr
    assert wrong_env.stderr.strip().splitlines() == [
        line
        for line in wrong_env.stderr.strip().splitlines()
        if line.startswith("error: no environment")
    ]

    versioned = (
        project / "data/06_models/sample/genre_classifier.pkl"
    )  # the folder, as the README shows
    by_folder = run(
        tmp_path, "predict", str(clip), "--json", "--model", str(versioned), program=cli
    )
    assert by_folder.returncode == 0, by_folder.stderr
    row = json.loads(by_folder.stdout)
    newest = sorted(versioned.glob("*/genre_classifier.pkl"))[-1]
    assert row["model"]["source"] == str(newest)

    outside = run(tmp_path, "predict", str(clip), "--model", "models:/music-genre-sample/1",
                  env={"MLFLOW_TRACKING_URI": ""}, program=cli)  # fmt: skip
    assert (
        outside.returncode == 1
        and "--project" in outside.stderr
        and "MLFLOW_TRACKING_URI" in outside.stderr
    )
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    with_project = run(tmp_path, "predict", str(clip), "--json", "--model", "models:/music-genre-sample/1",
                       "--project", str(project), env={"MLFLOW_TRACKING_URI": ""}, program=cli)  # fmt: skip
    assert with_project.returncode == 0, with_project.stderr
    assert json.loads(with_project.stdout)["genre"] == row["genre"]

    missing = tmp_path / "missing.mp3"
    ordered = run(project, "predict", str(missing), str(clip), str(tmp_path), "--json", program=cli)
    rows = [json.loads(line) for line in ordered.stdout.splitlines()]
    assert [r["path"] for r in rows] == [str(missing), str(clip), str(tmp_path)]  # input order
    assert rows[0]["error"]["reason"] == "missing_file"  # the pipelines' word for it
    assert rows[2]["error"]["reason"] == "no_audio_files"
    catalog = json.loads(run(project, "predict", str(clip), "--json", program=cli).stdout)
    assert catalog["model"]["version"] == row["model"]["version"]  # one model, one id
    assert "champion (music-genre-sample version 1)" in catalog["model"]["source"]
    assert catalog["model"]["version"] not in catalog["model"]["source"]

    help_text = run(project, "predict", "--help", program=cli).stdout
    assert "<bool>" not in help_text and "--json" in help_text


def test_verbose_brings_the_libraries_records_back_to_the_console(tmp_path):
    """`kedro run --verbose`: the same failing run shows Kedro's own records too (its session line, the
    failed node), each still one ISO-timestamped line, and the `error:` line stays last."""
    project = make_project_copy(tmp_path / "project")
    args = ["--env=gtzan", "--params=dataset.root=/nonexistent/genres"]
    quiet = run(project, "run", *args, timeout=300)
    loud = run(project, "run", "--verbose", *args, timeout=300)
    assert quiet.returncode == loud.returncode == 1
    quiet_lines = [line for line in quiet.stderr.splitlines() if line.strip()]
    loud_lines = [line for line in loud.stderr.splitlines() if line.strip()]
    assert loud_lines[-1] == quiet_lines[-1] and quiet_lines[-1].startswith("error: ")
    assert len(loud_lines) > len(quiet_lines)
    assert all(CONSOLE_RECORD.match(line) for line in loud_lines[:-1]), loud_lines
    # every record the quiet run showed, the verbose run shows too (the project's own lines)
    said = {CONSOLE_RECORD.match(line)["message"] for line in loud_lines[:-1]}
    assert all(CONSOLE_RECORD.match(line)["message"] in said for line in quiet_lines[:-1])
