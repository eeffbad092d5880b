"""The task registry drives behaviour: a task registered in a test gets its own outputs through the same
code paths the two real tasks use; ingestion holds out the same new releases whatever the task."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from music_genre.common.errors import ExpectedError
from music_genre.modeling import tasks
from music_genre.modeling.tasks.single_label import SingleLabelTask


class MoodTask(SingleLabelTask):
    """A third task for the test: one genre per track, plus a ``mood`` column in every prediction."""

    name = "mood"
    model_suffix = "-mood"
    output_extras = ("mood",)

    def row_outputs(self, classifier, proba) -> dict:
        return {"mood": "calm" if max(proba) < 0.9 else "sure"}


@pytest.fixture
def mood(monkeypatch):
    task = MoodTask()
    monkeypatch.setitem(tasks.TASKS, task.name, task)
    return task


@pytest.fixture
def mood_with_words(mood, monkeypatch):
    """The task registered with its serving words (those of single_label): one registry line and one
    module per layer, as docs/architecture.md says."""
    import sys
    import types

    from music_genre.serving.tasks import single_label as single_label_words

    words = types.ModuleType(f"music_genre.serving.tasks.{mood.name}")
    words.WORDING = single_label_words.WORDING
    monkeypatch.setitem(sys.modules, words.__name__, words)
    return mood


def test_the_registry_names_the_tasks_and_refuses_others_in_one_line():
    assert list(tasks.TASKS) == ["single_label", "multi_label"]
    assert tasks.get_task(None).name == tasks.DEFAULT_TASK == "single_label"
    assert tasks.task_of(SimpleNamespace()).name == "single_label"  # a model from before tasks
    with pytest.raises(
        ExpectedError, match="serving.task 'tags': choose single_label or multi_label"
    ):
        tasks.get_task("tags", setting="serving.task")


def test_a_registered_task_gets_its_own_outputs_through_the_same_code_path(
    mood_with_words, tmp_path
):
    mood = mood_with_words
    from music_genre.modeling.registry import registration_request
    from music_genre.serving import inference

    classifier = SimpleNamespace(
        task="mood",
        classes=["Rock", "Jazz"],
        feature_settings={},
        feature_columns=[],
        predict_proba=lambda features: np.tile([0.3, 0.7], (len(features), 1)),
    )
    assert tasks.task_of(classifier) is mood
    columns = inference.prediction_columns(classifier)
    assert columns[:5] == ["path", "track_id", "genre", "confidence", "mood"]
    assert columns[-3:] == ["proba_Rock", "proba_Jazz", "seconds"]
    # the one path of the CLI, the batch job, the page and the served model
    song = tmp_path / "song.wav"
    sf.write(song, 0.1 * np.sin(np.linspace(0, 2 * np.pi * 440 * 12, 22050 * 12)), 22050)
    table = inference.predict_files([song, tmp_path / "missing.wav"], classifier)
    assert list(table.columns) == columns
    assert table["mood"].tolist()[0] == "calm" and table["genre"].iloc[0] == "Jazz"
    assert table["error_reason"].iloc[1] == "missing_file"
    # its own registered model (and so its own champion)
    request = registration_request(
        {"test": {"f1_macro": 0.8}}, {"metric": "test.f1_macro", "threshold": 0.3},
        dataset="gtzan", feature_digest="x", model_type="svm", run_id="run", task="mood",
    )  # fmt: skip
    assert request["model_name"] == "music-genre-gtzan-mood" and request["tags"]["task"] == "mood"


def test_every_task_has_its_report_sections_and_its_wording_by_name(mood):
    """Each layer keeps what it shows of a task in a module named as the task: the evaluation report's
    sections (music_genre.evaluation.tasks) and the words of the page, the CLI and the run summary
    (music_genre.serving.tasks). A task without them is one clear line naming the file to add."""
    from music_genre.evaluation.tasks import ReportSections, sections_of
    from music_genre.serving.tasks import TaskWording, wording_of

    for name in ("single_label", "multi_label"):
        task = tasks.get_task(name)
        assert isinstance(sections_of(task), ReportSections)
        assert isinstance(wording_of(task), TaskWording)
    assert (
        sections_of(tasks.get_task("multi_label")).texts["confusions"] == "True vs predicted tags"
    )
    assert (
        wording_of(tasks.get_task("single_label")).headline({"accuracy": 0.714, "f1_macro": 0.69})
        == "accuracy 0.71, macro F1 0.69"
    )
    with pytest.raises(ExpectedError) as raised:
        wording_of(mood)
    assert str(raised.value) == (
        "task mood has no wording: add music_genre/serving/tasks/mood.py defining WORDING"
    )
    with pytest.raises(ExpectedError) as raised:
        sections_of(mood)
    assert "add music_genre/evaluation/tasks/mood.py defining SECTIONS" in str(raised.value)
    # typed: no interface of a layer takes or gives Any
    for interface in (tasks.Task, ReportSections, TaskWording):
        for method in vars(interface).values():
            annotations = getattr(method, "__annotations__", {})
            assert all("Any" not in str(a) for a in annotations.values()), method
    # the modelling interface keeps modelling only: no report section, no wording
    assert not {"genre_report", "headline", "json_outputs", "model_card", "report_texts",
                "summary_warning", "test_summary"} & set(dir(tasks.Task))  # fmt: skip


def test_each_task_keeps_its_own_champion_files(mood, tmp_path):
    """The catalog's champion paths follow modeling.task (what a run trains) and serving.task (what is
    served), through the task's suffix."""
    from music_genre.config_loader import ProjectConfigLoader
    from music_genre.settings import CONFIG_LOADER_ARGS
    from tests.conftest import make_project_copy

    project = make_project_copy(tmp_path / "project")

    def catalog(**params):
        runtime = {section: {"task": task} for section, task in params.items()}
        loader = ProjectConfigLoader(
            conf_source=str(project / "conf"), runtime_params=runtime, **CONFIG_LOADER_ARGS
        )
        return loader["catalog"]

    default = catalog()
    assert default["champion_genre_classifier"]["filepath"].endswith(
        "sample/champion/genre_classifier.pkl"
    )
    assert default["inference_model"]["task"] == "single_label"
    trained = catalog(modeling="mood")
    assert trained["champion_info"]["filepath"].endswith("sample/champion-mood/champion.json")
    assert trained["previous_champion"]["filepath"].endswith(
        "sample/fallback-mood/genre_classifier.pkl"
    )
    assert trained["inference_model"] == default["inference_model"]  # training never moves serving
    served = catalog(serving="multi_label")
    assert served["inference_model"]["champion"]["filepath"].endswith(
        "sample/champion-tags/genre_classifier.pkl"
    )
    assert served["fallback_model"]["filepath"].endswith(
        "sample/fallback-tags/genre_classifier.pkl"
    )
    assert served["champion_info"] == default["champion_info"]


