"""The web page (`music-genre app`) in a real headless Chromium driven by Playwright: Debian's Chromium,
no browser download. It must give a song the same genres as `music-genre predict --json`, in the same words
as the CLI (serving/wording.py), show them as charts with the song playable, refuse bad files in one line
each and keep working, and show the reports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from music_genre.data import audio
from music_genre.serving import inference, wording
from music_genre.serving.page import chart_text

from .conftest import CHROMIUM, GTZAN_SUBSET, page_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package `chromium`)"),
]


def predict_json(project: Path, path: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "music_genre", "predict", str(path), "--json"],
        cwd=project,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def served_page(trained_project):
    """`music-genre app` on a free port of 127.0.0.1, after a batch was scored and monitored."""
    trained_project.run(["inference"], params=trained_project.params)
    trained_project.run(["monitoring"], params=trained_project.params)
    with page_server(trained_project.path) as url:
        yield trained_project, url


def main_text(page) -> str:
    """The page's main area (its `main` landmark), not the sidebar."""
    return page.get_by_role("main").inner_text()


def sidebar_text(page) -> str:
    """The sidebar (Streamlit labels its landmark region "Sidebar")."""
    return page.get_by_role("region", name="Sidebar", exact=True).inner_text()


def _real_clip(project, tmp_path: Path) -> Path:
    """A real clip from ../shared when it is there, else a clip of the sample."""
    if GTZAN_SUBSET.is_dir():
        return audio.find_audio_files(GTZAN_SUBSET)[0]
    manifest = project.load("manifest")
    return Path(shutil.copy(manifest["path"].iloc[0], tmp_path / "clip.mp3"))


