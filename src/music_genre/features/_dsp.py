"""Frame-level building blocks, each one pass over data the extractor already holds.

Layout: every spectrogram is (frames, bins), C-contiguous, as ``rfft`` over frames returns it, so
per-frame reductions run over contiguous memory and nothing is transposed. Filter banks are built once
per settings (``_kernel_cache.cached``: an lru_cache, results read-only) with librosa's own constructors, so the
numbers are librosa's.
Reference semantics are FMA's ``features.py`` (librosa 0.5) where they differ from today's librosa
(``rmse``); elsewhere today's librosa (zero-padded centred frames).
"""

from __future__ import annotations

import numpy as np

from ._kernel_cache import cached

_TINY32 = np.finfo(np.float32).tiny


# ----------------------------------------------------------------------------------------------- STFT
def symmetric_hann(points: int) -> np.ndarray:
    """scipy.signal.get_window("hann", points, fftbins=False) in float64, computed term by term as scipy's
    general_cosine does (same bits), without importing scipy.signal (about a second of a cold start)."""
    fac = np.linspace(-np.pi, np.pi, points)
    window = np.zeros(points)
    for k, a in enumerate((0.5, 0.5)):
        window += a * np.cos(k * fac)
    return window


def periodic_hann(n: int) -> np.ndarray:
    """scipy.signal.get_window("hann", n, fftbins=True): the symmetric window of n + 1, truncated."""
    return symmetric_hann(n + 1)[:n]


@cached(maxsize=16)
def hann_window(n_fft: int) -> np.ndarray:
    return periodic_hann(n_fft).astype(np.float32)


def stft(signal: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """Hann STFT, centred zero-padded frames (librosa.stft's defaults) as (frames, n_fft // 2 + 1) complex64."""
    import scipy.fft

    from ._cqt import centred_frames

    n_frames = 1 + len(signal) // hop_length
    frames = centred_frames(signal, n_frames, n_fft, hop_length) * hann_window(n_fft)
    return scipy.fft.rfft(frames, axis=1, overwrite_x=True, workers=1)


def fft_frequencies(sample_rate: float, n_fft: int) -> np.ndarray:
    return np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)


# --------------------------------------------------------------------------------------- normalising
def normalize_rows(x: np.ndarray, norm: float) -> np.ndarray:
    """librosa.util.normalize along each frame: rows whose norm is below float32's tiny stay as they are
    (so silent frames stay zero instead of becoming NaN)."""
    magnitude = np.abs(x)
    if norm == np.inf:
        length = magnitude.max(axis=1, keepdims=True)
    elif norm == 1:
        length = magnitude.sum(axis=1, keepdims=True)
    elif norm == 2:
        length = np.sqrt((magnitude * magnitude).sum(axis=1, keepdims=True))
    else:  # pragma: no cover - only the three norms above are used
        raise ValueError(f"unsupported norm {norm}")
    length = np.where(length < _TINY32, 1.0, length)
    return (x / length).astype(x.dtype, copy=False)


def power_to_db(power: np.ndarray, top_db: float = 80.0, amin: float = 1e-10) -> np.ndarray:
    """librosa.power_to_db(ref=1.0): 10 log10, floored at ``amin`` and at (max over the array - top_db)."""
    db = 10.0 * np.log10(np.maximum(power, amin))
    return np.maximum(db, db.max() - top_db)


# ------------------------------------------------------------------------------------------- mel/MFCC
@cached(maxsize=16, persistent=True)
def mel_blocks(sample_rate: float, n_fft: int, n_mels: int, per_block: int = 16):
    """librosa's Slaney mel filter bank (fmax = Nyquist), cut into dense blocks over the bins each group
    of filters touches: ~1/4 of the dense product's cost for the same numbers."""
    import librosa

    bank = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, dtype=np.float32)
    return _dense_blocks(bank, per_block)


def apply_blocks(blocks, spectrum: np.ndarray, n_out: int) -> np.ndarray:
    out = np.empty((spectrum.shape[0], n_out), dtype=np.result_type(spectrum.dtype, np.float32))
    for first, lo, hi, kernel in blocks:
        out[:, first : first + kernel.shape[1]] = spectrum[:, lo:hi] @ kernel
    return out


