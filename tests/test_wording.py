"""What `music-genre predict` and the page say about an answer (serving/wording.py): who answered, how sure it
is, whether it is a guess. The word functions on rows built by hand, then the real command line on real
audio with the saved model files of tests/fixtures/models (no training needed: these run in seconds)."""

from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from music_genre.modeling.store import load_from_file
from music_genre.serving import inference, wording
from music_genre.serving.commands import rendering

FIXTURES = Path(__file__).parent / "fixtures" / "models"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = {"uncertain_below": 0.5, "uncertain_margin": 0.10}


# ---- the words, on rows built by hand --------------------------------------------------------------
def test_a_clear_answer_is_a_verdict():
    assert wording.answer_text([("Rock", 0.71), ("Pop", 0.14)], (), DEFAULTS) == "Rock 71%"
    assert (
        wording.answer_text([("Rock", 0.71234), ("Pop", 0.14)], (), DEFAULTS, decimals=2)
        == "Rock 71.23%"
    )


@pytest.mark.parametrize(
    ("ranked", "expected"),
    [
        # under uncertain_below, far ahead of the second: still uncertain
        (
            [("Classical", 0.28), ("Jazz", 0.12), ("Rock", 0.10)],
            "uncertain: Classical or Jazz (28%, 12%)",
        ),
        # over uncertain_below, but within uncertain_margin of the second
        ([("Pop", 0.52), ("Electronic", 0.45)], "uncertain: Pop or Electronic (52%, 45%)"),
        # exactly on the threshold and exactly the margin apart: a verdict (both tests are "under")
        ([("Pop", 0.5), ("Electronic", 0.25)], "Pop 50%"),
        ([("Pop", 0.6), ("Electronic", 0.5)], "Pop 60%"),
    ],
    ids=["under-threshold", "within-margin", "on-threshold", "on-margin"],
)
def test_a_weak_answer_names_two_genres(ranked, expected):
    assert wording.answer_text(ranked, (), DEFAULTS) == expected


def test_zero_turns_each_uncertainty_test_off():
    weak = [("Pop", 0.30), ("Electronic", 0.29)]
    assert (
        wording.answer_text(weak, (), {"uncertain_below": 0.0, "uncertain_margin": 0.0})
        == "Pop 30%"
    )
    assert wording.is_uncertain(weak, {"uncertain_below": 0.0, "uncertain_margin": 0.10})
    assert wording.is_uncertain(weak, {"uncertain_below": 0.5, "uncertain_margin": 0.0})
    assert wording.answer_text([("Pop", 0.3)], (), DEFAULTS) == "uncertain: Pop (30%)"  # one genre


def test_tags_are_the_answer_of_a_multi_label_model():
    tags = [("Rock", 0.64), ("Folk", 0.52)]
    ranked = [
        ("Rock", 0.64),
        ("Folk", 0.52),
    ]  # within the margin, but each tag passed its threshold
    assert wording.answer_text(ranked, tags, DEFAULTS) == "tags: Rock 64%, Folk 52%"


def test_the_settings_default_and_refuse_nonsense():
    assert wording.uncertainty_settings(None) == DEFAULTS
    assert wording.uncertainty_settings({"uncertain_below": 0.3, "window_seconds": 30}) == {
        "uncertain_below": 0.3,
        "uncertain_margin": 0.10,
    }
    with pytest.raises(ValueError, match="inference.uncertain_margin must be between 0 and 1"):
        wording.uncertainty_settings({"uncertain_margin": 10})


def test_the_shipped_parameters_are_the_documented_defaults():
    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_inference.yml").read_text())
    assert (
        wording.uncertainty_settings(params["inference"]) == wording.DEFAULT_UNCERTAINTY == DEFAULTS
    )
    assert {"uncertain_below", "uncertain_margin"} <= set(params["inference"])


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"error_reason": "silent", "error": "no sound"}, wording.SILENT_TEXT),
        ({"error_reason": None, "unfamiliar": True, "familiarity": 0.02}, wording.UNFAMILIAR_TEXT),
        (
            {"error_reason": None, "unfamiliar": np.True_, "familiarity": 0.02},
            wording.UNFAMILIAR_TEXT,
        ),
        ({"error_reason": None, "unfamiliar": False, "familiarity": 0.8}, None),
        ({"error_reason": None, "unfamiliar": math.nan, "familiarity": math.nan}, None),
        ({"error_reason": None, "unfamiliar": pd.NA}, None),
        ({"error_reason": None}, None),  # rows of a version without the check
        ({"error_reason": "too_short", "unfamiliar": math.nan}, None),
    ],
    ids=[
        "silent",
        "unfamiliar",
        "numpy-true",
        "familiar",
        "nan",
        "pd-na",
        "no-column",
        "other-error",
    ],
)
def test_the_verdict_sentence(row, expected):
    assert wording.verdict_text(row) == expected
    assert wording.verdict_text(pd.Series(row)) == expected  # prediction rows are Series


