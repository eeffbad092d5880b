"""The msd_musicnn embedding: real weights (musicnn 0.1.0's wheel), real clips, musicnn's own graph as the
reference. Tests that need the weights convert them once per session (no TensorFlow; the package index or
a cached wheel) and skip with the reason where that is impossible. Those that run musicnn's own graph need
TensorFlow (the `embeddings` extra, which CI installs) and skip with the reason elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from music_genre.features import FeatureSettings, feature_names
from music_genre.features.embeddings import weights as musicnn_weights

from .conftest import GTZAN_SUBSET, require_shared


def require_tensorflow() -> None:
    if not musicnn_weights.tensorflow_installed():
        pytest.skip(
            "running musicnn's own graph needs TensorFlow: "
            'pip install -c requirements-lock.txt -e ".[embeddings]" (CI installs it)'
        )


# ------------------------------------------------------------------------------------- settings, names
def test_feature_sets_name_their_columns_and_keep_the_handcrafted_digest():
    handcrafted = FeatureSettings()
    embedding = FeatureSettings(feature_set="embedding")
    both = FeatureSettings(feature_set="handcrafted+embedding", embedding_stats=["std", "mean"])
    assert len(feature_names(handcrafted)) == 519
    assert feature_names(embedding)[:2] == ["msd_musicnn_mean_001", "msd_musicnn_mean_002"]
    assert len(feature_names(embedding)) == 200
    assert both.embedding_stats == ("mean", "std")  # canonical order
    assert feature_names(both) == feature_names(handcrafted) + [
        *[f"msd_musicnn_mean_{i:03d}" for i in range(1, 201)],
        *[f"msd_musicnn_std_{i:03d}" for i in range(1, 201)],
    ]
    # Handcrafted caches written before feature sets existed keep their key.
    assert handcrafted.digest() == "687a7409313b"
    digests = {s.digest() for s in (handcrafted, embedding, both)}
    assert len(digests) == 3
    # Where the weights lie changes no value: same digest; the settings round-trip through JSON-able dicts.
    moved = embedding.replace(embedding_weights="/somewhere/else/msd_musicnn.npz")
    assert moved.digest() == embedding.digest()
    assert FeatureSettings.from_dict(both.to_dict()) == both


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"feature_set": "auto"}, "resolved by the feature_engineering pipeline"),
        ({"feature_set": "mfcc_only"}, "unknown feature_set 'mfcc_only'"),
        ({"embedding": "vggish"}, "unknown embedding 'vggish'"),
        ({"embedding_stats": ["median"]}, "embedding_stats must name some of mean, std"),
    ],
)
def test_bad_feature_set_settings_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        FeatureSettings(**changes)


# ------------------------------------------------------------------------------------------ the weights
def test_weights_match_musicnn_own_graph_on_a_real_clip(weights_env, musicnn_wheel, tmp_path):
    """Our extractor's embedding of a real GTZAN clip = musicnn's own pipeline on it: librosa's 16 kHz load
    and mel spectrogram as musicnn's batch_data computes them (with the float16 overflow fixed) through
    musicnn's trained graph from its checkpoint's .meta (TensorFlow), mean over the 3 s patches."""
    import librosa

    from music_genre.features import extract_file

    require_tensorflow()
    clip = require_shared("data", "gtzan_subset", "metal", "metal.00000.wav")
    ours = extract_file(clip, FeatureSettings(feature_set="embedding"))

    audio, rate = librosa.load(clip, sr=16000)
    mel = librosa.feature.melspectrogram(y=audio, sr=rate, hop_length=256, n_fft=512, n_mels=96).T
    mel16 = mel.astype(np.float16)
    with np.errstate(over="ignore"):
        unfixed = np.log10(10000 * mel16 + 1)  # musicnn's line under numpy 2: float16 overflows
    fixed = np.log10(10000 * mel16.astype(np.float32) + 1)
    starts = range(0, fixed.shape[0] - 187 + 1, 187)
    patches = np.stack([fixed[t : t + 187] for t in starts])
    with zipfile.ZipFile(musicnn_wheel) as archive:
        members = [m for m in archive.namelist() if m.startswith(musicnn_weights.CHECKPOINT_MEMBER)]
        archive.extractall(tmp_path, members=members)
    reference = musicnn_weights.reference_penultimate(
        tmp_path / musicnn_weights.CHECKPOINT_MEMBER, patches
    ).mean(axis=0)

    assert not np.all(np.isfinite(unfixed)), "this loud clip shows the float16 overflow being fixed"
    assert len(patches) == 10 and ours.shape == (200,)
    assert np.all(np.isfinite(ours.to_numpy()))
    np.testing.assert_allclose(ours.to_numpy(), reference, rtol=1e-3, atol=2e-3)
    assert float(np.abs(ours.to_numpy()).max()) > 0.1  # a real signal, not zeros


def test_a_wrong_or_damaged_weight_file_fails_loudly(weights_env, tmp_path):
    from music_genre.features.embeddings.backend import MusicnnBackend
    from music_genre.features.embeddings.musicnn import MusicnnNetwork

    good = musicnn_weights.load_weights(weights_env / musicnn_weights.WEIGHTS_FILE)
    assert len(good) == 64 and good["dense/kernel"].shape == (1506, 200)

    damaged = tmp_path / "damaged" / musicnn_weights.WEIGHTS_FILE
    damaged.parent.mkdir()
    damaged.write_bytes((weights_env / musicnn_weights.WEIGHTS_FILE).read_bytes()[:50_000])
    with pytest.raises(musicnn_weights.WeightsError, match="cannot read musicnn weights"):
        MusicnnBackend(weights=str(damaged))

    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, **good)  # right arrays, but not stamped as converted from the published wheel
    with pytest.raises(musicnn_weights.WeightsError, match="was not converted from"):
        musicnn_weights.load_weights(foreign)

    wrong_shape = dict(good, **{"conv2d/kernel": np.zeros((7, 40, 1, 204), np.float32)})
    with pytest.raises(ValueError, match=r"conv2d/kernel should have shape \(7, 38, 1, 204\)"):
        MusicnnNetwork(wrong_shape)
    poisoned = dict(good, **{"dense/bias": np.full(200, np.nan, np.float32)})
    with pytest.raises(ValueError, match="non-finite values in dense/bias"):
        MusicnnNetwork(poisoned)

    not_the_wheel = tmp_path / musicnn_weights.WHEEL_NAME
    not_the_wheel.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    with pytest.raises(
        musicnn_weights.WeightsError, match="is not musicnn 0.1.0's published wheel"
    ):
        musicnn_weights.convert_wheel(not_the_wheel, tmp_path / "out")
    assert not (tmp_path / "out" / musicnn_weights.WEIGHTS_FILE).exists()


def test_missing_weights_name_the_fix(tmp_path, monkeypatch):
    from music_genre.features.embeddings import load_backend

    monkeypatch.delenv(musicnn_weights.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.cache copy
    monkeypatch.chdir(tmp_path)  # no project models layer
    load_backend.cache_clear()
    try:
        with pytest.raises(musicnn_weights.WeightsError, match="--pipelines=embedding_weights"):
            load_backend("msd_musicnn")
    finally:
        load_backend.cache_clear()
    with pytest.raises(musicnn_weights.WeightsError, match="fetching is off"):
        musicnn_weights.ensure_weights(tmp_path / "w", fetch=False)


def _without_tensorflow(code: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where TensorFlow cannot be imported (the extra missing)."""
    prelude = "import sys; sys.modules['tensorflow'] = None\n"
    env = {k: v for k, v in os.environ.items() if k != musicnn_weights.WEIGHTS_ENV}
    env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-c", prelude + code], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_without_tensorflow_the_weights_convert_and_auto_picks_the_embedding(
    tmp_path, musicnn_wheel
):
    """The base install (TensorFlow blocked): the checkpoint is read, verified against the fingerprint and
    converted, its ONNX graph built; `auto` picks the embedding; the npz holds the 64 inference arrays."""
    result = _without_tensorflow(
        "import logging; logging.basicConfig(level=logging.WARNING)\n"
        "from music_genre.features.embeddings import resolve_feature_set, weights\n"
        f"path = weights.convert_wheel({str(musicnn_wheel)!r}, 'w')\n"
        "from music_genre.features.embeddings.backend import MusicnnBackend\n"
        "print(resolve_feature_set('auto', 'w'), MusicnnBackend(str(path), 'cpu').engine)\n"
        "import sys; print('tensorflow' in sys.modules and sys.modules['tensorflow'] is not None)\n",
        cwd=tmp_path,
        home=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["handcrafted+embedding", "onnxruntime", "False"]
    assert not [line for line in result.stderr.splitlines() if "WARNING" in line], result.stderr
    arrays = musicnn_weights.load_weights(tmp_path / "w" / musicnn_weights.WEIGHTS_FILE)
    assert len(arrays) == 64 and arrays["dense/kernel"].shape == (1506, 200)
    assert (tmp_path / "w" / "msd_musicnn.onnx").is_file()


def test_auto_picks_the_embedding_where_it_can_be_computed(weights_env):
    from music_genre.features.embeddings import AUTO_CHOICE, resolve_feature_set

    assert resolve_feature_set("auto") == AUTO_CHOICE == "handcrafted+embedding"
    assert resolve_feature_set("handcrafted") == "handcrafted"


# ---------------------------------------------------------------------------------------- bad input
def test_a_clip_shorter_than_one_patch_is_too_short(weights_env):
    from music_genre.data.audio import AudioError
    from music_genre.features import extract_signal

    settings = FeatureSettings(feature_set="handcrafted+embedding")
    noise = np.random.default_rng(1).normal(scale=0.1, size=int(2.5 * 22050)).astype(np.float32)
    with pytest.raises(AudioError) as caught:
        extract_signal(noise, 22050, settings)
    assert caught.value.reason == "too_short"
    assert "under one 2.98 s patch" in caught.value.message
    longer = np.tile(noise, 2)
    row = extract_signal(longer, 22050, settings)
    assert row.shape == (719,) and np.all(np.isfinite(row.to_numpy()))


def test_a_non_finite_embedding_is_a_failure_row(shared_gtzan):
    """Through the real extraction batch: a backend whose output is NaN (registered like any other
    backend) gives `not_finite` rows, never NaN features; the batch goes on."""
    from music_genre.features.embeddings import load_backend, register_backend
    from music_genre.features.extraction import extract_batch
    from music_genre.features.settings import EMBEDDING_DIMS

    class NaNBackend:
        name, dim, sample_rate, min_seconds = "nan_probe", 4, 16000, 1.0

        def __init__(self, weights=None, device="auto"):
            pass

        def embed(self, signals):
            return [np.full((3, 4), np.nan, np.float32) for _ in signals]

    register_backend("nan_probe", NaNBackend, dim=4)
    try:
        settings = FeatureSettings(feature_set="embedding", embedding="nan_probe").to_dict()
        rows = [
            {
                "track_id": "a",
                "fingerprint": "fa",
                "path": str(shared_gtzan / "pop" / "pop.00000.wav"),
            },
            {"track_id": "b", "fingerprint": "fb", "path": str(shared_gtzan / "nope.wav")},
        ]
        batch = extract_batch(rows, settings)
    finally:
        EMBEDDING_DIMS.pop("nan_probe", None)
        load_backend.cache_clear()
    meta = batch.meta.set_index("track_id")
    assert meta.loc["a", "status"] == "failed" and meta.loc["a", "reason"] == "not_finite"
    assert meta.loc["b", "reason"] == "missing_file"


# ------------------------------------------------------------------------------------ cache, batches
def test_feature_sets_round_trip_through_the_cache_without_mixing(weights_env, tmp_path):
    from music_genre.features.extraction import collect_features, extract_batch
    from music_genre.features.feature_cache import FeatureCache

    clips = [GTZAN_SUBSET / "jazz" / "jazz.00000.wav", GTZAN_SUBSET / "rock" / "rock.00000.wav"]
    for clip in clips:
        require_shared("data", "gtzan_subset", clip.parent.name, clip.name)
    tracks = pd.DataFrame(
        {"track_id": ["1", "2"], "fingerprint": ["f1", "f2"], "path": [str(c) for c in clips]}
    )
    tables = {}
    for feature_set in ("handcrafted", "embedding", "handcrafted+embedding"):
        settings = FeatureSettings(feature_set=feature_set)
        cache = FeatureCache(tmp_path / "cache", settings.digest())
        cache.write_batch(extract_batch(tracks.to_dict("records"), settings.to_dict()))
        features, failures = collect_features(tracks, cache, feature_names(settings))
        assert failures.empty
        tables[feature_set] = features.set_index("track_id")
    assert len(list((tmp_path / "cache").iterdir())) == 3  # one folder per digest
    both = tables["handcrafted+embedding"]
    assert list(both.columns) == list(tables["handcrafted"].columns) + list(
        tables["embedding"].columns
    )
    # One decode, two parts: each part equals what its own set computes.
    np.testing.assert_allclose(
        both[tables["handcrafted"].columns], tables["handcrafted"], rtol=1e-6
    )
    np.testing.assert_allclose(
        both[tables["embedding"].columns], tables["embedding"], rtol=1e-5, atol=1e-6
    )
    # Different clips, different embeddings.
    assert np.abs(tables["embedding"].loc["1"] - tables["embedding"].loc["2"]).max() > 0.1


def test_extraction_tasks_ask_for_a_gpu_only_when_they_can_use_one():
    """`gpus_per_task: auto`: a share of the cluster's GPUs for the embedding with PyTorch there; none for
    handcrafted features, or without a GPU, or without PyTorch (a task would hold a GPU it cannot use)."""
    import importlib.util
    import logging

    import ray

    from music_genre.features.extraction import auto_gpus_per_task

    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)  # fmt: skip
    try:
        assert auto_gpus_per_task({"feature_set": "handcrafted"}, 2) == 0.0
        with_torch = importlib.util.find_spec("torch") is not None
        assert auto_gpus_per_task({"feature_set": "embedding"}, 2) == (0.5 if with_torch else 0.0)
    finally:
        ray.shutdown()
    assert auto_gpus_per_task({"feature_set": "embedding"}, 2) == 0.0  # no Ray, no GPU resource
