"""MSD_musicnn's tag layer kept at conversion, and `music-genre predict --model pretrained` over it: real
weights converted from musicnn's wheel this session, real GTZAN clips of ../shared."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from music_genre.features.embeddings import weights as mw
from tests.conftest import require_shared

CLI = [sys.executable, "-c", "from music_genre.serving.commands import main; main()"]


def test_the_tag_layer_and_its_names_are_kept(musicnn_weights_dir, tmp_path):
    path = musicnn_weights_dir / mw.WEIGHTS_FILE
    kernel, bias, tags = mw.load_tag_layer(path)
    assert kernel.shape == (200, 50) and bias.shape == (50,) and len(set(tags)) == 50
    assert {"rock", "Hip-Hop", "jazz", "metal", "House", "country"} <= set(tags)
    # weights converted before the layer was kept: one line saying to convert again
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files if k != mw.TAG_NAMES_KEY}
    old = tmp_path / mw.WEIGHTS_FILE
    np.savez(old, **arrays)
    with pytest.raises(mw.WeightsError, match="without musicnn's tag layer"):
        mw.load_tag_layer(old)
    assert len(mw.load_weights(path)) == len(mw.load_weights(old))  # the network's weights alike


def test_predict_pretrained_answers_with_musicnn_tags(musicnn_weights_dir, tmp_path):
    gtzan = require_shared("data", "gtzan_subset")
    from music_genre.data import audio
    from music_genre.features.embeddings.musicnn import MusicnnNetwork, log_mel_patches

    clips = [gtzan / "metal" / "metal.00000.wav", gtzan / "jazz" / "jazz.00001.wav"]
    env = {**os.environ, "MUSIC_GENRE_WEIGHTS_DIR": str(musicnn_weights_dir)}
    result = subprocess.run([*CLI, "predict", "--model", "pretrained", "--json", "--top", "5",
                             *map(str, clips)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["path"] for a in answers] == list(map(str, clips))
    kernel, bias, tags = mw.load_tag_layer(musicnn_weights_dir / mw.WEIGHTS_FILE)
    network = MusicnnNetwork(mw.load_weights(musicnn_weights_dir / mw.WEIGHTS_FILE))
    for clip, answer in zip(clips, answers, strict=True):
        assert answer["model"]["source"] == "pretrained" and answer["model"]["vocabulary"] == tags
        assert "general-purpose tagger" in answer["model"]["description"]
        # musicnn's taggram averaged over the clip's 3 s patches, computed here independently
        patches = network.penultimate(log_mel_patches(audio.load(clip, sample_rate=16000)))
        expected = (1 / (1 + np.exp(-(patches @ kernel + bias)))).mean(axis=0)
        top = np.argsort(-expected)[:5]
        assert [t["tag"] for t in answer["tags"]] == [tags[i] for i in top]
        np.testing.assert_allclose([t["probability"] for t in answer["tags"]], expected[top],
                                   atol=1e-5)  # fmt: skip
    text = subprocess.run([*CLI, "predict", "--model", "pretrained", str(clips[0])], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0].startswith("Model: pretrained MSD_musicnn tagger (general")
    assert text.stdout.splitlines()[1].startswith("metal.00000.wav  ")