def test_the_header_names_the_model():
    registered = wording.ModelFacts(
        task="single_label",
        version="20261204T101010-1a2b3c4d",
        dataset="gtzan",
        registry_name="music-genre-gtzan",
        registry_version="3",
        role="champion",
    )
    assert (
        wording.header_text(registered)
        == "model: music-genre-gtzan version 3 (champion), dataset gtzan, task single_label"
    )
    assert wording.sample_warning(registered) is None
    assert wording.familiarity_note(registered) is None
    loose = wording.ModelFacts(
        task="multi_label", version="v9", dataset=None, role="newest", familiarity=False
    )
    assert (
        wording.header_text(loose)
        == "model: model v9 (not registered), dataset unknown, task multi_label"
    )
    assert wording.familiarity_note(loose) == f"note: {wording.NO_FAMILIARITY_TEXT}"
    sample = wording.ModelFacts(task="single_label", version="v1", dataset="sample")
    assert wording.sample_warning(sample).startswith(
        "warning: this model was trained on the built-in sample"
    )


def test_the_dataset_of_a_model_from_its_registry_name_uri_or_folder():
    single = load_from_file(FIXTURES / "single_label_v0.pkl").classifier
    tags = load_from_file(FIXTURES / "multi_label_v0.pkl").classifier
    assert wording.dataset_of(single, str(FIXTURES / "x.pkl")) is None
    assert wording.dataset_of(single, "", "gtzan") == "gtzan"  # from the environment's catalog
    assert wording.dataset_of(single, "models:/music-genre-fma_small@champion") == "fma_small"
    assert wording.dataset_of(tags, "models:/music-genre-fma_small-tags/2") == "fma_small"
    assert (
        wording.dataset_of(single, "/p/data/06_models/gtzan/genre_classifier.pkl/v/g.pkl")
        == "gtzan"
    )
    single.info["registry"] = {"name": "music-genre-sample", "version": 4}
    tags.info["registry"] = {"name": "music-genre-fma_medium-tags", "version": 1}
    assert wording.dataset_of(single, "", "gtzan") == "sample"  # its own name beats the environment
    assert wording.dataset_of(tags, "") == "fma_medium"
    facts = wording.model_facts(single, "", None)
    assert (facts.registry_name, facts.registry_version, facts.is_sample) == (
        "music-genre-sample",
        "4",
        True,
    )
    assert (
        facts.familiarity is wording.has_familiarity(single) is False
    )  # saved before the check existed


# ---- the command line, for real --------------------------------------------------------------------
def _tone(path: Path, seconds: float = 12.0, rate: int = 22050, amplitude: float = 0.15) -> Path:
    """Chords and a little noise; amplitude 0: digital silence."""
    t = np.arange(int(seconds * rate)) / rate
    signal = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * amplitude
    signal = signal + (0.02 if amplitude else 0.0) * np.random.default_rng(7).standard_normal(
        len(t)
    )
    sf.write(path, np.asarray(signal, dtype=np.float32), rate)
    return path


def _music_genre(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "music_genre", *args],
        cwd=cwd,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def sample_model_folder(tmp_path) -> Path:
    """A saved sample model where a project keeps it (data/06_models/sample/...), outside any project."""
    folder = tmp_path / "data/06_models/sample/genre_classifier.pkl"
    (folder / "2026-01-01T00.00.00.000Z").mkdir(parents=True)
    shutil.copy(
        FIXTURES / "single_label_v0.pkl", folder / "2026-01-01T00.00.00.000Z/genre_classifier.pkl"
    )
    return folder


