"""MSD_musicnn as an ONNX graph, built from the converted weights, and run by ONNX Runtime on the CPU.

Why: numpy's OpenBLAS runs its AVX2 kernels on this project's machines (and is already near their peak on
this network); ONNX Runtime's MLAS has its own AVX-512 convolution kernels and runs the same float32
arithmetic about 3 x faster on one core (docs/benchmarks.md). The graph is written layer for layer from
:class:`~music_genre.features.embeddings.musicnn.MusicnnNetwork` with ``onnx``'s own helpers (no PyTorch,
no exporter), so both compute the same function; :func:`build_onnx` checks that on log-mel patches before
the file is written (to 1e-5 of the numpy network evaluated in float64).

The file, ``msd_musicnn.onnx``, lies beside ``msd_musicnn.npz`` and carries the SHA-256 of the ``.npz`` it
was built from in its metadata. :func:`ready_onnx` (what the backend calls once per process) rebuilds it
from the ``.npz`` with one log line when it is missing or unreadable, and refuses one built from other
weights (then rebuilds it). The numpy network stays the reference and the fallback.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from .musicnn import EMBEDDING_DIM, MIDEND_DIM, N_MELS, PATCH_FRAMES, MusicnnNetwork

log = logging.getLogger(__name__)

ONNX_FILE = "msd_musicnn.onnx"
OPSET = 17
IR_VERSION = 8  # readable by every ONNX Runtime since 1.10
HASH_KEY = "weights_sha256"  # the metadata entry naming the .npz the graph was built from
GRAPH_VERSION = "2"  # bump when the graph below changes: older files are rebuilt
CHECK_TOLERANCE = 1e-5  # ONNX Runtime vs the numpy network in float64, max abs difference


class OnnxUnavailable(RuntimeError):
    """ONNX Runtime (or ``onnx``, to build the graph) cannot be loaded here; the numpy network runs."""


def onnx_path_for(weights_path: str | os.PathLike) -> Path:
    return Path(weights_path).with_name(ONNX_FILE)


def build_graph(network: MusicnnNetwork, weights_sha256: str):
    """The ``onnx.ModelProto`` of ``network``: input ``patches`` (batch, 187, 96) float32; outputs
    ``penultimate`` (batch, 200) and ``midend`` (batch, 753), as :meth:`MusicnnNetwork.layers`."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as err:
        raise OnnxUnavailable(f"onnx is not installed ({err})") from err

    nodes, initializers = [], []
    counter = iter(range(1_000_000))

    def const(value: np.ndarray, name: str | None = None) -> str:
        name = name or f"c{next(counter)}"
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], **attrs) -> str:
        out = f"t{next(counter)}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def affine(x: str, scale: np.ndarray, shift: np.ndarray, shape: tuple[int, ...]) -> str:
        return node(
            "Add",
            [node("Mul", [x, const(scale.reshape(shape))]), const(shift.reshape(shape))],
        )

    w = network.w
    axes_i64 = {}

    def axes(*values: int) -> str:
        if values not in axes_i64:
            axes_i64[values] = const(np.asarray(values, np.int64))
        return axes_i64[values]

    scale0, shift0 = network.bn[0]
    x = affine("patches", scale0, shift0, (1,))  # (b, t, mel), input batch norm
    image = node("Unsqueeze", [x, axes(1)])  # (b, 1, t, mel)

    def pooled_over_mel(kernel_tf: np.ndarray, bias: np.ndarray, bn_index: int, pads) -> str:
        """max over mel of BN(relu(conv + bias)), max taken on the raw convolution as numpy does: the
        filters of a negative BN scale are negated (exactly) so that their min is a max."""
        scale, shift = network.bn[bn_index]
        sign = np.where(scale >= 0, 1.0, -1.0).astype(np.float32)
        kernel = np.ascontiguousarray(kernel_tf.transpose(3, 2, 0, 1)) * sign[:, None, None, None]
        conv = node("Conv", [image, const(kernel.astype(np.float32))], pads=pads)
        # ReduceMax, not MaxPool over the mel positions: ONNX Runtime then reorders the convolution out of
        # its blocked layout first either way, and ReduceMax measured 1.85 x faster than MaxPool here
        high = node("ReduceMax", [conv], axes=[3], keepdims=0)  # (b, filters, t)
        chosen = node(
            "Add",
            [node("Mul", [high, const(sign[:, None])]), const(bias.astype(np.float32)[:, None])],
        )
        return affine(node("Relu", [chosen]), scale, shift, (-1, 1))

    front = []
    for name, bn_index in (("conv2d", 1), ("conv2d_1", 2)):
        front.append(
            pooled_over_mel(w[f"{name}/kernel"], w[f"{name}/bias"], bn_index, [3, 0, 3, 0])
        )
    for i in (2, 3, 4):
        kernel = w[f"conv2d_{i}/kernel"]
        length = kernel.shape[0]
        before = (length - 1) // 2  # TensorFlow's 'same': the extra zero goes after
        pads = [before, 0, length - 1 - before, 0]
        front.append(pooled_over_mel(kernel, w[f"conv2d_{i}/bias"], i + 1, pads))
    current = node("Concat", front, axis=1)  # (b, 561, t)
    layers = [current]
    for step, i in enumerate((5, 6, 7)):
        kernel = np.ascontiguousarray(w[f"conv2d_{i}/kernel"][:, :, 0, :].transpose(2, 1, 0))
        conv = node("Conv", [current, const(kernel), const(w[f"conv2d_{i}/bias"])], pads=[3, 3])
        scale, shift = network.bn[i + 1]
        normed = affine(node("Relu", [conv]), scale, shift, (-1, 1))
        current = normed if step == 0 else node("Add", [normed, current])
        layers.append(current)
    stacked = node("Concat", layers, axis=1)  # (b, 753, t)
    high = node("ReduceMax", [stacked], axes=[2], keepdims=1)
    mean = node("ReduceMean", [stacked], axes=[2], keepdims=1)
    # musicnn's [max, mean] on a trailing axis, flattened: per channel its max then its mean
    pooled = node(
        "Reshape", [node("Concat", [high, mean], axis=2), const(np.asarray([0, -1], np.int64))]
    )
    scale, shift = network.bn[9]
    dense = node(
        "Relu",
        [
            node(
                "Gemm",
                [
                    affine(pooled, scale, shift, (1, -1)),
                    const(w["dense/kernel"]),
                    const(w["dense/bias"]),
                ],
            )  # fmt: skip
        ],
    )
    scale, shift = network.bn[10]
    nodes.append(
        helper.make_node(
            "Add",
            [node("Mul", [dense, const(scale.reshape(1, -1))]), const(shift.reshape(1, -1))],
            ["penultimate"],
        )
    )
    nodes.append(helper.make_node("Squeeze", [mean, axes(2)], ["midend"]))
    graph = helper.make_graph(
        nodes,
        "msd_musicnn",
        [
            helper.make_tensor_value_info(
                "patches", TensorProto.FLOAT, ["batch", PATCH_FRAMES, N_MELS]
            )
        ],
        [
            helper.make_tensor_value_info(
                "penultimate", TensorProto.FLOAT, ["batch", EMBEDDING_DIM]
            ),
            helper.make_tensor_value_info("midend", TensorProto.FLOAT, ["batch", MIDEND_DIM]),
        ],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="music_genre",
        ir_version=IR_VERSION,
    )
    helper.set_model_props(model, {HASH_KEY: weights_sha256, "graph_version": GRAPH_VERSION})
    onnx.checker.check_model(model)
    return model