def _dense_blocks(bank: np.ndarray, per_block: int):
    blocks = []
    for start in range(0, bank.shape[0], per_block):
        rows = bank[start : start + per_block]
        support = np.flatnonzero(np.any(rows != 0, axis=0))
        if len(support) == 0:  # filters with no bins (very low rates): an all-zero block of width 1
            support = np.array([0])
        lo, hi = int(support[0]), int(support[-1]) + 1
        blocks.append((start, lo, hi, np.ascontiguousarray(rows[:, lo:hi].T)))
    return tuple(blocks)


@cached(maxsize=16)
def dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II as an (n_mels, n_mfcc) matrix: ``log_mel @ D`` == scipy's dct(type=2, 'ortho')."""
    import scipy.fft

    return np.ascontiguousarray(
        scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc].T
    )


# --------------------------------------------------------------------------------------------- chroma
@cached(maxsize=128, persistent=True)
def chroma_filters(sample_rate: float, n_fft: int, n_chroma: int, tuning: float) -> np.ndarray:
    """librosa.filters.chroma as (bins, n_chroma) float32, for ``power @ filters``."""
    import librosa

    bank = librosa.filters.chroma(sr=sample_rate, n_fft=n_fft, n_chroma=n_chroma, tuning=tuning)
    return np.ascontiguousarray(bank.T, dtype=np.float32)


@cached(maxsize=16, persistent=True)
def cq_to_chroma(n_bins: int, bins_per_octave: int, n_chroma: int) -> np.ndarray:
    """librosa.filters.cq_to_chroma (fmin C1) as (n_bins, n_chroma) float32."""
    import librosa

    fold = librosa.filters.cq_to_chroma(n_bins, bins_per_octave=bins_per_octave, n_chroma=n_chroma)
    return np.ascontiguousarray(fold.T, dtype=np.float32)


@cached(maxsize=16)
def cens_window(length: int = 41) -> np.ndarray:
    """librosa's CENS smoothing window: a symmetric Hann of ``length + 2`` points, normalised to sum 1."""
    window = symmetric_hann(length + 2)
    return window / window.sum()


def chroma_cens(raw_chroma: np.ndarray) -> np.ndarray:
    """librosa.feature.chroma_cens from unnormalised chroma (frames, n_chroma): L1, quantise, smooth over
    41 frames, L2."""
    import scipy.ndimage

    chroma = normalize_rows(raw_chroma, 1)
    quantised = np.zeros_like(chroma)
    for step in (0.4, 0.2, 0.1, 0.05):
        quantised += (chroma > step) * np.float32(0.25)
    smoothed = scipy.ndimage.convolve1d(quantised, cens_window(), axis=0, mode="constant")
    return normalize_rows(smoothed, 2)


@cached(maxsize=16)
def tonnetz_matrix(n_chroma: int) -> np.ndarray:
    """librosa.feature.tonnetz's projection (fifths, minor and major thirds) as (n_chroma, 6)."""
    dim_map = np.linspace(0, 12, num=n_chroma, endpoint=False)
    scale = np.asarray([7.0 / 6, 7.0 / 6, 3.0 / 2, 3.0 / 2, 2.0 / 3, 2.0 / 3])
    angles = np.multiply.outer(scale, dim_map)
    angles[::2] -= 0.5
    radius = np.array([1, 1, 1, 1, 0.5, 0.5])
    return np.ascontiguousarray((radius[:, None] * np.cos(np.pi * angles)).T)


# ------------------------------------------------------------------------------------ spectral shape
@cached(maxsize=16)
def frequency_moments_basis(sample_rate: float, n_fft: int) -> np.ndarray:
    freqs = fft_frequencies(sample_rate, n_fft)
    return np.ascontiguousarray(np.stack([np.ones_like(freqs), freqs, freqs * freqs], axis=1))


def centroid_and_bandwidth(magnitude: np.ndarray, sample_rate: float, n_fft: int):
    """librosa's spectral_centroid and spectral_bandwidth (p=2) from one product with [1, f, f^2]:
    bandwidth^2 = E[f^2] - E[f]^2 under the frame's magnitude-weighted distribution, in float64 so the
    difference keeps its digits. Silent frames give 0 for both, like librosa."""
    moments = magnitude.astype(np.float64) @ frequency_moments_basis(sample_rate, n_fft)
    total = moments[:, 0]
    silent = total < _TINY32
    total = np.where(silent, 1.0, total)
    centroid = moments[:, 1] / total
    spread = moments[:, 2] / total - centroid * centroid
    bandwidth = np.sqrt(np.maximum(spread, 0.0))
    centroid[silent] = 0.0
    bandwidth[silent] = 0.0
    return centroid, bandwidth


