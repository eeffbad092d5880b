"""Outlier exposure: the familiarity check taught what is *not* music, next to its distance to the music.

A distance to the training tracks misses inputs that lie near music in feature space: a 50 Hz hum, a sine
sweep, a tonal voice. Outlier exposure shows a small classifier many synthesized non-music inputs, in
families (noise colours, steady tones, mains hums, sweeps, clicks, near-silence, espeak-ng speech in
several voices and languages), against the collection's own training music, in the familiarity check's
space (standardised PCA axes of the model's features). Its probability that a file is not music, over a
threshold set on the *validation* music (the share ``flag_share`` of unseen music may exceed it, never
under ``min_probability``), is a second reason to call a file unfamiliar; :mod:`familiarity` keeps the
larger of the two ratios, so ``predict``, batch scoring, the served model and the page read one number.

Everything stored is plain data (coefficients, intercept, threshold, the families seen).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

FAMILIES = ("white_noise", "pink_noise", "brown_noise", "tone", "hum", "sweep", "clicks",
            "near_silence", "syllabic_noise", "babble", "speech")  # fmt: skip
# Voices and sentences of the speech negatives (espeak-ng), unlike any a test library uses.
VOICES = ("en-us", "de", "it", "pt", "nl", "pl", "sv", "en-gb")
SENTENCES = (
    "Welcome back to the show, today we talk about gardening in small spaces.",
    "Please remember to buy milk, eggs and bread on the way home tonight.",
    "Chapter seven. The train left the station before the sun came up.",
    "This is a reminder that the meeting has moved to three o'clock on Thursday.",
)
DEFAULTS = {"enabled": True, "per_family": 6, "seconds": 20.0, "min_probability": 0.5,
            "mp3_share": 0.5}  # fmt: skip
RATE = 22050


def settings(params: Mapping | None) -> dict:
    return {**DEFAULTS, **dict(params or {})}


def odd_signal(family: str, seed: int, seconds: float = 20.0) -> np.ndarray:
    """One synthesized non-music input of ``family`` (float32 at 22,050 Hz), its parameters drawn from
    ``seed``. Raises ValueError for an unknown family and for speech without espeak-ng."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    level = rng.uniform(0.05, 0.5)
    if family == "white_noise":
        out = rng.standard_normal(n)
    elif family in ("pink_noise", "brown_noise"):
        spectrum = np.fft.rfft(rng.standard_normal(n))
        freqs = np.maximum(np.fft.rfftfreq(n, 1 / RATE), 1.0)
        out = np.fft.irfft(spectrum / (freqs ** (0.5 if family == "pink_noise" else 1.0)), n)
    elif family == "tone":
        out = sum(np.sin(2 * np.pi * rng.uniform(80, 4000) * t) for _ in range(rng.integers(1, 4)))
    elif family == "hum":
        base = rng.choice([50.0, 60.0])
        out = sum(rng.uniform(0.2, 1) * np.sin(2 * np.pi * base * k * t) for k in range(1, 8))
        out = out + 0.02 * rng.standard_normal(n)
    elif family == "sweep":
        f0, f1 = rng.uniform(20, 200), rng.uniform(2000, 10000)
        phase = 2 * np.pi * f0 * seconds / np.log(f1 / f0) * ((f1 / f0) ** (t / seconds) - 1)
        out = np.sin(
            phase if rng.random() < 0.5 else 2 * np.pi * (f0 + (f1 - f0) * t / seconds / 2) * t
        )
    elif family == "clicks":
        out = np.zeros(n)
        out[rng.integers(0, n, size=int(seconds * rng.uniform(1, 20)))] = 1.0
    elif family == "syllabic_noise":
        out = _syllabic_noise(rng, n)
    elif family == "babble":
        out = sum(_voice(rng, n) for _ in range(int(rng.integers(1, 4))))
    elif family == "near_silence":
        return (10 ** (rng.uniform(-58, -45) / 20) * rng.standard_normal(n)).astype("float32")
    elif family == "speech":
        return speech(VOICES[seed % len(VOICES)], SENTENCES[seed % len(SENTENCES)], seconds)
    else:
        raise ValueError(f"unknown family {family!r}: one of {', '.join(FAMILIES)}")
    out = np.asarray(out, dtype=np.float64)
    return (level * out / max(float(np.abs(out).max()), 1e-12)).astype("float32")


