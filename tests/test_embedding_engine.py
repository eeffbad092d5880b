"""The embedding without TensorFlow and on ONNX Runtime: musicnn's checkpoint read by our own reader (equal
to TensorFlow's, where TensorFlow is installed), the committed fingerprint of musicnn's graph, the ONNX graph
against the numpy network on the real shared clips, and the ONNX file's bad cases (missing, corrupt, built
from other weights: rebuilt; ONNX Runtime absent: numpy with one warning)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from music_genre.features.embeddings import weights as musicnn_weights
from music_genre.features.embeddings.checkpoint import CheckpointError, read_checkpoint

from .test_embeddings import require_tensorflow

NETWORKS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")


@pytest.fixture(scope="module")
def checkpoints(musicnn_wheel, tmp_path_factory) -> Path:
    """The wheel's four TensorFlow checkpoints, unpacked: <folder>/musicnn/<network>/.index ..."""
    folder = tmp_path_factory.mktemp("checkpoints")
    with zipfile.ZipFile(musicnn_wheel) as archive:
        archive.extractall(folder, [m for m in archive.namelist() if m.count("/") == 2])
    return folder / "musicnn"


# -------------------------------------------------------------------------------- the checkpoint reader
def test_checkpoint_reader_equals_tensorflows_reader(checkpoints):
    """Every tensor of every checkpoint in the wheel (optimiser slots and counters included): the same
    names, dtypes, shapes and bytes as TensorFlow's own reader gives."""
    require_tensorflow()
    tf = musicnn_weights._tensorflow()
    for network in NETWORKS:
        prefix = f"{checkpoints / network}{os.sep}"
        ours = read_checkpoint(prefix)
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
        names = reader.get_variable_to_shape_map()
        assert set(ours) == set(names) and len(ours) > 80
        for name in names:
            theirs = np.asarray(reader.get_tensor(name))
            assert ours[name].dtype == theirs.dtype and ours[name].shape == theirs.shape, name
            assert np.array_equal(ours[name], theirs), name


def test_checkpoint_reader_reads_the_inference_weights_without_tensorflow(checkpoints):
    weights = musicnn_weights.read_checkpoint(f"{checkpoints / 'MSD_musicnn'}{os.sep}")
    assert len(weights) == 64 and not [n for n in weights if "Adam" in n]
    assert weights["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert weights["dense/kernel"].dtype == np.float32
    # read right: the network on these arrays reproduces musicnn's graph's committed output
    from music_genre.features.embeddings.fingerprint import fingerprint_difference
    from music_genre.features.embeddings.musicnn import MusicnnNetwork

    assert fingerprint_difference(MusicnnNetwork(weights)) < 1e-4


def test_a_damaged_checkpoint_is_a_checkpoint_error(checkpoints, tmp_path):
    source = checkpoints / "MSD_musicnn"
    index = (source / ".index").read_bytes()
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / ".index").write_bytes(index[:-20])  # the footer cut
    (damaged / ".data-00000-of-00001").write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a TensorFlow checkpoint index"):
        read_checkpoint(f"{damaged}{os.sep}")
    (damaged / ".index").write_bytes(index)  # an intact index over an empty data file
    with pytest.raises(CheckpointError, match="does not fit its shape"):
        read_checkpoint(f"{damaged}{os.sep}")
    with pytest.raises(musicnn_weights.WeightsError, match="cannot read musicnn checkpoint"):
        musicnn_weights.read_checkpoint(f"{tmp_path / 'nowhere'}{os.sep}")


# ------------------------------------------------------------------------------------- the fingerprint
def test_the_fingerprint_is_musicnns_graph_output(checkpoints):
    """Re-derived with TensorFlow from musicnn's own graph (the checkpoint's .meta) on the fixed input: the
    committed values. Then the numpy network reproduces them (what every conversion checks)."""
    from music_genre.features.embeddings.fingerprint import fingerprint, fingerprint_input
    from music_genre.features.embeddings.musicnn import MusicnnNetwork

    require_tensorflow()
    derived = musicnn_weights.reference_penultimate(
        checkpoints / "MSD_musicnn", fingerprint_input()
    )
    np.testing.assert_allclose(derived, fingerprint(), rtol=0, atol=1e-5)
    network = MusicnnNetwork(
        musicnn_weights.read_checkpoint(f"{checkpoints / 'MSD_musicnn'}{os.sep}")
    )
    assert np.abs(network.penultimate(fingerprint_input()) - fingerprint()).max() < 1e-4


def test_a_checkpoint_that_is_not_musicnns_is_refused_and_nothing_written(checkpoints, tmp_path):
    with pytest.raises(
        musicnn_weights.WeightsError, match="differs from MSD_musicnn's fingerprint"
    ):
        musicnn_weights.convert_checkpoint(checkpoints / "MTT_musicnn", tmp_path / "w")
    with pytest.raises(musicnn_weights.WeightsError, match="should have shape"):
        musicnn_weights.convert_checkpoint(checkpoints / "MSD_vgg", tmp_path / "w")
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").iterdir())


