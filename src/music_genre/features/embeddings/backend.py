"""The ``msd_musicnn`` backend: weights found and loaded once, the network run by ONNX Runtime, numpy or
on a GPU.

``device``: ``auto`` runs on a CUDA GPU when PyTorch is installed and sees one (patches of all the clips of
a batch in one pass), else on the CPU; ``cpu`` / ``cuda`` force either. On the CPU, ``engine``: ``auto``
runs ONNX Runtime on the graph built beside the weights (:mod:`.onnx_graph`; one intra-op thread, as a Ray
worker owns one core), or the numpy network with one warning where ONNX Runtime cannot load; ``numpy``
forces the numpy network (the reference). Both give the same features to 1e-5, so the engine is not part
of the feature settings' digest and a cache filled by either stays valid.
"""

from __future__ import annotations

import logging

import numpy as np

from .musicnn import (
    EMBEDDING_DIM,
    MIDEND_DIM,
    PATCH_SECONDS,
    SAMPLE_RATE,
    MusicnnNetwork,
    log_mel_patches,
)
from .weights import WeightsError, find_weights, load_weights, search_dirs, sha256_of

log = logging.getLogger(__name__)


class MusicnnBackend:
    name = "msd_musicnn"
    dim = EMBEDDING_DIM
    sample_rate = SAMPLE_RATE
    min_seconds = PATCH_SECONDS
    layer_dims = {"penultimate": EMBEDDING_DIM, "midend": MIDEND_DIM}

    def __init__(self, weights: str | None = None, device: str = "auto", engine: str = "auto"):
        from pathlib import Path

        path = Path(weights) if weights and Path(weights).is_file() else find_weights()
        if path is None:
            raise WeightsError(
                "musicnn weights not found (looked in "
                f"{', '.join(str(d) for d in search_dirs())}): run "
                "`kedro run --pipelines=embedding_weights`"
            )
        if engine not in ("auto", "onnxruntime", "numpy"):
            raise ValueError(f"embedding engine must be auto, onnxruntime or numpy, got {engine!r}")
        self.weights_path = str(path)
        self.network = MusicnnNetwork(load_weights(path))
        self.device = _pick_device(device)
        self._torch_network = None
        self.engine = "numpy"
        self._cpu_network = self.network
        if self.device == "cuda":
            self._torch_network = TorchMusicnn(self.network)
            self.engine = "torch"
        elif engine != "numpy":
            self._cpu_network = self._onnx_or_numpy(path, strict=engine == "onnxruntime")
        log.debug("msd_musicnn loaded from %s on %s (%s)", path, self.device, self.engine)

    def _onnx_or_numpy(self, path, strict: bool):
        from .onnx_graph import OnnxUnavailable, ready_onnx

        try:
            network = ready_onnx(self.network, path, sha256_of(path))
        except (OnnxUnavailable, OSError) as err:
            if strict:
                raise
            log.warning(
                "ONNX Runtime cannot run the embedding here (%s): the numpy network runs it instead "
                "(same features, about 2-3 x slower)",
                _clipped(err),
            )
            return self.network
        self.engine = "onnxruntime"
        return network

    def embed(self, signals: list[np.ndarray]) -> list[np.ndarray]:
        return [layers["penultimate"] for layers in self.embed_layers(signals)]

    def embed_layers(self, signals: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        """Per signal, every layer's patch vectors from one pass: ``penultimate`` (patches, 200) and
        ``midend`` (patches, 753)."""
        patches = [log_mel_patches(signal) for signal in signals]
        counts = [len(p) for p in patches]
        if not sum(counts):
            return [
                {name: np.empty((0, dim), np.float32) for name, dim in self.layer_dims.items()}
                for _ in signals
            ]
        stacked = np.concatenate([p for p in patches if len(p)])
        network = self._torch_network if self._torch_network is not None else self._cpu_network
        outputs = network.layers(stacked)
        split = {name: np.split(values, np.cumsum(counts)[:-1]) for name, values in outputs.items()}
        return [{name: split[name][i] for name in outputs} for i in range(len(signals))]


def _clipped(err: BaseException) -> str:
    from music_genre.common.errors import clipped

    return clipped(err, 200) or type(err).__name__


def _pick_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"embedding device must be auto, cpu or cuda, got {device!r}")
    if device == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        torch = None
    has_gpu = torch is not None and torch.cuda.is_available()
    if device == "cuda" and not has_gpu:
        raise RuntimeError(
            "embedding device 'cuda' asked for, but PyTorch with a CUDA GPU is not available"
        )
    return "cuda" if has_gpu else "cpu"


