"""The page before any real-music model exists: with musicnn's weights converted, an upload is answered
with MSD_musicnn's own tags (the answer of `music-genre predict --model pretrained`), plainly labelled, in
a real headless Chromium; a model trained on real music always wins over the tagger."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from music_genre.features.embeddings.tagger import PretrainedTagger
from music_genre.features.embeddings.weights import WEIGHTS_FILE
from music_genre.serving import page_pretrained, pretrained, wording

from .conftest import CHROMIUM, GTZAN_SUBSET, make_project_copy, page_server

BROWSER = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package `chromium`)")


def _facts(dataset: str) -> wording.ModelFacts:
    return wording.ModelFacts(task="single_label", version="v", dataset=dataset)


def test_the_tagger_answers_only_where_no_real_music_model_exists():
    assert page_pretrained.wanted(None)  # nothing trained
    assert page_pretrained.wanted(_facts(wording.SAMPLE_DATASET))  # the synthesized sample's model
    assert not page_pretrained.wanted(_facts("gtzan"))
    assert not page_pretrained.wanted(_facts("library"))


def test_no_weights_no_tagger(tmp_path, monkeypatch):
    """Without the converted weights the page goes on as before (its model, or the error saying so)."""
    monkeypatch.delenv("MUSIC_GENRE_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user's cache either
    project = make_project_copy(tmp_path / "project")
    monkeypatch.chdir(project)
    assert page_pretrained.load_tagger(project, None) is None


def _clip(tmp_path: Path) -> Path:
    """A real GTZAN clip when ../shared is there, else 20 s of a plucked-string-like tone."""
    if GTZAN_SUBSET.is_dir():
        return GTZAN_SUBSET / "metal" / "metal.00000.wav"
    rate = 22050
    t = np.arange(20 * rate) / rate
    tone = np.sin(2 * np.pi * 220 * t) * np.exp(-3 * (t % 0.5))
    path = tmp_path / "tone.wav"
    sf.write(path, (0.4 * tone).astype(np.float32), rate)
    return path


@pytest.mark.slow
@pytest.mark.timeout(900)
@BROWSER
@pytest.mark.parametrize("trained", ["nothing trained", "the sample's model"])
def test_the_page_answers_with_pretrained_tags_before_any_real_music_model(
    trained, trained_project, weights_env, browser_page, tmp_path
):
    if trained == "nothing trained":
        project = make_project_copy(tmp_path / "project")
    else:
        project = trained_project.path
    clip = _clip(tmp_path)
    text_file = tmp_path / "notes.mp3"
    text_file.write_text("this is not audio")
    expected = pretrained.answer_file(
        PretrainedTagger(weights_env / WEIGHTS_FILE), clip, page_pretrained.TOP_TAGS
    )

    with page_server(project) as url:
        page = browser_page
        page.goto(url)
        page.wait_for_selector("input[type=file]", state="attached", timeout=120_000)
        page.set_input_files("input[type=file]", [str(text_file), str(clip)])
        page.get_by_text(f"{clip.name}:").first.wait_for(timeout=240_000)
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=stVegaLiteChart] svg.marks').length >= 1",
            timeout=60_000,
        )
        main = page.get_by_role("main").inner_text()
        sidebar = page.get_by_role("region", name="Sidebar", exact=True).inner_text()
        content = page.content()
        audio_players = page.locator("audio").count()

    # the CLI's answer, word for word: the same tags and whole percents
    assert f"{clip.name}: {pretrained.tags_text(expected)}" in main
    ranked = [(t["tag"], t["probability"]) for t in expected["tags"]]
    from music_genre.serving.page import chart_text

    assert chart_text(ranked, "Tag") in content  # the chart's alternative text: the tags' numbers
    assert "notes.mp3: no readable audio header" in main and "(unreadable)" in main
    assert audio_players >= 1  # the clip is playable; the refused file has none
    # plainly labelled: the tagger, its vocabulary, and why it answers
    assert pretrained.HEADER.format(description=pretrained.tagger_description()) in sidebar
    lines = page_pretrained.sidebar_lines(trained != "nothing trained", "")
    assert lines[0] in sidebar
    assert ("is not used" in sidebar) is (trained != "nothing trained")
    assert "Vocabulary" in sidebar and "Hip-Hop" in sidebar
