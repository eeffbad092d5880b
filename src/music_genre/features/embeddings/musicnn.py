"""MSD_musicnn (Pons & Serra, musicnn 0.1.0): its mel front end and forward pass, in numpy (or torch on a GPU).

Why our own forward pass: musicnn's ``extractor()`` needs TensorFlow 1-style graphs, rebuilds the graph on
every call (~2 s a clip) and its preprocessing overflows float16 under numpy 2 (NaN embeddings). The network
is small (about 2.7 GFLOP a 3 s patch), so a few matrix products per layer run it at well under 0.5 s a 30 s
clip on one core, with nothing heavier than numpy in the extraction workers. The weights are musicnn's own,
converted once from its checkpoint (:mod:`music_genre.features.embeddings.weights`); the layer order and arithmetic
below are those of musicnn's ``models.build_musicnn`` (frontend '7774timbraltemporal', midend with two
residual convolutions, backend max+mean pooling and a dense layer whose batch-normalised output is the
'penultimate' embedding).
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000  # musicnn's configuration.SR
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = (
    187  # librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1: musicnn's 3 s input
)
# The shortest signal that yields one patch (about 2.98 s).
PATCH_SECONDS = (PATCH_FRAMES - 1) * HOP / SAMPLE_RATE
BN_EPSILON = 1e-3  # tf.compat.v1.layers.batch_normalization's default
EMBEDDING_DIM = 200
MIDEND_DIM = 753  # the front end's 561 channels and the mid-end's three 64-channel layers, stacked
# Patches per matrix product on the CPU: small buffers stay in the allocator (measured fastest).
PATCHES_PER_CHUNK = 1


def log_mel_patches(signal: np.ndarray) -> np.ndarray:
    """(patches, 187, 96) float32 log-compressed mel patches of a 16 kHz mono signal, non-overlapping from
    the start, as musicnn's ``batch_data``: librosa's melspectrogram (power, Slaney mel, centred frames),
    rounded to float16 as musicnn stores it, then ``log10(10000 x + 1)`` computed in float32 (musicnn's
    float16 arithmetic overflows above x = 6.5 under numpy 2: the fix). Empty when shorter than a patch."""
    from music_genre.features import _dsp

    spectrum = _dsp.stft(np.asarray(signal, dtype=np.float32), N_FFT, HOP)
    power = spectrum.real * spectrum.real + spectrum.imag * spectrum.imag
    mel = _dsp.apply_blocks(_dsp.mel_blocks(float(SAMPLE_RATE), N_FFT, N_MELS), power, N_MELS)
    mel = mel.astype(np.float16).astype(np.float32)
    log_mel = np.log10(np.float32(10000.0) * mel + np.float32(1.0))
    count = max(0, (len(log_mel) - PATCH_FRAMES) // PATCH_FRAMES + 1)
    patches = log_mel[: count * PATCH_FRAMES].reshape(count, PATCH_FRAMES, N_MELS)
    return np.ascontiguousarray(patches, dtype=np.float32)


class MusicnnNetwork:
    """The network with its weights, built once per process. ``penultimate(patches)`` -> (patches, 200);
    ``layers(patches)`` -> that and the mid-end's pooled channels, from the same pass."""

    def __init__(self, weights: dict[str, np.ndarray], dtype: type = np.float32):
        """``dtype``: float32 (what extraction runs), or float64 to evaluate the same network to within
        float64's rounding (what the ONNX graph is checked against); outputs are float32 either way."""
        self.dtype = np.dtype(dtype)
        self.w = {name: np.asarray(value, dtype=self.dtype) for name, value in weights.items()}
        self._check(self.w)
        # Batch norms folded into scale and shift: y = x * scale + shift.
        self.bn = [self._folded(i) for i in range(11)]
        k = self.w
        self.timbral = [  # (7 x width) kernels over (time, mel): 204 filters each, as im2col matrices
            (k["conv2d/kernel"].shape[1], k["conv2d/kernel"].reshape(-1, 204), k["conv2d/bias"], 1),
            (
                k["conv2d_1/kernel"].shape[1],
                k["conv2d_1/kernel"].reshape(-1, 204),
                k["conv2d_1/bias"],
                2,
            ),
        ]
        self.temporal = [  # (length x 1) kernels along time, 'same' padding: 51 filters each
            (length, k[f"conv2d_{i}/kernel"].reshape(length, 51), k[f"conv2d_{i}/bias"], i + 1)
            for i, length in ((2, 128), (3, 64), (4, 32))
        ]
        self.midend = [
            (
                k[f"conv2d_{i}/kernel"].reshape(7 * k[f"conv2d_{i}/kernel"].shape[1], 64),
                k[f"conv2d_{i}/bias"],
                i + 1,
            )
            for i in (5, 6, 7)
        ]

    @staticmethod
    def _check(weights: dict[str, np.ndarray]) -> None:
        expected = {
            "conv2d/kernel": (7, 38, 1, 204),
            "conv2d_1/kernel": (7, 67, 1, 204),
            "conv2d_2/kernel": (128, 1, 1, 51),
            "conv2d_3/kernel": (64, 1, 1, 51),
            "conv2d_4/kernel": (32, 1, 1, 51),
            "conv2d_5/kernel": (7, 561, 1, 64),
            "conv2d_6/kernel": (7, 64, 1, 64),
            "conv2d_7/kernel": (7, 64, 1, 64),
            "dense/kernel": (1506, EMBEDDING_DIM),
            "batch_normalization_10/gamma": (EMBEDDING_DIM,),
        }
        for name, shape in expected.items():
            got = weights.get(name)
            if got is None or tuple(got.shape) != shape:
                found = None if got is None else tuple(got.shape)
                raise ValueError(
                    f"not MSD_musicnn weights: {name} should have shape {shape}, found {found}"
                )
        bad = [name for name, value in weights.items() if not np.all(np.isfinite(value))]
        if bad:
            raise ValueError(
                f"MSD_musicnn weights hold non-finite values in {', '.join(sorted(bad))}"
            )

    def _folded(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        prefix = "batch_normalization" + (f"_{index}" if index else "")
        w = self.w
        scale = w[f"{prefix}/gamma"] / np.sqrt(w[f"{prefix}/moving_variance"] + BN_EPSILON)
        shift = w[f"{prefix}/beta"] - w[f"{prefix}/moving_mean"] * scale
        return scale.astype(self.dtype), shift.astype(self.dtype)

    def penultimate(self, patches: np.ndarray) -> np.ndarray:
        return self.layers(patches)["penultimate"]

    def layers(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """Both outputs of one pass: ``penultimate`` (patches, 200) and ``midend`` (patches, 753), the
        mid-end's channels averaged over the patch's frames (musicnn's 'mean_pool')."""
        patches = np.asarray(patches, dtype=self.dtype)
        out = {
            "penultimate": np.empty((len(patches), EMBEDDING_DIM), dtype=np.float32),
            "midend": np.empty((len(patches), MIDEND_DIM), dtype=np.float32),
        }
        for start in range(0, len(patches), PATCHES_PER_CHUNK):
            dense, midend = self._forward(patches[start : start + PATCHES_PER_CHUNK])
            out["penultimate"][start : start + PATCHES_PER_CHUNK] = dense
            out["midend"][start : start + PATCHES_PER_CHUNK] = midend
        return out

    def _pooled_over_mel(self, conv: np.ndarray, bias, bn_index: int) -> np.ndarray:
        """max over the mel axis of BN(relu(conv + bias)): BN is monotonic per filter (increasing where
        gamma > 0), so max (or min, where gamma < 0) of the raw convolution is taken first, which is exact
        and touches the big array once."""
        scale, shift = self.bn[bn_index]
        high = conv.max(axis=-2)
        low = conv.min(axis=-2)
        chosen = np.where(scale >= 0, high, low) + bias
        return np.maximum(chosen, 0.0) * scale + shift

    def _forward(self, x: np.ndarray) -> np.ndarray:
        sliding = np.lib.stride_tricks.sliding_window_view
        batch, frames, mels = x.shape
        scale0, shift0 = self.bn[0]
        x = x * scale0 + shift0  # input batch norm (one channel)
        padded = np.pad(x, ((0, 0), (3, 3), (0, 0)))  # zero 'same' padding in time, after the norm
        front = []
        for width, kernel, bias, bn_index in self.timbral:
            windows = sliding(padded, (7, width), axis=(1, 2))  # (b, t, mel positions, 7, width)
            conv = windows.reshape(-1, 7 * width) @ kernel
            conv = conv.reshape(batch, frames, mels - width + 1, -1)
            front.append(self._pooled_over_mel(conv, bias, bn_index))
        along_time = np.ascontiguousarray(x.transpose(0, 2, 1))  # (b, mel, t)
        for length, kernel, bias, bn_index in self.temporal:
            before = (length - 1) // 2  # TensorFlow's 'same': the extra zero goes after
            series = np.pad(along_time, ((0, 0), (0, 0), (before, length - 1 - before)))
            windows = sliding(series, length, axis=2)  # (b, mel, t, length)
            conv = (windows.reshape(-1, length) @ kernel).reshape(batch, mels, frames, -1)
            front.append(self._pooled_over_mel(conv.transpose(0, 2, 1, 3), bias, bn_index))
        features = np.concatenate(front, axis=2)  # (b, t, 561)
        layers = [features]
        current = features
        for i, (kernel, bias, bn_index) in enumerate(self.midend):
            padded = np.pad(current, ((0, 0), (3, 3), (0, 0)))
            windows = sliding(padded, 7, axis=1)  # (b, t, channels, 7)
            windows = windows.transpose(0, 1, 3, 2).reshape(batch * frames, -1)
            conv = (windows @ kernel).reshape(batch, frames, -1) + bias
            scale, shift = self.bn[bn_index]
            normed = np.maximum(conv, 0.0) * scale + shift
            current = normed if i == 0 else normed + current  # residual from the second on
            layers.append(current)
        stacked = np.concatenate(layers, axis=2)  # (b, t, 753)
        # musicnn concatenates [max, mean] on a trailing axis and flattens: per channel max then mean.
        pooled = np.stack([stacked.max(axis=1), stacked.mean(axis=1)], axis=2).reshape(batch, -1)
        scale, shift = self.bn[9]
        dense = np.maximum(
            (pooled * scale + shift) @ self.w["dense/kernel"] + self.w["dense/bias"], 0.0
        )
        scale, shift = self.bn[10]
        return dense * scale + shift, stacked.mean(axis=1)