# -------------------------------------------------------------------------------------- the ONNX engine
@pytest.fixture(scope="module")
def real_patches(musicnn_weights_dir) -> dict[str, np.ndarray]:
    """musicnn's log-mel patches of every shared GTZAN clip (10 a clip)."""
    from music_genre.data import audio
    from music_genre.features.embeddings.musicnn import log_mel_patches

    from .conftest import GTZAN_SUBSET, require_shared

    require_shared("data", "gtzan_subset")
    clips = sorted(GTZAN_SUBSET.rglob("*.wav"))
    return {clip.name: log_mel_patches(audio.load(clip, 16000)) for clip in clips}


def _backend(weights_dir: Path, engine: str = "auto"):
    from music_genre.features.embeddings.backend import MusicnnBackend

    return MusicnnBackend(str(weights_dir / musicnn_weights.WEIGHTS_FILE), "cpu", engine)


def test_onnx_runtime_equals_the_numpy_network_on_real_patches(musicnn_weights_dir, real_patches):
    """On the 40 shared clips: every patch within 1e-5 of the numpy network evaluated in float64 (the
    conversion's check), and the features (clip means of both layers) equal to float32 numpy's to 1e-5."""
    from music_genre.features.embeddings.musicnn import MusicnnNetwork

    onnx_backend = _backend(musicnn_weights_dir)
    numpy_backend = _backend(musicnn_weights_dir, "numpy")
    assert (onnx_backend.engine, numpy_backend.engine) == ("onnxruntime", "numpy")
    assert len(real_patches) == 40 and all(len(p) == 10 for p in real_patches.values())
    exact = MusicnnNetwork(numpy_backend.network.w, dtype=np.float64)
    firsts = np.stack([patches[0] for patches in real_patches.values()])
    ours, reference = onnx_backend._cpu_network.layers(firsts), exact.layers(firsts)
    for layer in ("penultimate", "midend"):
        assert np.abs(ours[layer] - reference[layer]).max() <= 1e-5, layer
    for patches in real_patches.values():
        ours, theirs = (
            onnx_backend._cpu_network.layers(patches),
            numpy_backend.network.layers(patches),
        )
        for layer in ("penultimate", "midend"):
            np.testing.assert_allclose(
                ours[layer].mean(axis=0), theirs[layer].mean(axis=0), rtol=1e-5, atol=1e-5
            )
            assert np.abs(ours[layer]).max() > 0.1  # real values, not zeros


def _onnx_hash(path: Path) -> str:
    import onnx

    model = onnx.load(str(path))
    return {p.key: p.value for p in model.metadata_props}["weights_sha256"]


def _records(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_missing_corrupt_or_foreign_onnx_file_is_rebuilt_in_one_line(
    musicnn_weights_dir, tmp_path, caplog
):
    from music_genre.features.embeddings import onnx_graph

    weights_dir = tmp_path / "w"
    weights_dir.mkdir()
    npz = weights_dir / musicnn_weights.WEIGHTS_FILE
    npz.write_bytes((musicnn_weights_dir / musicnn_weights.WEIGHTS_FILE).read_bytes())
    onnx_file = weights_dir / onnx_graph.ONNX_FILE
    digest = musicnn_weights.sha256_of(npz)
    probe = np.random.default_rng(3).uniform(0, 3, (2, 187, 96)).astype(np.float32)
    reference = _backend(weights_dir, "numpy").network.penultimate(probe)

    def load_and_check(expected: str) -> None:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            backend = _backend(weights_dir)
        lines = _records(caplog)
        assert len(lines) == 1 and expected in lines[0], lines
        assert backend.engine == "onnxruntime" and _onnx_hash(onnx_file) == digest
        assert np.abs(backend._cpu_network.penultimate(probe) - reference).max() < 1e-4

    load_and_check("msd_musicnn.onnx missing: rebuilt from msd_musicnn.npz")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert _backend(weights_dir).engine == "onnxruntime"  # a good file: loaded, no line
    assert _records(caplog) == []

    onnx_file.write_bytes(onnx_file.read_bytes()[:100_000])  # truncated
    load_and_check("msd_musicnn.onnx unreadable")

    network = _backend(weights_dir, "numpy").network
    onnx_graph.build_onnx(network, npz, "0" * 64)  # a graph recorded as built from other weights
    assert _onnx_hash(onnx_file) == "0" * 64
    load_and_check("msd_musicnn.onnx refused: built from other weights")


def test_without_onnx_runtime_the_numpy_network_runs_with_one_warning(
    musicnn_weights_dir, tmp_path
):
    code = (
        "import sys; sys.modules['onnxruntime'] = None\n"
        "import logging; logging.basicConfig(level=logging.WARNING)\n"
        "import numpy as np\n"
        "from music_genre.features.embeddings.backend import MusicnnBackend\n"
        f"b = MusicnnBackend({str(musicnn_weights_dir / musicnn_weights.WEIGHTS_FILE)!r}, 'cpu')\n"
        "x = np.random.default_rng(0).uniform(0, 3, (16000 * 7,)).astype(np.float32)\n"
        "print(b.engine, b.embed([x])[0].shape)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["numpy", "(2,", "200)"]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and "numpy network runs it instead" in warnings[0]