def spectral_rolloff(
    magnitude: np.ndarray, sample_rate: float, n_fft: int, percent: float, block: int = 32
):
    """librosa.feature.spectral_rolloff: the lowest frequency below which ``percent`` of the frame's
    magnitude lies. A full cumulative sum over every bin costs ~5 ms; instead sum blocks of 32 bins, find the
    block that crosses the threshold, and run the cumulative sum inside that block only."""
    n_frames, n_bins = magnitude.shape
    n_blocks = -(-n_bins // block)
    padded_width = n_blocks * block
    if padded_width == n_bins:
        blocks = magnitude.reshape(n_frames, n_blocks, block)
        tail = None
    else:
        full = (n_bins // block) * block
        blocks = magnitude[:, :full].reshape(n_frames, n_blocks - 1, block)
        tail = np.zeros((n_frames, 1, block), dtype=magnitude.dtype)
        tail[:, 0, : n_bins - full] = magnitude[:, full:]
    block_sums = blocks.sum(axis=2, dtype=np.float64)
    if tail is not None:
        block_sums = np.concatenate([block_sums, tail.sum(axis=2, dtype=np.float64)], axis=1)
    cumulative = np.cumsum(block_sums, axis=1)
    threshold = percent * cumulative[:, -1]
    crossing = np.argmax(cumulative >= threshold[:, None], axis=1)
    rows = np.arange(n_frames)
    inside = np.empty((n_frames, block), dtype=np.float64)
    in_main = crossing < blocks.shape[1]
    inside[in_main] = blocks[rows[in_main], crossing[in_main]]
    if tail is not None:
        inside[~in_main] = tail[rows[~in_main], 0]
    before = np.where(crossing > 0, cumulative[rows, np.maximum(crossing - 1, 0)], 0.0)
    running = np.cumsum(inside, axis=1) + before[:, None]
    reached = running >= threshold[:, None]
    offset = np.where(reached.any(axis=1), np.argmax(reached, axis=1), block - 1)  # rounding guard
    index = np.minimum(crossing * block + offset, n_bins - 1)
    return fft_frequencies(sample_rate, n_fft)[index]


@cached(maxsize=16)
def contrast_bands(
    sample_rate: float, n_fft: int, n_bands: int, fmin: float, quantile: float = 0.02
):
    """librosa.feature.spectral_contrast's band edges, as (lo, hi, count) per band over STFT bins."""
    freqs = fft_frequencies(sample_rate, n_fft)
    edges = np.zeros(n_bands + 2)
    edges[1:] = fmin * (2.0 ** np.arange(0, n_bands + 1))
    if np.any(edges[:-1] >= 0.5 * sample_rate):
        raise ValueError(
            f"spectral contrast: {n_bands} octave bands from {fmin:g} Hz exceed the Nyquist frequency of "
            f"{sample_rate:g} Hz audio: lower contrast_bands or contrast_fmin"
        )
    bands = []
    for k, (f_low, f_high) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        current = (freqs >= f_low) & (freqs <= f_high)
        idx = np.flatnonzero(current)
        if k > 0:
            current[idx[0] - 1] = True
        if k == n_bands:
            current[idx[-1] + 1 :] = True
        count = max(int(np.rint(quantile * current.sum())), 1)
        selected = np.flatnonzero(current)
        lo, hi = int(selected[0]), int(selected[-1]) + 1
        if k < n_bands:
            hi -= 1  # librosa drops each band's top bin except in the last band
        bands.append((lo, hi, count))
    return tuple(bands)


def spectral_contrast(magnitude: np.ndarray, bands) -> np.ndarray:
    """librosa.feature.spectral_contrast (dB peak minus dB valley per octave band) as (frames, bands).
    Bands whose quantile is one bin use min/max; the others one sort per band (np.partition twice, or a
    running argmax, measured no faster on these band widths)."""
    n_frames = magnitude.shape[0]
    peak = np.empty((n_frames, len(bands)))
    valley = np.empty((n_frames, len(bands)))
    for k, (lo, hi, count) in enumerate(bands):
        band = magnitude[:, lo:hi]
        if count == 1:
            valley[:, k] = band.min(axis=1)
            peak[:, k] = band.max(axis=1)
        else:
            ordered = np.sort(band, axis=1)
            valley[:, k] = ordered[:, :count].mean(axis=1)
            peak[:, k] = ordered[:, -count:].mean(axis=1)
    return power_to_db(peak) - power_to_db(valley)


# ----------------------------------------------------------------------------------------- time domain
def zero_crossing_rate(
    signal: np.ndarray, frame_length: int, hop_length: int, n_frames: int
) -> np.ndarray:
    """librosa.feature.zero_crossing_rate (centred, edge-padded frames, |x| <= 1e-10 counts as 0, zero is
    positive) from one cumulative sum of sign changes instead of framing the signal."""
    negative = signal < -1e-10
    changes = negative[1:] != negative[:-1]  # changes[i]: a crossing between samples i and i + 1
    cumulative = np.zeros(len(changes) + 1, dtype=np.int64)
    np.cumsum(changes, out=cumulative[1:])
    half = frame_length // 2
    starts = np.arange(n_frames) * hop_length - half  # first crossing index a frame can count
    first = np.clip(starts, 0, len(changes))
    last = np.clip(starts + frame_length - 1, 0, len(changes))  # exclusive end
    return (cumulative[last] - cumulative[first]) / frame_length


# ---------------------------------------------------------------------------------------------- tempo
def onset_strength(log_mel: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """librosa.onset.onset_strength from a (frames, n_mels) dB mel spectrogram: mean positive first
    difference, shifted by 1 + n_fft // (2 hop) frames to line up with centred frames."""
    n_frames = log_mel.shape[0]
    flux = np.maximum(0.0, log_mel[1:] - log_mel[:-1]).mean(axis=1)
    shift = 1 + n_fft // (2 * hop_length)
    envelope = np.zeros(n_frames, dtype=np.float64)
    envelope[shift:] = flux[: max(n_frames - shift, 0)]
    return envelope


def tempo(
    envelope: np.ndarray,
    sample_rate: float,
    hop_length: int,
    window_seconds: float = 8.0,
    start_bpm: float = 120.0,
    std_bpm: float = 1.0,
    max_tempo: float = 320.0,
) -> float:
    """librosa.feature.tempo (mean of the local-autocorrelation tempogram, log-normal prior around 120 BPM)
    with its 8 s window, from the onset envelope we already have. The local autocorrelations run as one
    float32 batch FFT (float64 costs 2-3x here); on the 41 real clips in ../shared the estimate equals
    librosa's."""
    import scipy.fft

    win_length = int(window_seconds * sample_rate) // hop_length  # librosa.time_to_frames
    n = len(envelope)
    half = win_length // 2
    padded = np.pad(envelope, (half, half), mode="linear_ramp", end_values=(0, 0))
    frames = np.lib.stride_tricks.sliding_window_view(padded, win_length)[:n]
    weighted = (frames * periodic_hann(win_length)).astype(np.float32)
    n_fft = scipy.fft.next_fast_len(
        2 * win_length - 1, real=True
    )  # linear, not circular, correlation
    spectrum = scipy.fft.rfft(weighted, n=n_fft, axis=1, workers=1)
    power = spectrum.real * spectrum.real + spectrum.imag * spectrum.imag
    autocorrelation = scipy.fft.irfft(power, n=n_fft, axis=1, workers=1)[:, :win_length]
    tempogram = normalize_rows(autocorrelation, np.inf).mean(axis=0, dtype=np.float64)
    bpms = np.full(win_length, np.inf)
    bpms[1:] = 60.0 * sample_rate / (hop_length * np.arange(1, win_length))
    with np.errstate(divide="ignore"):
        log_prior = -0.5 * ((np.log2(bpms) - np.log2(start_bpm)) / std_bpm) ** 2
    log_prior[: int(np.argmax(bpms < max_tempo))] = -np.inf
    return float(bpms[int(np.argmax(np.log1p(1e6 * tempogram) + log_prior))])
