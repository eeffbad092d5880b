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
            "near_silence", "speech")  # fmt: skip
# Voices and sentences of the speech negatives (espeak-ng), unlike any a test library uses.
VOICES = ("en-us", "de", "it", "pt", "nl", "pl", "sv", "en-gb")
SENTENCES = (
    "Welcome back to the show, today we talk about gardening in small spaces.",
    "Please remember to buy milk, eggs and bread on the way home tonight.",
    "Chapter seven. The train left the station before the sun came up.",
    "This is a reminder that the meeting has moved to three o'clock on Thursday.",
)
DEFAULTS = {"enabled": True, "per_family": 6, "seconds": 20.0, "min_probability": 0.5}
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
    elif family == "near_silence":
        return (10 ** (rng.uniform(-58, -45) / 20) * rng.standard_normal(n)).astype("float32")
    elif family == "speech":
        return speech(VOICES[seed % len(VOICES)], SENTENCES[seed % len(SENTENCES)], seconds)
    else:
        raise ValueError(f"unknown family {family!r}: one of {', '.join(FAMILIES)}")
    out = np.asarray(out, dtype=np.float64)
    return (level * out / max(float(np.abs(out).max()), 1e-12)).astype("float32")


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
) -> pd.DataFrame:
    """Feature rows of ``per_family`` synthesized inputs of each family (``extract(signal, rate)`` gives a
    row in the model's columns), with a ``family`` column. A family that cannot be made here (speech
    without espeak-ng) is left out with one warning."""
    rows = []
    for f, family in enumerate(families):
        try:
            for i in range(int(per_family)):
                row = extract(odd_signal(family, seed * 1000 + f * 100 + i, seconds), RATE)
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