class OnnxMusicnn:
    """ONNX Runtime running the graph on the CPU, one intra-op thread (a Ray worker owns one core):
    ``layers(patches)`` as :meth:`MusicnnNetwork.layers`."""

    def __init__(self, model: bytes | str | os.PathLike, threads: int = 1):
        try:
            import onnxruntime
        except ImportError as err:
            raise OnnxUnavailable(f"onnxruntime is not installed ({err})") from err
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # its own notes are not the user's concern
        source = str(model) if isinstance(model, os.PathLike | str) else model
        self.session = onnxruntime.InferenceSession(
            source, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def penultimate(self, patches: np.ndarray) -> np.ndarray:
        return self.layers(patches)["penultimate"]

    def layers(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        patches = np.ascontiguousarray(patches, dtype=np.float32)
        if not len(patches):
            return {
                "penultimate": np.empty((0, EMBEDDING_DIM), np.float32),
                "midend": np.empty((0, MIDEND_DIM), np.float32),
            }
        penultimate, midend = self.session.run(["penultimate", "midend"], {"patches": patches})
        return {"penultimate": penultimate, "midend": midend}


def check_patches() -> np.ndarray:
    """Patches the graph is checked on when it is built: musicnn's front end on a fixed 12 s signal of
    tones, chords, noise and silence (real log-mel values, quiet and loud), and two patches of uniform
    values over the range of log-mel inputs."""
    from .musicnn import SAMPLE_RATE, log_mel_patches

    rng = np.random.default_rng(20261207)
    t = np.arange(12 * SAMPLE_RATE) / SAMPLE_RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0)) / 4
    sweep = np.sin(2 * np.pi * (100 + 400 * t) * t)
    noise = rng.normal(scale=0.3, size=t.size)
    envelope = (np.sin(2 * np.pi * 0.5 * t) > 0).astype(float)
    signal = np.concatenate(
        [chord[: 3 * SAMPLE_RATE], sweep[: 3 * SAMPLE_RATE],
         (noise * envelope)[: 3 * SAMPLE_RATE], np.zeros(3 * SAMPLE_RATE)]
    ).astype(np.float32)  # fmt: skip
    real = log_mel_patches(signal)
    uniform = rng.uniform(0.0, 3.0, (2, PATCH_FRAMES, N_MELS)).astype(np.float32)
    return np.concatenate([real, uniform])