def _phrases(rng: np.random.Generator, n: int) -> np.ndarray:
    """0/1 gate of phrases (1-3.5 s) and pauses (0.15-0.9 s), smoothed over 20 ms."""
    gate, at = np.zeros(n), int(rng.uniform(0, 0.5) * RATE)
    while at < n:
        length = int(rng.uniform(1.0, 3.5) * RATE)
        gate[at : at + length] = 1.0
        at += length + int(rng.uniform(0.15, 0.9) * RATE)
    ramp = np.hanning(int(0.02 * RATE))
    return np.convolve(gate, ramp / ramp.sum(), mode="same")


def _syllabic_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Speech-shaped noise (band-passed 150 Hz to 3-5 kHz) whose loudness rises and falls at a
    syllabic rate (3-8 Hz, jittered), in phrases: speech's rhythm without its voice."""
    from scipy import signal as sp

    low, high = rng.uniform(100, 300), rng.uniform(2500, 5000)
    sos = sp.butter(2, [low, high], btype="bandpass", fs=RATE, output="sos")
    noise = sp.sosfilt(sos, rng.standard_normal(n))
    rate = rng.uniform(3, 8) * (1 + 0.3 * np.cumsum(rng.standard_normal(n)) / np.sqrt(n * 50))
    phase = 2 * np.pi * np.cumsum(rate) / RATE
    envelope = np.maximum(np.sin(phase), 0) ** rng.uniform(0.5, 2.0)
    return noise * envelope * _phrases(rng, n)


def _voice(rng: np.random.Generator, n: int) -> np.ndarray:
    """One synthetic talker: a glottal pulse train (90-260 Hz, intonation falling over each phrase,
    jittered) through three formant resonances changing every syllable (80-300 ms), with unvoiced
    fricative syllables (high-passed noise) and pauses between phrases. Not espeak: a formant
    vocoder of no language."""
    from scipy import signal as sp

    base = rng.uniform(90, 260)
    t = np.arange(n) / RATE
    drift = 1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t + rng.uniform(0, 6.3))
    f0 = base * drift * (1 + 0.01 * rng.standard_normal(n))
    phase = np.cumsum(f0) / RATE
    pulses = np.diff(np.floor(phase), prepend=0.0)
    source = sp.lfilter([1.0], [1.0, -0.97], pulses)  # glottal roll-off
    out, at = np.zeros(n), 0
    while at < n:
        length = min(int(rng.uniform(0.08, 0.3) * RATE), n - at)
        window = np.hanning(length)
        if rng.random() < 0.2:  # fricative
            sos = sp.butter(2, rng.uniform(2500, 6000), btype="highpass", fs=RATE, output="sos")
            piece = 0.3 * sp.sosfilt(sos, rng.standard_normal(length))
        else:
            piece = source[at : at + length]
            for low, high, width in ((280, 850, 80), (850, 2400, 120), (2300, 3300, 200)):
                centre = rng.uniform(low, high)
                radius = np.exp(-np.pi * width / RATE)
                theta = 2 * np.pi * centre / RATE
                piece = sp.lfilter([1 - radius], [1, -2 * radius * np.cos(theta), radius**2], piece)
            piece = piece / max(float(np.abs(piece).max()), 1e-12)
        out[at : at + length] += piece * window
        at += length
    return out * _phrases(rng, n)