def test_multi_genre_tracks_never_change_the_new_releases():
    """Ingestion's hold-out counts and picks tracks of one top-level genre only: the multi-label task's
    extra tracks (marked multi_genre) join the manifest, never the batches."""
    from music_genre.data import ingestion

    def tracks(ids, dates, multi):
        rows = pd.DataFrame(
            {column: None for column in ingestion.MANIFEST_COLUMNS}, index=range(len(ids))
        )
        rows["track_id"] = ids
        rows["date_created"] = pd.to_datetime(dates)
        rows[ingestion.MULTI_GENRE] = multi
        return rows

    days = [f"2017-03-{d:02d}" for d in range(1, 21)]
    single = tracks([str(i) for i in range(20)], days, False)
    extra = tracks([f"m{i}" for i in range(10)], days[5:15], True)
    both = pd.concat([single, extra], ignore_index=True).sample(frac=1, random_state=0)
    settings = {"holdout": 0.25, "batch_days": 2}
    kept_single, held_single = ingestion.hold_out_new_releases(single, settings)
    kept_both, held_both = ingestion.hold_out_new_releases(both.reset_index(drop=True), settings)
    pd.testing.assert_frame_equal(held_both, held_single)
    assert set(kept_both["track_id"]) == set(kept_single["track_id"]) | set(extra["track_id"])
    assert list(kept_both.columns) == ingestion.MANIFEST_COLUMNS