def max_difference(
    onnx_network: OnnxMusicnn, network: MusicnnNetwork, patches: np.ndarray
) -> float:
    """Largest absolute difference, over both outputs, between ONNX Runtime and the numpy network
    evaluated in float64 (float32 numpy is itself ~1.3e-5 from that on real patches, ONNX Runtime ~4e-6:
    comparing two float32 engines would measure their summation orders, not the graph)."""
    exact = MusicnnNetwork(network.w, dtype=np.float64)
    ours, reference = onnx_network.layers(patches), exact.layers(patches)
    return max(float(np.max(np.abs(ours[k] - reference[k]))) for k in reference)


def build_onnx(
    network: MusicnnNetwork, weights_path: str | os.PathLike, weights_sha256: str
) -> Path:
    """Build the graph, check it against ``network`` (max difference at most 1e-5 on
    :func:`check_patches`) and write it beside the weights atomically. Returns its path."""
    target = onnx_path_for(weights_path)
    data = build_graph(network, weights_sha256).SerializeToString()
    try:
        engine = OnnxMusicnn(data)
    except OnnxUnavailable:
        raise
    except Exception as err:  # an ONNX Runtime too old for the graph, a CPU it cannot use
        raise OnnxUnavailable(f"ONNX Runtime cannot load the graph: {_first_line(err)}") from err
    error = max_difference(engine, network, check_patches())
    if not np.isfinite(error) or error > CHECK_TOLERANCE:
        raise OnnxUnavailable(
            f"the ONNX graph differs from the numpy network by {error:.2g} (> {CHECK_TOLERANCE:g})"
        )
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{ONNX_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)  # as the .npz beside it (mkstemp makes it private)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    log.debug("%s built and checked (max difference %.2g)", target, error)
    return target


def ready_onnx(
    network: MusicnnNetwork, weights_path: str | os.PathLike, weights_sha256: str, threads: int = 1
) -> OnnxMusicnn:
    """ONNX Runtime on the graph beside ``weights_path``: a missing or unreadable file is rebuilt from the
    weights with one log line; one built from other weights (its recorded hash differs) is refused and
    rebuilt. :class:`OnnxUnavailable` where ONNX Runtime (or ``onnx``, to build) cannot load."""
    path = onnx_path_for(weights_path)
    reason = None
    if not path.is_file():
        reason = f"{path.name} missing"
    else:
        try:
            engine = OnnxMusicnn(path, threads)
        except OnnxUnavailable:
            raise
        except Exception as err:  # ONNX Runtime's own error types for a bad file
            reason = f"{path.name} unreadable ({_first_line(err)})"
        else:
            recorded = engine.metadata.get(HASH_KEY)
            if recorded == weights_sha256 and engine.metadata.get("graph_version") == GRAPH_VERSION:
                return engine
            reason = (
                f"{path.name} refused: built from other weights (SHA-256 {str(recorded)[:12]}..., "
                f"the weights' {weights_sha256[:12]}...)"
                if recorded != weights_sha256
                else f"{path.name} from an older graph version"
            )
    log.warning("%s: rebuilt from %s", reason, Path(weights_path).name)
    build_onnx(network, weights_path, weights_sha256)
    return OnnxMusicnn(path, threads)


def _first_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:160] + (" ..." if len(text) > 160 else "") or type(err).__name__
