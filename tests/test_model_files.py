"""Model files outlive refactors: pickles saved before the package moved load and predict the same.

``tests/fixtures/models`` holds a single-label and a multi-label model pickled by the flat layout (their
classes named ``music_genre.model.GenreClassifier`` / ``TagClassifier``), with the probabilities they gave
on six test tracks then. Today's code must read them through every path a user has: the loader the CLI and
the page use, ``music-genre predict``, the batch job of a Kedro project, and the MLflow pyfunc model; and a
model file of a format this code does not know must be one clear line, not a traceback.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import KedroProject, make_project_copy

FIXTURES = Path(__file__).parent / "fixtures" / "models"
MUSIC_GENRE = [sys.executable, "-m", "music_genre"]  # the `music-genre` command
MODELS = ("single_label_v0", "multi_label_v0")


def fixture_features() -> pd.DataFrame:
    saved = np.load(FIXTURES / "features_v0.npz", allow_pickle=False)
    frame = pd.DataFrame(saved["values"], columns=list(saved["columns"]))
    return frame.assign(track_id=saved["track_id"])


def expected_proba(name: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"{name}_proba.csv", dtype={"track_id": str})


def test_the_old_pickles_name_the_old_module_path():
    """The fixture is what it claims: pickles that reference the layout before the move."""
    for name, old_class in (
        ("single_label_v0", b"GenreClassifier"),
        ("multi_label_v0", b"TagClassifier"),
    ):
        raw = (FIXTURES / f"{name}.pkl").read_bytes()
        assert b"music_genre.model" in raw and old_class in raw
        assert b"music_genre.modeling" not in raw


@pytest.mark.parametrize("name", MODELS)
def test_an_old_model_file_loads_and_predicts_the_same_probabilities(name):
    from music_genre.modeling.artifact import GenreClassifier, TagClassifier, artifact_format
    from music_genre.modeling.store import load_from_file

    loaded = load_from_file(FIXTURES / f"{name}.pkl")
    classifier = loaded.classifier
    assert isinstance(classifier, TagClassifier if name.startswith("multi") else GenreClassifier)
    assert artifact_format(classifier) == 1  # saved before artifacts carried a format number
    expected = expected_proba(name)
    features = fixture_features()
    assert list(expected["track_id"]) == list(features["track_id"])
    proba = classifier.predict_proba(features)
    # the same numbers (CSV round trip and BLAS summation order allow the last bit or so)
    assert np.allclose(proba, expected[list(classifier.classes)].to_numpy(), rtol=0, atol=1e-12)
    # plain pickle (what Kedro's PickleDataset and MLflow do) finds the moved class too
    with (FIXTURES / f"{name}.pkl").open("rb") as handle:
        again = pickle.load(handle)  # our own fixture
    assert type(again) is type(classifier)


def test_a_new_model_carries_the_current_format_and_round_trips(tmp_path):
    from music_genre.modeling.artifact import ARTIFACT_FORMAT, artifact_format
    from music_genre.modeling.store import load_from_file

    old = load_from_file(FIXTURES / "single_label_v0.pkl").classifier
    fresh = type(old)(**{k: v for k, v in vars(old).items() if k != "artifact_format"})
    assert artifact_format(fresh) == ARTIFACT_FORMAT >= 2
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(fresh))
    back = load_from_file(path).classifier
    assert artifact_format(back) == ARTIFACT_FORMAT
    assert np.array_equal(
        back.predict_proba(fixture_features()), old.predict_proba(fixture_features())
    )


def _tone_clip(path: Path, seconds: float = 12.0, rate: int = 22050) -> Path:
    """A short real audio file (chords and noise), written with soundfile, for the command-line paths."""
    import soundfile

    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(7)
    signal = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * 0.15
    signal = signal + 0.02 * rng.standard_normal(len(t))
    soundfile.write(path, signal.astype(np.float32), rate)
    return path


@pytest.mark.parametrize("name", MODELS)
def test_music_genre_predict_reads_an_old_model_file(tmp_path, name):
    from music_genre.modeling.store import load_from_file
    from music_genre.serving.inference import predict_files

    clip = _tone_clip(tmp_path / "tone.wav")
    model = FIXTURES / f"{name}.pkl"
    result = subprocess.run(
        [*MUSIC_GENRE, "predict", str(clip), "--model", str(model), "--json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    classifier = load_from_file(model).classifier
    expected = predict_files([clip], classifier).iloc[0]
    for genre in classifier.classes:
        assert answer["probabilities"][genre] == pytest.approx(
            float(expected[f"proba_{genre}"]), abs=1e-6
        )


def test_the_batch_job_scores_with_an_old_model_file(tmp_path):
    """An environment whose newest saved model is the old file: `kedro run --pipelines=inference`."""
    from music_genre.modeling.store import load_from_file
    from music_genre.serving.inference import predict_files

    project = KedroProject(make_project_copy(tmp_path / "project"))
    versions = project.path / "data" / "06_models" / "sample" / "genre_classifier.pkl"
    (versions / "2026-12-01T00.00.00.000Z").mkdir(parents=True)
    target = versions / "2026-12-01T00.00.00.000Z" / "genre_classifier.pkl"
    target.write_bytes((FIXTURES / "single_label_v0.pkl").read_bytes())
    folder = tmp_path / "new"
    folder.mkdir()
    clip = _tone_clip(folder / "tone.wav")
    project.run(["inference"], params={"inference.input_dir": str(folder)})
    predictions = project.load("predictions")
    assert len(predictions) == 1 and predictions["error_reason"].isna().all()
    classifier = load_from_file(FIXTURES / "single_label_v0.pkl").classifier
    expected = predict_files([clip], classifier).iloc[0]
    for genre in classifier.classes:
        assert float(predictions.iloc[0][f"proba_{genre}"]) == pytest.approx(
            float(expected[f"proba_{genre}"]), abs=1e-6
        )


def test_the_mlflow_model_serves_an_old_model_file(tmp_path):
    """The features-in pyfunc that every training run logs, built around the old file today."""
    import mlflow

    from music_genre.modeling.registry import log_classifier_model
    from music_genre.modeling.store import load_from_file

    classifier = load_from_file(FIXTURES / "single_label_v0.pkl").classifier
    features = fixture_features()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("old-model-files")
    with mlflow.start_run() as run:
        logged = log_classifier_model(classifier, features.assign(genre="Rock", split="test"))
    assert logged["logged"]
    served = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/genre_classifier")
    proba = served.predict(features[classifier.feature_columns].astype("float64"))
    expected = expected_proba("single_label_v0")[list(classifier.classes)].to_numpy()
    assert np.allclose(proba.to_numpy(dtype=float), expected, atol=1e-12)


def test_a_model_of_an_unknown_format_is_one_line(tmp_path):
    from music_genre.modeling.store import load_from_file

    old = load_from_file(FIXTURES / "single_label_v0.pkl").classifier
    future = type(old)(**{k: v for k, v in vars(old).items() if k != "artifact_format"})
    future.artifact_format = 99
    newer = tmp_path / "newer.pkl"
    newer.write_bytes(pickle.dumps(future))
    # a class this code does not have, as a later layout might write
    alien = tmp_path / "alien.pkl"
    alien.write_bytes(
        pickle.dumps(old, protocol=0).replace(b"\nGenreClassifier\n", b"\nGenreClassifierV9\n", 1)
    )
    clip = _tone_clip(tmp_path / "tone.wav")
    for model, words in ((newer, "format 99"), (alien, "not a model this music-genre can read")):
        result = subprocess.run(
            [*MUSIC_GENRE, "predict", str(clip), "--model", str(model)],
            capture_output=True, text=True, cwd=tmp_path, timeout=300,
        )  # fmt: skip
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ") and words in lines[0] and str(model) in lines[0]
