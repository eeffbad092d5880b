"""Inference for the three kinds of user: the CLI, the batch pipeline, the MLflow model server.

Real audio (the sample's clips, ../shared's fma_small clip and GTZAN clips, a long file made of clips), the
real console script in a subprocess, Kedro's runner with a real local Ray, a real `mlflow models serve`.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from music_genre.serving import wording
from tests.conftest import (
    FMA_EXCERPT,
    GTZAN_SUBSET,
    KedroProject,
    free_port,
    make_project_copy,
    wait_until_up,
)

JSON_KEYS = {
    "path",
    "track_id",
    "genre",
    "confidence",
    "verdict",
    "runner_up",
    "top",
    "probabilities",
    "windows",
    "duration",
    "model",
}


def cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120):
    """The installed console script, as a person runs it (a subprocess, its own cold start)."""
    command = [sys.executable, "-m", "music_genre", *args]
    full_env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", **(env or {})}
    return subprocess.run(
        command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def project(trained_project) -> KedroProject:
    return trained_project


def served_model(project: KedroProject):
    """What the CLI, the batch job and the registry answer with: the champion (its local copy). Not the newest
    trained model: other tests train more models in this project, which do not become the champion."""
    return project.load("champion_genre_classifier")


def champion_uri(project: KedroProject) -> str:
    """The champion's version in the Model Registry, as `models:/<name>/<version>`."""
    info = project.load("champion_info")
    return f"models:/{info['name']}/{info['version']}"


@pytest.fixture(scope="module")
def clips(project, tmp_path_factory) -> dict[str, Path]:
    """Real files to score: sample clips, plus ../shared's real clips when present."""
    folder = tmp_path_factory.mktemp("clips")
    manifest = project.load("manifest")
    test = manifest[manifest["split"] == "test"].head(3)
    found = {}
    for i, path in enumerate(test["path"]):
        found[f"sample{i}"] = Path(shutil.copy(path, folder / f"sample{i}.mp3"))
    return found