def test_plain_output_says_who_answered_and_warns_about_the_sample(tmp_path, sample_model_folder):
    tone = _tone(tmp_path / "tone.wav")
    classifier = load_from_file(sample_model_folder).classifier
    result = _music_genre("predict", str(tone), "--model", str(sample_model_folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == f"model: model {classifier.version} (not registered), dataset sample, task single_label"
    )
    assert sum(line.startswith("model: ") for line in lines) == 1  # one header, not one per file
    row = inference.predict_files([tone], classifier).iloc[0]
    ranked = inference.top_genres(row, classifier.classes, 2)
    assert lines[1].startswith(
        f"tone.wav  {wording.answer_text(ranked, (), DEFAULTS)}  (1 window, 12 s)"
    )
    warnings = [
        line for line in result.stderr.splitlines() if line.startswith(("warning:", "note:"))
    ]
    assert warnings == [wording.sample_warning(wording.model_facts(classifier, str(sample_model_folder))),
                        f"note: {wording.NO_FAMILIARITY_TEXT}"]  # fmt: skip
    assert "Traceback" not in result.stderr

    as_json = _music_genre(
        "predict", str(tone), "--json", "--model", str(sample_model_folder), cwd=tmp_path
    )
    assert as_json.returncode == 0 and not as_json.stdout.startswith("model:")  # stdout: JSON only
    model = pd.read_json(io.StringIO(as_json.stdout), lines=True)["model"].iloc[0]
    assert (model["dataset"], model["task"], model["familiarity_check"]) == (
        "sample",
        "single_label",
        False,
    )


def test_a_silent_file_is_one_line(tmp_path):
    """Whatever the one prediction path says of a silent file, the CLI says the same, in one line."""
    silent = _tone(tmp_path / "silent.wav", amplitude=0.0)
    model = FIXTURES / "single_label_v0.pkl"
    classifier = load_from_file(model).classifier
    row = inference.predict_files([silent], classifier).iloc[0]
    result = _music_genre("predict", str(silent), "--model", str(model), cwd=tmp_path)
    assert "Traceback" not in result.stderr
    if row["error_reason"] == wording.SILENT:
        assert result.returncode == 1  # no genre given, as for any file that could not be predicted
        assert f"{silent}: silent" in result.stdout.splitlines()
        assert "error:" not in result.stderr
        as_json = _music_genre(
            "predict", str(silent), "--json", "--model", str(model), cwd=tmp_path
        )
        assert as_json.stdout.strip() and '"reason": "silent"' in as_json.stdout
        assert "error:" not in as_json.stderr
    else:  # before serving/inference.py tells silence apart: a genre like any other file's
        assert result.returncode == 0
        assert (
            f"silent.wav  {row['genre']}" in result.stdout
            or "silent.wav  uncertain: " in result.stdout
        )


def _printed(row, classifier, uncertainty) -> list[str]:
    """What the CLI prints for one prediction row (its own function, into a real rich Console)."""
    from rich.console import Console

    buffer = io.StringIO()
    rendering.print_prediction(Console(file=buffer, width=200, color_system=None), row,
                               inference.top_genres(row, classifier.classes, 3), classifier, uncertainty)  # fmt: skip
    return buffer.getvalue().splitlines()


def test_an_unfamiliar_answer_gets_a_line_under_its_bars(tmp_path):
    classifier = load_from_file(FIXTURES / "single_label_v0.pkl").classifier
    row = inference.predict_files([_tone(tmp_path / "tone.wav")], classifier).iloc[0].copy()
    plain = _printed(row, classifier, DEFAULTS)
    assert len(plain) == 4 and wording.UNFAMILIAR_TEXT not in "\n".join(plain)  # answer + 3 bars
    row["familiarity"], row["unfamiliar"] = 0.01, True
    flagged = _printed(row, classifier, DEFAULTS)
    assert flagged[:4] == plain and flagged[4] == f"  {wording.UNFAMILIAR_TEXT}"


def test_the_cli_words_a_weak_answer_as_uncertain(tmp_path):
    classifier = load_from_file(FIXTURES / "single_label_v0.pkl").classifier
    row = inference.predict_files([_tone(tmp_path / "tone.wav")], classifier).iloc[0].copy()
    first, second, *rest = classifier.classes
    weak = {first: 0.40, second: 0.35, **{genre: 0.25 / len(rest) for genre in rest}}
    for genre, probability in weak.items():
        row[f"proba_{genre}"] = probability
    row["genre"], row["confidence"] = first, 0.40
    lines = _printed(row, classifier, DEFAULTS)
    assert lines[0] == f"tone.wav  uncertain: {first} or {second} (40%, 35%)  (1 window, 12 s)"
    assert lines[1].startswith(f"  {first:<20} ") and lines[1].endswith(" 40.0%")
    off = {"uncertain_below": 0.0, "uncertain_margin": 0.0}
    assert _printed(row, classifier, off)[0] == f"tone.wav  {first} 40%  (1 window, 12 s)"


def test_no_answer_no_header_and_no_caveats(tmp_path, sample_model_folder):
    """Who answered is said before the first answer; when no file gets one, the errors stand alone."""
    not_audio = tmp_path / "notes.mp3"
    not_audio.write_text("this is text, not audio " * 50)
    result = _music_genre(
        "predict", str(not_audio), "--model", str(sample_model_folder), cwd=tmp_path
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: {not_audio}: no readable audio header: not a supported audio file, or corrupt "
        "(unreadable)"
    ]
