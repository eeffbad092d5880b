"""Audio features for genre classification: FMA's 518 ``features.csv`` columns plus tempo, from one decode.

Plain library code (no Kedro, no Ray). Public API::

    FeatureSettings(...) / FeatureSettings.from_dict(params)   what to compute (frozen, hashable, .digest())
    feature_names(settings=None, **overrides) -> list[str]     the columns, in FMA's order, tempo last
    extract_file(path, settings=None, **overrides) -> Series   decode once + extract; .name = str(path)
    extract_files(paths, settings) -> [Series | AudioError]    a batch: the embedding runs once for all
    extract_signal(signal, sample_rate, settings) -> Series    for windows of long songs at prediction time
    warm_up(settings=None, sample_rate=None)                   pay the one-time costs up front (workers)

Columns are ``{feature}_{statistic}_{number:02d}`` (e.g. ``mfcc_mean_01``) for FMA's 11 families x 7
statistics, then ``tempo`` (BPM). How (see ``_extract``, ``_dsp``, ``_cqt``): one Hann STFT (n_fft 2048, hop
512) feeds every spectral family, mfcc and the tempo's onset envelope; one constant-Q transform, built from
that same STFT plus a small decimated STFT for the low octaves, feeds chroma_cqt, chroma_cens and tonnetz;
the statistics are one vectorised pass over all families stacked. Semantics follow FMA's ``features.py``.

``settings.feature_set`` picks the columns: ``handcrafted`` (the above), ``embedding`` (a pretrained
network's, see :mod:`music_genre.features.embeddings`) or ``handcrafted+embedding``, all from the same decode.

Importing this package is cheap (pure Python): numpy, scipy and pandas load on the first extraction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import (
    ALGORITHM_VERSION,
    AUTO,
    FAMILIES,
    FEATURE_SETS,
    FMA_FAMILIES,
    STATISTICS,
    TEMPO,
    FeatureSettings,
    feature_names,
    resolve_settings,
)

if TYPE_CHECKING:
    import os

    import numpy as np
    import pandas as pd

__all__ = [
    "ALGORITHM_VERSION",
    "AUTO",
    "FEATURE_SETS",
    "FAMILIES",
    "FMA_FAMILIES",
    "STATISTICS",
    "TEMPO",
    "FeatureSettings",
    "extract_file",
    "extract_files",
    "extract_signal",
    "feature_names",
    "resolve_settings",
    "warm_up",
]


def extract_file(
    path: str | os.PathLike, settings: FeatureSettings | dict | None = None, **overrides: Any
) -> pd.Series:
    """Decode ``path`` once with ``music_genre.data.audio.load`` (mono, ``sample_rate``, ``offset``/``duration``
    window) and return its features as a float64 Series named ``str(path)``, indexed by
    :func:`feature_names`. Bad audio raises ``music_genre.data.audio.AudioError`` (reason from the decoder;
    ``too_short`` when the signal is shorter than one STFT frame)."""
    from ._extract import extract_file as _extract_file  # heavy stack on first use only

    return _extract_file(path, settings, **overrides)


def extract_files(
    paths: list[str | os.PathLike], settings: FeatureSettings | dict | None = None
) -> list:
    """Features of several files (one decode each, the embedding in one pass for all): per file its Series
    or the :class:`music_genre.data.audio.AudioError` that stopped it."""
    from ._extract import extract_files as _extract_files

    return _extract_files(paths, settings)


def extract_signal(
    signal: np.ndarray, sample_rate: int, settings: FeatureSettings | dict | None = None
) -> pd.Series:
    """Features of a mono signal (float64 Series indexed by :func:`feature_names`). The offset/duration
    settings are not applied (they select the window at decode time); a signal at another rate than
    ``settings.sample_rate`` is resampled first, as ``audio.load`` would."""
    from ._extract import extract_signal as _extract_signal

    return _extract_signal(signal, sample_rate, settings)


def warm_up(settings: FeatureSettings | dict | None = None, sample_rate: int | None = None) -> None:
    """Pay the one-time costs now (numerical imports, librosa's numba kernels ~1.3 s, filter banks and CQT
    kernels ~0.1 s) instead of on the first clip: call it once per worker process, e.g. in a Ray actor's
    constructor. ``sample_rate`` defaults to ``settings.sample_rate`` (22,050 Hz when that is None)."""
    import numpy as np

    settings = resolve_settings(settings)
    rate = sample_rate or settings.sample_rate or 22050
    seconds = 4 if settings.uses_embedding else 1  # an embedding needs one whole patch (about 3 s)
    noise = np.random.default_rng(0).normal(scale=0.01, size=rate * seconds).astype(np.float32)
    extract_signal(noise, rate, settings.replace(sample_rate=rate))