class TorchMusicnn:
    """The same network as :class:`MusicnnNetwork` in PyTorch on the GPU (same weights, same arithmetic,
    float32), for when extraction workers have one."""

    PATCHES_PER_PASS = 512

    def __init__(self, network: MusicnnNetwork):
        import torch

        # TF32 convolutions drift ~5e-3 from the CPU's float32 (measured on an H200): features of one track
        # must not depend on where they were computed, so full float32 (1e-5 from numpy).
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        self.torch = torch
        dev = torch.device("cuda")
        w = {k: torch.from_numpy(v).to(dev) for k, v in network.w.items()}
        self.bn = [
            (torch.from_numpy(s).to(dev), torch.from_numpy(b).to(dev)) for s, b in network.bn
        ]
        self.timbral = [  # (out, in, kh, kw)
            (w["conv2d/kernel"].permute(3, 2, 0, 1).contiguous(), w["conv2d/bias"], 1),
            (w["conv2d_1/kernel"].permute(3, 2, 0, 1).contiguous(), w["conv2d_1/bias"], 2),
        ]
        self.temporal = [
            (w[f"conv2d_{i}/kernel"].permute(3, 2, 0, 1).contiguous(), w[f"conv2d_{i}/bias"], i + 1)
            for i in (2, 3, 4)
        ]
        self.midend = [  # conv over time with the channels as input: (out, in, 7)
            (
                w[f"conv2d_{i}/kernel"][:, :, 0, :].permute(2, 1, 0).contiguous(),
                w[f"conv2d_{i}/bias"],
                i + 1,
            )
            for i in (5, 6, 7)
        ]
        self.dense = (w["dense/kernel"], w["dense/bias"])
        self.device = dev

    def penultimate(self, patches: np.ndarray) -> np.ndarray:
        return self.layers(patches)["penultimate"]

    def layers(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        torch = self.torch
        dense, midend = [], []
        with torch.inference_mode():
            for start in range(0, len(patches), self.PATCHES_PER_PASS):
                chunk = torch.from_numpy(patches[start : start + self.PATCHES_PER_PASS]).to(
                    self.device
                )
                out, pooled = self._forward(chunk)
                dense.append(out.cpu().numpy())
                midend.append(pooled.cpu().numpy())
        return {
            "penultimate": np.concatenate(dense).astype(np.float32),
            "midend": np.concatenate(midend).astype(np.float32),
        }

    def _bn(self, x, index: int, dim: int = 1):
        scale, shift = self.bn[index]
        shape = [1] * x.dim()
        shape[dim] = -1
        return x * scale.view(shape) + shift.view(shape)

    def _forward(self, x):
        torch = self.torch
        functional = torch.nn.functional
        scale0, shift0 = self.bn[0]
        x = (x * scale0 + shift0).unsqueeze(1)  # (b, 1, time, mel)
        padded = functional.pad(x, (0, 0, 3, 3))
        front = []
        for kernel, bias, index in self.timbral:
            conv = torch.relu(functional.conv2d(padded, kernel, bias))
            front.append(self._bn(conv, index).amax(dim=3))  # (b, 204, time)
        for kernel, bias, index in self.temporal:
            length = kernel.shape[2]
            before = (length - 1) // 2
            conv = functional.conv2d(
                functional.pad(x, (0, 0, before, length - 1 - before)), kernel, bias
            )
            front.append(self._bn(torch.relu(conv), index).amax(dim=3))  # (b, 51, time)
        current = torch.cat(front, dim=1)  # (b, 561, time)
        layers = [current]
        for i, (kernel, bias, index) in enumerate(self.midend):
            conv = functional.conv1d(functional.pad(current, (3, 3)), kernel, bias)
            normed = self._bn(torch.relu(conv), index)
            current = normed if i == 0 else normed + current
            layers.append(current)
        stacked = torch.cat(layers, dim=1)  # (b, 753, time)
        pooled = torch.stack([stacked.amax(dim=2), stacked.mean(dim=2)], dim=2).flatten(1)
        kernel, bias = self.dense
        dense = torch.relu(self._bn(pooled, 9) @ kernel + bias)
        return self._bn(dense, 10), stacked.mean(dim=2)
