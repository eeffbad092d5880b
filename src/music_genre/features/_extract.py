"""The extractor itself: one decode, one STFT, every family from it, one pass of statistics.

Imported lazily by ``music_genre.features`` (numpy, scipy, soxr, pandas load on the first extraction).
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

import numpy as np

from music_genre.data import audio

from . import _dsp
from ._cqt import constant_q_magnitude, constant_q_plan
from .settings import (
    CQT_FAMILIES,
    PENULTIMATE,
    STATISTICS,
    TEMPO,
    FeatureSettings,
    feature_names,
    resolve_settings,
)

if TYPE_CHECKING:
    import pandas as pd

C1_HZ = 440.0 * 2.0 ** ((24 - 69) / 12)  # librosa.note_to_hz("C1"): the CQT's lowest bin, as in FMA
_SPECTRAL_SHAPE = frozenset(
    {"spectral_bandwidth", "spectral_centroid", "spectral_contrast", "spectral_rolloff"}
)


def extract_file(
    path: str | os.PathLike, settings: FeatureSettings | dict | None = None, **overrides
) -> pd.Series:
    """Decode ``path`` once (music_genre.data.audio.load: mono, the offset/duration window) and extract its
    features. The Series is named after the path; undecodable audio raises
    :class:`music_genre.data.audio.AudioError` with the decoder's reason code."""
    result = extract_files([path], resolve_settings(settings, **overrides))[0]
    if isinstance(result, Exception):
        raise result
    return result


def extract_files(
    paths: list[str | os.PathLike], settings: FeatureSettings | dict | None = None
) -> list[pd.Series | audio.AudioError]:
    """Features of several files, one decode each; an embedding runs once for the patches of all of them
    (one pass of the network for the batch). Per file: its Series, or the AudioError that stopped it.
    Missing or wrong embedding weights raise (they are not a file's fault)."""
    settings = resolve_settings(settings)
    decoded: list[tuple[np.ndarray, int] | audio.AudioError] = []
    for path in paths:
        try:
            decoded.append(_decode(path, settings))
        except audio.AudioError as err:
            decoded.append(err)
    ok = [i for i, item in enumerate(decoded) if not isinstance(item, Exception)]
    rows = extract_signals([decoded[i] for i in ok], settings)
    for i, row in zip(ok, rows, strict=True):
        if not isinstance(row, Exception):
            row.name = str(paths[i])
        decoded[i] = row
    return decoded


def extract_signal(
    signal: np.ndarray, sample_rate: int, settings: FeatureSettings | dict | None = None
) -> pd.Series:
    """Features of a mono signal (e.g. a window of a long song) as a float64 Series indexed by
    :func:`feature_names`. ``offset``/``duration`` are not applied here (they are decode-time settings);
    a signal at another rate than ``settings.sample_rate`` is resampled as audio.load would (soxr HQ)."""
    result = extract_signals([(signal, sample_rate)], resolve_settings(settings))[0]
    if isinstance(result, Exception):
        raise result
    return result


def extract_signals(
    signals: list[tuple[np.ndarray, int]], settings: FeatureSettings
) -> list[pd.Series | audio.AudioError]:
    import pandas as pd

    parts: list[list[np.ndarray] | audio.AudioError] = []
    checked: list[tuple[np.ndarray, int] | None] = []
    for signal, rate in signals:
        try:
            signal, rate = _checked(signal, rate)
            checked.append((signal, rate))
            parts.append(
                [handcrafted_values(signal, rate, settings)] if settings.uses_handcrafted else []
            )
        except audio.AudioError as err:
            checked.append(None)
            parts.append(err)
    if settings.uses_embedding:
        pending = [i for i, item in enumerate(parts) if not isinstance(item, Exception)]
        vectors = embedding_values([checked[i] for i in pending], settings)
        for i, vector in zip(pending, vectors, strict=True):
            if isinstance(vector, Exception):
                parts[i] = vector
            else:
                parts[i].append(vector)
    index = pd.Index(_names(settings))
    return [
        item
        if isinstance(item, Exception)
        else pd.Series(np.concatenate(item), index=index, dtype=np.float64)
        for item in parts
    ]


