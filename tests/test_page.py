"""The web page (`music-genre app`) in a real headless Chromium driven by Playwright: Debian's Chromium,
no browser download. It must give a song the same genres as `music-genre predict --json`, refuse bad files
in one line each and keep working, and show the reports."""

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
        "input[type=file]", [str(clip), str(text_file), str(empty), str(long_song)]
    )
    page.get_by_text(f"{long_song.name}:").first.wait_for(timeout=180_000)
    page.get_by_text("Genre along the song").wait_for(timeout=60_000)
    text = main_text(page)
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)  # the test's artifact

    expected = predict_json(project.path, clip)
    assert f"{clip.name}: {expected['genre']} {100 * expected['confidence']:.2f}%" in text
    for genre, probability in expected["probabilities"].items():
        assert f"{100 * probability:6.2f}%" in text, genre
    assert "notes.mp3: no readable audio header" in text and "(unreadable)" in text
    assert "empty.mp3: file is empty (0 bytes) (empty_file)" in text
    windows = predict_json(project.path, long_song)["windows"]
    assert windows > 1 and f"{windows} windows" in text
    assert (tmp_path / "page.png").stat().st_size > 10_000

    sidebar = sidebar_text(page)
    champion = project.load("champion_info")  # the model answering: the registry's champion
    assert f"{champion['name']} version {champion['version']} (champion)" in sidebar
    assert expected["model"]["version"] == champion["model_version"]
    assert expected["model"]["version"] in sidebar

    # the page still works after the bad files: the reports view
    page.get_by_role("tab", name="Reports").click()
    page.get_by_text("Batch predictions").wait_for(timeout=60_000)
    reports = main_text(page)
    assert "Confusion matrix" in reports and "macro avg" in reports
    assert "Latest report: report_" in reports