def mp3_round_trip(signal: np.ndarray, quality: float) -> np.ndarray:
    """``signal`` encoded to MP3 (libsndfile's LAME; ``quality`` 0 = about 170 kb/s down to 0.9 =
    about 32 kb/s) and decoded again: a library's odd files are MP3s more often than not."""
    import io

    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, signal, RATE, format="MP3", compression_level=float(quality),
             bitrate_mode="CONSTANT")  # fmt: skip
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32")
    out = np.zeros(len(signal), dtype="float32")
    out[: min(len(out), len(decoded))] = decoded[: len(out)]
    return out


def speech(voice: str, text: str, seconds: float) -> np.ndarray:
    """espeak-ng reading ``text`` in ``voice``, repeated with pauses to ``seconds``, at 22,050 Hz."""
    import subprocess
    import tempfile
    from pathlib import Path

    import soundfile as sf
    import soxr

    if not shutil.which("espeak-ng"):
        raise ValueError("speech negatives need espeak-ng (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True,
                       capture_output=True)  # fmt: skip
        data, rate = sf.read(wav, dtype="float32")
    data = soxr.resample(data, rate, RATE) if rate != RATE else data
    pause = np.zeros(RATE // 3, dtype="float32")
    unit = np.concatenate([data, pause])
    reps = int(np.ceil(seconds * RATE / len(unit)))
    return np.tile(unit, reps)[: int(seconds * RATE)].astype("float32")


def negative_features(
    extract: Callable[[np.ndarray, int], pd.Series],
    families: Sequence[str] = FAMILIES,
    per_family: int = DEFAULTS["per_family"],
    seconds: float = DEFAULTS["seconds"],
    seed: int = 0,
    mp3_share: float = DEFAULTS["mp3_share"],
) -> pd.DataFrame:
    """Feature rows of ``per_family`` synthesized inputs of each family (``extract(signal, rate)`` gives a
    row in the model's columns), with a ``family`` column; the share ``mp3_share`` of each family's
    inputs (seeded) passes through MP3 at a random bitrate first. A family that cannot be made here
    (speech without espeak-ng) is left out with one warning."""
    rows = []
    for family in families:
        try:
            for i in range(int(per_family)):
                member = seed * 1000 + FAMILIES.index(family) * 100 + i if family in FAMILIES else i
                signal = odd_signal(family, member, seconds)
                coin = np.random.default_rng([member, 7])
                if coin.random() < float(mp3_share):
                    signal = mp3_round_trip(signal, coin.uniform(0.0, 0.9))
                row = extract(signal, RATE)
                rows.append({**row.to_dict(), "family": family})
        except ValueError as err:
            log.warning("Outlier exposure without the %s family: %s", family, err)
    return pd.DataFrame(rows)


def fit(
    positives: np.ndarray, negatives: np.ndarray, validation: np.ndarray, flag_share: float,
    min_probability: float, conformal_quantile: Callable[[np.ndarray, float], float],
) -> dict:  # fmt: skip
    """A logistic regression telling music (``positives``) from synthesized non-music (``negatives``),
    rows already in the familiarity space; its threshold the conformal ``1 - flag_share`` quantile
    (``conformal_quantile(scores, level)``) of the probabilities of the ``validation`` music, never
    under ``min_probability``."""
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([positives, negatives])
    y = np.r_[np.zeros(len(positives)), np.ones(len(negatives))]
    model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(x, y)
    reference = validation if len(validation) else positives
    p_music = model.predict_proba(reference)[:, 1]
    threshold = max(float(min_probability), conformal_quantile(p_music, 1.0 - float(flag_share)))
    return {
        "coef": model.coef_[0].tolist(),
        "intercept": float(model.intercept_[0]),
        "threshold": threshold,
    }


def probability(stats: Mapping, projected: np.ndarray) -> np.ndarray:
    """The probability that each row (in the familiarity space) is not music."""
    logit = projected @ np.asarray(stats["coef"]) + float(stats["intercept"])
    return 1.0 / (1.0 + np.exp(-logit))


def ratio(stats: Mapping, projected: np.ndarray) -> np.ndarray:
    """That probability over the threshold: above 1.0, unfamiliar."""
    return probability(stats, projected) / max(float(stats["threshold"]), 1e-12)