def handcrafted_values(
    signal: np.ndarray, sample_rate: int, settings: FeatureSettings
) -> np.ndarray:
    """FMA's statistics (and tempo) of a signal that :func:`_checked` passed."""
    signal, sample_rate = _prepared(signal, sample_rate, settings)
    frames, tempo_bpm = frame_features(signal, sample_rate, settings)
    values = summarize(frames, settings)
    if TEMPO in settings.families:
        values = np.append(values, tempo_bpm)
    return values


def embedding_values(
    signals: list[tuple[np.ndarray, int]], settings: FeatureSettings
) -> list[np.ndarray | audio.AudioError]:
    """Per signal, the embedding statistics over its patches (mean, std as configured), or why not: a
    signal shorter than one patch is ``too_short``, a non-finite embedding is ``not_finite``."""
    from music_genre.features.embeddings import load_backend

    backend = load_backend(settings.embedding, settings.embedding_weights)
    resampled = [_resampled(signal, rate, backend.sample_rate) for signal, rate in signals]
    if settings.embedding_layers == (PENULTIMATE,):
        per_signal = [{PENULTIMATE: vectors} for vectors in backend.embed(resampled)]
    else:  # every layer from one pass (a backend offering more than its embedding has embed_layers)
        per_signal = backend.embed_layers(resampled)
    out: list[np.ndarray | audio.AudioError] = []
    for signal, layers in zip(resampled, per_signal, strict=True):
        if len(layers[PENULTIMATE]) == 0:
            out.append(
                audio.AudioError(
                    audio.TOO_SHORT,
                    f"too short for the {settings.embedding} embedding: "
                    f"{len(signal) / backend.sample_rate:.2f} s is under one "
                    f"{backend.min_seconds:.2f} s patch",
                )
            )
            continue
        values = np.concatenate(
            [
                layers[layer].mean(axis=0) if name == "mean" else layers[layer].std(axis=0)
                for layer in settings.embedding_layers
                for name in settings.embedding_stats
            ]
        )
        if not np.all(np.isfinite(values)):
            out.append(
                audio.AudioError(
                    audio.NOT_FINITE,
                    f"the {settings.embedding} embedding of this clip is not finite (NaN or inf)",
                )
            )
            continue
        out.append(values.astype(np.float64))
    return out


def _decode(path: str | os.PathLike, settings: FeatureSettings) -> tuple[np.ndarray, int]:
    """One decode per file. With an embedding beside the handcrafted features the file is decoded at its
    native rate and each part resamples from that (the same soxr call audio.load makes, so the handcrafted
    values are those of a handcrafted-only run)."""
    rate = settings.sample_rate
    if settings.uses_embedding:
        rate = None if settings.uses_handcrafted else _embedding_rate(settings)
    return audio.load_with_rate(path, rate, settings.offset, settings.duration)


def _embedding_rate(settings: FeatureSettings) -> int:
    from music_genre.features.embeddings import load_backend

    return load_backend(settings.embedding, settings.embedding_weights).sample_rate


def _resampled(signal: np.ndarray, rate: int, target: int) -> np.ndarray:
    signal = np.ascontiguousarray(signal, dtype=np.float32)
    if rate == target:
        return signal
    import soxr

    return soxr.resample(signal, rate, target, quality="HQ").astype(np.float32)