def test_predict_one_clip_prints_genre_and_bars(project, clips):
    from music_genre.serving import wording

    result = cli("predict", str(clips["sample0"]), "--top", "3", cwd=project.path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    classifier = served_model(project)
    champion = project.load("champion_info")
    # who answered: the registry's champion, trained on the synthesized sample, and it says so
    assert lines[0] == (
        f"model: {champion['name']} version {champion['version']} (champion), dataset sample, "
        "task single_label"
    )
    assert wording.sample_warning(wording.model_facts(classifier, "", "sample")) in result.stderr
    assert lines[1].startswith("sample0.mp3")
    assert any(genre in lines[1] for genre in classifier.classes)
    bars = [line for line in lines[2:] if "█" in line or "░" in line]
    assert len(bars) == 3 and all("%" in bar for bar in bars)
    assert "Traceback" not in result.stderr


def test_json_schema_and_values(project, clips):
    result = cli("predict", *map(str, clips.values()), "--json", "--top", "2", cwd=project.path)
    assert result.returncode == 0, result.stderr
    rows = json_lines(result.stdout)
    assert len(rows) == len(clips)
    classifier = served_model(project)
    from music_genre.serving.inference import prediction_columns

    # the familiarity verdict, where the prediction rows carry it (serving/inference.py)
    verdict = {"familiarity_distance", "unfamiliar"} & set(prediction_columns(classifier))
    for row in rows:
        assert set(row) == JSON_KEYS | verdict
        assert set(row["probabilities"]) == set(classifier.classes)
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert row["genre"] == max(row["probabilities"], key=row["probabilities"].get)
        assert row["confidence"] == pytest.approx(row["probabilities"][row["genre"]])
        assert [t["genre"] for t in row["top"]][0] == row["genre"] and len(row["top"]) == 2
        assert row["top"][0]["probability"] >= row["top"][1]["probability"]
        assert row["windows"] == 1 and 11 < row["duration"] < 13
        assert row["model"]["version"] == classifier.version
        assert (row["model"]["dataset"], row["model"]["task"]) == ("sample", "single_label")
        # the text's verdict as fields: the one judgement of the row's probabilities
        ranked = sorted(row["probabilities"].items(), key=lambda item: -item[1])
        judged = wording.judge(ranked, len(ranked), unfamiliar=bool(row.get("unfamiliar")))
        assert (row["verdict"], row["runner_up"]) == (judged.kind, ranked[1][0])


def test_bad_inputs_are_one_line_each_and_the_rest_is_predicted(project, clips, tmp_path):
    empty_folder = tmp_path / "no_audio"
    empty_folder.mkdir()
    (empty_folder / "readme.txt").write_text("nothing to hear")
    not_audio = tmp_path / "notes.mp3"
    not_audio.write_text("this is text, not audio " * 50)
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(22050 * 2, dtype=np.float32), 22050)
    missing = tmp_path / "missing.mp3"
    bad = {
        str(missing): "missing_file",
        str(empty_folder): "no_audio_files",
        str(not_audio): "unreadable",
        str(empty): "empty_file",
        str(short): "too_short",
    }
    result = cli("predict", *bad, str(clips["sample1"]), cwd=project.path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(bad)
    others = [line for line in result.stderr.splitlines() if line.strip() and line not in errors]
    assert all(line.startswith(("warning: ", "note: ")) for line in others), others
    for path, reason in bad.items():
        (line,) = [e for e in errors if f"error: {path}:" in e]
        assert f"({reason})" in line
    assert "sample1.mp3" in result.stdout  # the good file was still predicted

    as_json = json_lines(
        cli("predict", *bad, str(clips["sample1"]), "--json", cwd=project.path).stdout
    )
    assert {row["path"]: row["error"]["reason"] for row in as_json if "error" in row} == bad
    assert [row["path"] for row in as_json if "error" not in row] == [str(clips["sample1"])]


def test_usage_errors_exit_2(project, clips):
    assert cli("predict", cwd=project.path).returncode == 2
    assert cli("predict", str(clips["sample0"]), "--top", "0", cwd=project.path).returncode == 2
    assert cli("predict", str(clips["sample0"]), "--nope", cwd=project.path).returncode == 2
    assert cli("frobnicate", cwd=project.path).returncode == 2


def test_an_install_made_before_the_cli_split_still_starts_without_a_warning():
    """Its console script imports ``music_genre.serving.console:main`` until it is reinstalled."""
    probe = subprocess.run(
        [sys.executable, "-W", "error", "-c",
         "from music_genre.serving.console import main; "
         "from music_genre.serving.commands import main as today; print(main is today)"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert probe.returncode == 0 and probe.stdout.strip() == "True", probe.stderr


def test_help_is_fast_and_imports_nothing_heavy(project):
    started = time.perf_counter()
    result = cli("--help", cwd=project.path)
    assert result.returncode == 0 and "predict" in result.stdout
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, music_genre.serving.commands, music_genre.features, music_genre.serving.inference; "
            "print(sorted(m for m in ('ray', 'librosa', 'lightgbm', 'mlflow', 'sklearn', 'kedro') "
            "if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "[]"
    assert time.perf_counter() - started < 30  # a sanity bound only; the 1 s target is benchmarked


def test_no_model_says_how_to_train_one(clips, tmp_path):
    fresh = make_project_copy(tmp_path / "fresh")
    result = cli("predict", str(clips["sample0"]), cwd=fresh)
    assert result.returncode == 1
    assert "no trained model" in result.stderr and "kedro run" in result.stderr
    assert "Traceback" not in result.stderr
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    result = cli("predict", str(clips["sample0"]), cwd=outside)
    assert result.returncode == 1 and "--model" in result.stderr


def test_a_long_song_is_judged_on_averaged_windows(project, clips, tmp_path):
    """A 4-minute file made of clips: 8 windows, probabilities = the mean of the windows' own."""
    from music_genre.data import audio

    pieces = [audio.load(path, sample_rate=22050) for path in clips.values()]
    song = np.concatenate([pieces[i % len(pieces)] for i in range(20)])[: 22050 * 240]
    long_file = tmp_path / "long_song.wav"
    sf.write(long_file, song, 22050)

    result = cli("predict", str(long_file), "--json", cwd=project.path)
    assert result.returncode == 0, result.stderr
    (row,) = json_lines(result.stdout)
    assert row["windows"] == 8 and row["duration"] == pytest.approx(240, abs=0.1)

    classifier = served_model(project)
    from music_genre.features import FeatureSettings, extract_file

    settings = FeatureSettings.from_dict(classifier.feature_settings)
    windows = [
        extract_file(long_file, settings.replace(offset=offset, duration=30.0))
        for offset in np.arange(0, 211, 30.0)
    ]
    expected = classifier.predict_proba(pd.DataFrame(windows)).mean(axis=0)
    got = np.array([row["probabilities"][genre] for genre in classifier.classes])
    assert np.allclose(got, expected, atol=1e-5)
    first_window_only = classifier.predict_proba(pd.DataFrame(windows[:1]))[0]
    assert not np.allclose(got, first_window_only, atol=1e-3)


def test_cli_equals_batch_pipeline_for_the_same_clips(project, clips, tmp_path):
    folder = tmp_path / "new_releases"
    folder.mkdir()
    for path in clips.values():
        shutil.copy(path, folder / path.name)
    real = []
    if GTZAN_SUBSET.is_dir():  # real recordings too, where ../shared is present
        for genre in ("blues", "metal"):
            real.append(shutil.copy(GTZAN_SUBSET / genre / f"{genre}.00000.wav", folder))
        real.append(shutil.copy(FMA_EXCERPT / "fma_small" / "000" / "000002.mp3", folder))
    params = {**project.params, "inference.input_dir": str(folder)}
    project.run(["inference"], params=params)
    batch = project.load("predictions", params=params)
    batch = batch[batch["path"].str.startswith(str(folder))].set_index("path")
    assert len(batch) == len(clips) + len(real)
    assert batch["model_version"].nunique() == 1 and batch["error_reason"].isna().all()
    if real:
        assert batch.loc[str(folder / "000002.mp3"), "track_id"] == "2"

    result = cli("predict", str(folder), "--json", cwd=project.path)
    assert result.returncode == 0, result.stderr
    classes = served_model(project).classes
    for row in json_lines(result.stdout):
        stored = batch.loc[row["path"]]
        assert row["genre"] == stored["genre"]
        for genre in classes:
            assert row["probabilities"][genre] == pytest.approx(stored[f"proba_{genre}"], abs=2e-6)

    # a daily job: the same model does not score the same files twice
    project.run(["inference"], params=params)
    again = project.load("predictions", params=params)
    assert len(again[again["path"].str.startswith(str(folder))]) == len(batch)


def test_batch_job_needs_only_a_model_and_a_folder(project, clips, tmp_path):
    """A tagging machine has the trained model and today's folder; it never ran data_ingestion."""
    tagger = KedroProject(make_project_copy(tmp_path / "tagger"))
    models = Path("data") / "06_models" / "sample" / "genre_classifier.pkl"
    shutil.copytree(project.path / models, tagger.path / models)
    folder = tmp_path / "today"
    folder.mkdir()
    shutil.copy(clips["sample1"], folder)
    tagger.run(["inference"], params={"inference.input_dir": str(folder)})
    predictions = tagger.load("predictions")
    assert list(predictions["path"]) == [str(folder / "sample1.mp3")]
    assert predictions["genre"].iloc[0] in project.load("genre_classifier").classes

    with pytest.raises(Exception, match="no manifest to take the test split from"):
        tagger.run(["inference"])


def test_batch_pipeline_scores_the_oldest_new_release_batch_by_default(project):
    project.run(["inference"], params=project.params)
    predictions = project.load("predictions")
    new_releases = project.load("new_releases")
    oldest = sorted(new_releases["batch"].unique())[0]
    expected = set(new_releases.loc[new_releases["batch"] == oldest, "path"])
    scored = predictions[predictions["batch"] == oldest]
    assert set(scored["path"]) == expected
    assert scored["track_id"].notna().all()
    classes = served_model(project).classes
    assert np.allclose(scored[[f"proba_{g}" for g in classes]].sum(axis=1), 1.0)
    # the batch table carries the verdict of each answer, the one judgement of its probabilities
    for _, row in scored.iterrows():
        judged = wording.row_verdict(row, classes)
        assert (row["verdict"], row["runner_up"]) == (judged.kind, judged.runner_up)
    # the run's report counts the answers it gave by verdict: the batch's rows of its model version
    # (other tests score the same batch with other models)
    report = project.load("inference_report")
    mine = scored[scored["model_version"] == report["model_version"]].drop_duplicates(
        "path", keep="last"
    )
    now = mine if report["scored"] else mine.iloc[:0]
    assert report["verdicts"] == {
        kind: int((now["verdict"] == kind).sum()) for kind in wording.VERDICTS
    }


def test_without_new_releases_the_batch_is_the_test_split(project):
    """A dataset without dates (GTZAN) or with holdout 0 (FMA's defaults): the test split, as batch
    "test"; a batch name that does not exist is refused."""
    from music_genre.monitoring import batches

    manifest = project.load("manifest")
    none = pd.DataFrame(columns=["batch", "path", "track_id"])
    inputs = batches.select_inputs(manifest, none, pd.DataFrame(), {})
    assert set(inputs["path"]) == set(manifest.loc[manifest["split"] == "test", "path"])
    assert (inputs["batch"] == "test").all() and inputs["fingerprint"].str.len().eq(24).all()
    with pytest.raises(batches.NoSuchBatchError, match="holds none out"):
        batches.select_inputs(manifest, none, pd.DataFrame(), {"batch": "2017-01-01"})
    with pytest.raises(
        batches.NoSuchBatchError, match="no new-release batch 1999-01-01: batches run"
    ):
        batches.select_inputs(
            manifest, project.load("new_releases"), pd.DataFrame(), {"batch": "1999-01-01"}
        )


def test_predict_with_a_model_file_and_a_registered_model_outside_the_project(
    project, clips, tmp_path
):
    # the champion's own saved version (newer ones, trained by other tests, were not registered)
    champion = project.load("champion_info")
    versions = project.path / "data" / "06_models" / "sample" / "genre_classifier.pkl"
    (model_file,) = [
        path
        for path in versions.glob("*/genre_classifier.pkl")
        if pickle.loads(path.read_bytes()).version == champion["model_version"]
    ]
    result = cli(
        "predict", str(clips["sample2"]), "--json", "--model", str(model_file), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    from_file = json_lines(result.stdout)[0]

    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{project.path / 'mlflow.db'}"}
    uri = champion_uri(project)
    result = cli("predict", str(clips["sample2"]), "--json", "--model", uri, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    registered = json_lines(result.stdout)[0]
    assert registered["genre"] == from_file["genre"]
    assert registered["probabilities"] == pytest.approx(from_file["probabilities"], abs=1e-9)
    assert registered["model"]["source"] == uri
    assert registered["model"]["version"] == from_file["model"]["version"]
    result = cli(
        "predict",
        str(clips["sample2"]),
        "--model",
        "models:/music-genre-sample/99",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 1 and "cannot fetch models:/music-genre-sample/99" in result.stderr


def test_mlflow_serves_the_registered_pipeline_over_http(project, clips, tmp_path):
    """`mlflow models serve` on 127.0.0.1 answers POST /invocations for audio sent as content, and for paths
    only under the allowed root: a path outside it, a `..` path and a symlink pointing out are refused
    without being read; content over the size limit is refused."""
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{project.path / 'mlflow.db'}",
        "KEDRO_DISABLE_TELEMETRY": "1",
        # as in an activated environment: the server runs `uvicorn` from PATH
        "PATH": f"{mlflow_bin.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MUSIC_GENRE_ALLOWED_ROOTS": str(tmp_path / "root"),
        "MUSIC_GENRE_MAX_UPLOAD_MB": "1",
    }
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    mine = [Path(shutil.copy(clips[name], root / f"{name}.mp3")) for name in ("sample0", "sample1")]
    secret = Path(shutil.copy(clips["sample2"], outside / "secret.mp3"))
    link = root / "link_out.mp3"
    link.symlink_to(secret)
    server = subprocess.Popen(
        [
            str(mlflow_bin),
            "models",
            "serve",
            "-m",
            champion_uri(project),
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_up(server, f"http://127.0.0.1:{port}/ping", "model server")
        paths = [str(mine[0]), str(root / "missing.mp3"), str(mine[1])]
        encoded = base64.b64encode(mine[0].read_bytes()).decode()
        records = [{"path": p} for p in paths] + [
            {"content": encoded, "filename": "mine.mp3"},  # 3: the same audio, sent
            {"path": str(secret)},  # 4: a file outside the root
            {"path": str(root / ".." / "outside" / "secret.mp3")},  # 5: ..
            {"path": str(link)},  # 6: a link inside the root to a file outside
            {"content": base64.b64encode(os.urandom(1_500_000)).decode()},  # 7: over 1 MB
            {"path": "relative.mp3"},  # 8
        ]
        body = json.dumps({"dataframe_records": records}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            assert reply.status == 200
            answer = json.loads(reply.read())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    rows = answer["predictions"]
    assert [row["path"] for row in rows[:3]] == paths and len(rows) == len(records)
    assert rows[1]["error_reason"] == "missing_file" and rows[1]["genre"] is None
    assert rows[3]["path"] == "mine.mp3" and rows[3]["genre"] == rows[0]["genre"]
    for genre in served_model(project).classes:  # content mode answers as path mode
        assert rows[3][f"proba_{genre}"] == pytest.approx(rows[0][f"proba_{genre}"], abs=1e-9)
    for refused in rows[4:7] + rows[8:]:
        assert refused["error_reason"] == "forbidden_path" and refused["genre"] is None, refused
    assert rows[7]["error_reason"] == "too_large" and "1 MB" in rows[7]["error"]
    cli_rows = json_lines(cli("predict", paths[0], paths[2], "--json", cwd=project.path).stdout)
    classes = served_model(project).classes
    for served, local in zip([rows[0], rows[2]], cli_rows, strict=True):
        assert served["genre"] == local["genre"]
        # the same verdict fields as the command line's JSON
        for key in ("verdict", "runner_up", "familiarity_distance", "unfamiliar"):
            assert (
                served[key] == pytest.approx(local[key])
                if key == "familiarity_distance"
                else (served[key] == local[key])
            ), key
        for genre in classes:
            assert served[f"proba_{genre}"] == pytest.approx(
                local["probabilities"][genre], abs=2e-6
            )