def test_a_person_tags_songs_in_the_browser(served_page, browser_page, tmp_path):
    project, url = served_page
    clip = _real_clip(project, tmp_path)
    silent = tmp_path / "silent.wav"  # 15 s of digital silence: long enough to be judged
    sf.write(silent, np.zeros(15 * 22050, dtype=np.float32), 22050)
    noise = tmp_path / "noise.wav"  # white noise: nothing like the music the model learned
    rng = np.random.default_rng(0)
    sf.write(noise, (0.3 * rng.standard_normal(30 * 22050)).astype(np.float32), 22050)
    long_song = tmp_path / "long_song.wav"  # three sample clips end to end: judged window by window
    manifest = project.load("manifest")
    signal_, rate = zip(
        *(audio.load_with_rate(p, None) for p in manifest["path"].head(6)), strict=True
    )
    sf.write(long_song, np.concatenate(signal_), rate[0])
    text_file = tmp_path / "notes.mp3"
    text_file.write_text("this is not audio")
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")

    page = browser_page
    page.goto(url)
    page.wait_for_selector("input[type=file]", state="attached", timeout=120_000)
    page.set_input_files(
        "input[type=file]",
        [str(clip), str(noise), str(text_file), str(empty), str(long_song), str(silent)],
    )
    page.get_by_text(f"{silent.name}:").first.wait_for(timeout=240_000)  # the last upload
    page.get_by_text("Genre along the song").wait_for(timeout=60_000)
    # every chart drawn (Vega draws an svg each here) before reading and photographing the page
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=stVegaLiteChart] svg.marks').length >= n",
        arg=3,
        timeout=60_000,
    )
    text = main_text(page)
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)  # the test's artifact

    # the one prediction path, in the test's own process, says what each song must get
    classifier = project.load("inference_model")  # what the page serves: the champion, as champion
    settings = wording.verdict_settings(project.load("params:inference"))
    rows = {
        p.name: inference.predict_files([p], classifier).iloc[0]
        for p in (clip, long_song, noise, silent)
    }
    # the two verdicts this page must show: silence is not classified, noise is flagged unfamiliar
    assert wording.is_silent(rows[silent.name]) and bool(rows[noise.name]["unfamiliar"]) is True
    assert f"{noise.name}: {wording.verdict_text(rows[noise.name])}" in text
    ranked = inference.top_genres(rows[clip.name], classifier.classes, len(classifier.classes))
    expected = predict_json(project.path, clip)  # and the CLI agrees with it
    for genre, probability in ranked:
        assert expected["probabilities"][genre] == pytest.approx(probability, abs=1e-6), genre
    # the CLI's words and format (whole percents), from the one judgement of the row
    answer = wording.row_verdict(rows[clip.name], classifier.classes, settings).text()
    assert f"{clip.name}: {answer}" in text
    assert (
        rows[clip.name]["verdict"] == wording.row_verdict(rows[clip.name], classifier.classes).kind
    )
    assert "notes.mp3: no readable audio header" in text and "(unreadable)" in text
    assert "empty.mp3: file is empty (0 bytes) (empty_file)" in text
    windows = predict_json(project.path, long_song)["windows"]
    assert windows > 1 and f"{windows} windows" in text
    for name, row in rows.items():  # the verdict in words, exactly where the rows give one
        verdict = wording.verdict_text(row)
        if wording.is_silent(row):
            assert f"{name}: {wording.SILENT_TEXT}" in text
        elif verdict:
            assert f"{name}: {verdict}" in text
        else:
            assert f"{name}: {wording.UNFAMILIAR_TEXT}" not in text
    scored = [name for name, row in rows.items() if not isinstance(row["error_reason"], str)]

    # shown, not printed: a bar chart per scored song, the long song's timeline, a player per song
    # that decoded (the refused files get none); the map of the collection is one more, in its own tab
    charts = page.locator("[data-testid=stVegaLiteChart]")
    assert charts.count() == len(scored) + 2
    drawn = page.locator("[data-testid=stVegaLiteChart] svg.marks")  # Vega's drawing, not a frame
    assert drawn.count() >= len(scored) + 1
    # the bar chart's data, in words: its alternative text, on its toolbar in the DOM
    assert chart_text(ranked) in page.content()
    playable = [
        n for n, r in rows.items() if not isinstance(r["error_reason"], str) or wording.is_silent(r)
    ]
    # a player per song that decoded, and one per neighbour under each scored song's "songs like this"
    assert len(playable) == len(scored) + wording.is_silent(rows[silent.name])
    assert page.locator("audio").count() >= len(playable)
    assert "█" not in text  # no text bars left
    # "songs like this" under the clip: the neighbours the CLI's `similar` gives it, with their scores
    from music_genre.serving import page_similar, similar

    index = similar.load_index(project.path, None)
    windowing = inference.windowing_settings(project.load("params:inference"))
    like = page_similar.songs_like(index, clip, clip.name, windowing)
    assert like is not None and like["neighbours"]
    assert f"Songs like this in the collection ({index.description})" in text
    for neighbour in like["neighbours"]:
        assert f"[{neighbour['genre']}], similarity {neighbour['similarity']:.2f}" in text
    assert (tmp_path / "page.png").stat().st_size > 10_000

    sidebar = sidebar_text(page)
    champion = project.load("champion_info")  # the model answering: the registry's champion
    facts = wording.model_facts(classifier, "", "sample")
    assert wording.header_text(facts) in sidebar  # the CLI's header line, word for word
    # which environment is served, and the switch among those with a champion (here: local only)
    assert wording.environment_text(None, "sample") in sidebar and "Environment" in sidebar
    note = wording.weak_model_note(facts, settings)  # the small sample: few tracks a genre
    assert note is not None and note in sidebar
    assert f"{champion['name']} version {champion['version']} (champion)" in sidebar
    # the tests' model learned the synthesized sample
    assert wording.sample_warning(facts) in sidebar
    assert (wording.NO_FAMILIARITY_TEXT in sidebar) is not wording.has_familiarity(classifier)
    assert expected["model"]["version"] == champion["model_version"]
    assert expected["model"]["version"] in sidebar

    # the page still works after the bad files: the reports view
    page.get_by_role("tab", name="Reports").click()
    page.get_by_text("Batch predictions").wait_for(timeout=60_000)
    reports = main_text(page)
    assert "Confusion matrix" in reports and "macro avg" in reports
    assert "Latest report: report_" in reports