def _checked(signal: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """The signal as contiguous float32 and its rate as an int, once for every feature set: a 2-D signal
    or a rate that is no positive integer is a caller's bug (ValueError), non-finite samples a bad file."""
    signal = np.asarray(signal)
    if signal.ndim != 1:
        raise ValueError(f"expected a mono 1-D signal, got shape {signal.shape}")
    if isinstance(sample_rate, bool) or not float(sample_rate).is_integer() or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    signal = np.ascontiguousarray(signal, dtype=np.float32)
    if not np.all(np.isfinite(signal)):
        raise audio.AudioError(
            audio.DECODE_ERROR, "the signal holds samples that are not finite numbers"
        )
    return signal, int(sample_rate)


def frame_features(signal: np.ndarray, sample_rate: int, settings: FeatureSettings):
    """Per-frame values of every selected family as {family: (frames, coefficients) array}, plus the tempo
    (BPM, None when not selected). Everything spectral comes from one STFT; the CQT is computed once for
    chroma_cqt, chroma_cens and tonnetz."""
    wanted = set(settings.families)
    n_fft, hop = settings.n_fft, settings.hop_length
    spectrum = _dsp.stft(signal, n_fft, hop)
    power = spectrum.real * spectrum.real + spectrum.imag * spectrum.imag
    magnitude = None
    if wanted & _SPECTRAL_SHAPE or (
        settings.tuning is None and wanted & (CQT_FAMILIES | {"chroma_stft"})
    ):
        magnitude = np.sqrt(power)
    tuning = _tuning(magnitude, sample_rate, settings, wanted)
    out: dict[str, np.ndarray] = {}
    tempo_bpm = None

    if "chroma_stft" in wanted:
        chroma_tuning = tuning * settings.n_chroma / settings.cqt_bins_per_octave
        filters = _dsp.chroma_filters(float(sample_rate), n_fft, settings.n_chroma, chroma_tuning)
        out["chroma_stft"] = _dsp.normalize_rows(power @ filters, np.inf)
    if "rmse" in wanted:
        # FMA's rmse: librosa 0.5 rmse(S=|STFT|) = sqrt(mean over bins of |X|^2) (today's librosa.feature.rms
        # rescales it to the time-domain RMS): kept so values stay on features.csv's scale.
        out["rmse"] = np.sqrt(power.mean(axis=1, dtype=np.float64))[:, None]
    if wanted & {"spectral_centroid", "spectral_bandwidth"}:
        centroid, bandwidth = _dsp.centroid_and_bandwidth(magnitude, sample_rate, n_fft)
        out["spectral_centroid"] = centroid[:, None]
        out["spectral_bandwidth"] = bandwidth[:, None]
    if "spectral_rolloff" in wanted:
        rolloff = _dsp.spectral_rolloff(magnitude, sample_rate, n_fft, settings.rolloff_percent)
        out["spectral_rolloff"] = rolloff[:, None]
    if "spectral_contrast" in wanted:
        bands = _dsp.contrast_bands(
            float(sample_rate), n_fft, settings.contrast_bands, settings.contrast_fmin
        )
        out["spectral_contrast"] = _dsp.spectral_contrast(magnitude, bands)
    if "zcr" in wanted:
        out["zcr"] = _dsp.zero_crossing_rate(signal, n_fft, hop, spectrum.shape[0])[:, None]
    if wanted & {"mfcc", TEMPO}:
        mel = _dsp.apply_blocks(
            _dsp.mel_blocks(float(sample_rate), n_fft, settings.n_mels), power, settings.n_mels
        )
        log_mel = _dsp.power_to_db(mel)
        if "mfcc" in wanted:
            out["mfcc"] = log_mel @ _dsp.dct_matrix(settings.n_mels, settings.n_mfcc)
        if TEMPO in wanted:
            envelope = _dsp.onset_strength(log_mel, n_fft, hop)
            tempo_bpm = _dsp.tempo(envelope, sample_rate, hop)
    if wanted & CQT_FAMILIES:
        plan = constant_q_plan(
            float(sample_rate),
            n_fft,
            hop,
            settings.cqt_bins,
            settings.cqt_bins_per_octave,
            tuning,
            C1_HZ,
        )
        cqt = constant_q_magnitude(signal, spectrum, plan)
        fold = _dsp.cq_to_chroma(settings.cqt_bins, settings.cqt_bins_per_octave, settings.n_chroma)
        raw_chroma = cqt @ fold
        if "chroma_cqt" in wanted:
            out["chroma_cqt"] = _dsp.normalize_rows(raw_chroma, np.inf)
        if wanted & {"chroma_cens", "tonnetz"}:
            cens = _dsp.chroma_cens(raw_chroma)
            out["chroma_cens"] = cens
            if "tonnetz" in wanted:  # FMA: tonnetz of the CENS chroma
                out["tonnetz"] = _dsp.normalize_rows(cens, 1) @ _dsp.tonnetz_matrix(
                    settings.n_chroma
                )
    return {family: out[family] for family in settings.family_sizes()}, tempo_bpm


def summarize(frames: dict[str, np.ndarray], settings: FeatureSettings) -> np.ndarray:
    """The 7 statistics of every row of every family, in :func:`feature_names` order, from one pass over all
    families stacked as (rows, frames) float64."""
    if not frames:  # only tempo selected
        return np.empty(0)
    stacked = np.ascontiguousarray(
        np.concatenate(list(frames.values()), axis=1, dtype=np.float64).T
    )
    statistics = moment_statistics(stacked)
    stat_index, row_index = _summary_index(settings)
    return statistics[stat_index, row_index]


def moment_statistics(values: np.ndarray) -> np.ndarray:
    """(7, rows) = kurtosis, max, mean, median, min, skew, std of each row of ``values`` (rows, frames).

    Like FMA (numpy + scipy.stats): std with ddof 0, skew and kurtosis biased, kurtosis in Fisher's
    (excess) form. A row with no spread (scipy's test: m2 <= (eps * mean)^2), e.g. a silent clip, gets skew 0
    and kurtosis -3, what the scipy FMA used returned, where today's scipy returns NaN.
    """
    mean = values.mean(axis=1)
    centred = values - mean[:, None]
    squared = centred * centred
    m2 = squared.mean(axis=1)
    m3 = (squared * centred).mean(axis=1)
    m4 = (squared * squared).mean(axis=1)
    flat = m2 <= (np.finfo(np.float64).resolution * mean) ** 2
    safe_m2 = np.where(flat, 1.0, m2)
    skew = np.where(flat, 0.0, m3 / safe_m2**1.5)
    kurtosis = np.where(flat, -3.0, m4 / (safe_m2 * safe_m2) - 3.0)
    return np.stack(
        [
            kurtosis,
            values.max(axis=1),
            mean,
            np.median(values, axis=1),
            values.min(axis=1),
            skew,
            np.sqrt(m2),
        ]
    )


@functools.lru_cache(maxsize=64)
def _summary_index(settings: FeatureSettings):
    stat_index, row_index, first_row = [], [], 0
    for size in settings.family_sizes().values():
        for stat in range(len(STATISTICS)):
            stat_index.extend([stat] * size)
            row_index.extend(range(first_row, first_row + size))
        first_row += size
    return np.array(stat_index), np.array(row_index)


@functools.lru_cache(maxsize=64)
def _names(settings: FeatureSettings) -> tuple[str, ...]:
    return tuple(feature_names(settings))


def _prepared(signal: np.ndarray, sample_rate: int, settings: FeatureSettings):
    """A checked signal at ``settings.sample_rate`` (resampled as audio.load would), long enough for one
    analysis frame."""
    if settings.sample_rate is not None and sample_rate != settings.sample_rate:
        signal = _resampled(signal, sample_rate, settings.sample_rate)
        sample_rate = settings.sample_rate
    if len(signal) < settings.n_fft:
        raise audio.AudioError(
            audio.TOO_SHORT,
            f"too short: {len(signal)} samples ({len(signal) / sample_rate:.3f} s) is under one "
            f"{settings.n_fft}-sample analysis frame",
        )
    return signal, sample_rate


def _tuning(magnitude, sample_rate: int, settings: FeatureSettings, wanted: set[str]) -> float:
    """The fixed tuning, or (None) librosa.estimate_tuning from the STFT magnitude we already have, as
    FMA's librosa.cqt(tuning=None) did from its own STFT of the same frames."""
    if settings.tuning is not None or not wanted & (CQT_FAMILIES | {"chroma_stft"}):
        return settings.tuning or 0.0
    import librosa

    estimate = librosa.estimate_tuning(
        S=magnitude.T,
        sr=sample_rate,
        n_fft=settings.n_fft,
        bins_per_octave=settings.cqt_bins_per_octave,
    )
    return float(np.round(estimate, 4))
