"""The drum kit: kick, snare, percussion and hi-hat one-shots placed on a genre's bar pattern.

Why a module of its own: the drums are a self-contained instrument (their own one-shot synthesis and
pattern table) that :func:`.synthesis.synthesize_clip` mixes in. Plain numpy.
"""

from __future__ import annotations

import numpy as np

# Drum patterns: per-step hit probabilities over one 4/4 bar of 16 steps (kick, snare, percussion).
_PATTERNS = {
    "four": ({0: 1, 4: 1, 8: 1, 12: 1, 14: 0.1}, {4: 0.6, 12: 0.6}, {}),
    "backbeat": ({0: 1, 8: 1, 10: 0.4, 6: 0.2, 14: 0.15}, {4: 1, 12: 1}, {}),
    "boombap": ({0: 1, 3: 0.3, 7: 0.6, 10: 0.7, 13: 0.2}, {4: 1, 12: 1, 15: 0.15}, {}),
    "halftime": ({0: 1, 10: 0.6, 3: 0.2}, {8: 1}, {}),
    "breaks": ({0: 1, 10: 0.8, 11: 0.4, 6: 0.3}, {4: 1, 12: 1, 7: 0.3, 15: 0.3, 9: 0.2}, {}),
    "clave": ({0: 0.8, 8: 0.6}, {}, {0: 1, 3: 1, 6: 1, 10: 1, 12: 1, 14: 0.3}),
    "tresillo": ({0: 1, 6: 1, 12: 0.8}, {12: 0.3}, {3: 0.6, 8: 0.6, 11: 0.5, 14: 0.5}),
    "shaker": ({0: 0.6, 8: 0.5}, {}, {}),
    "sparse": (
        {k: 0.12 for k in range(16)},
        {k: 0.08 for k in range(16)},
        {k: 0.1 for k in range(16)},
    ),
    "none": ({}, {}, {}),
}


def _drums(n, sr, p, rng, steps, step_times, to_samples) -> np.ndarray:
    """Kick, snare, percussion and hi-hat one-shots synthesized once per track and placed on the grid."""
    out = np.zeros((2, n), dtype=np.float32)
    t = np.arange(int(0.6 * sr), dtype=np.float32) / sr
    sweep = p["kick_hz"] * (1 + 2.5 * np.exp(-t / 0.03))
    kick = np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.exp(-t / p["kick_decay"])
    ts = t[: int(0.3 * sr)]
    noise = rng.standard_normal(len(ts)).astype(np.float32)
    noise = np.diff(noise, prepend=0.0)
    snare = (1 - p["snare_tone"]) * noise * np.exp(-ts / 0.06) + p["snare_tone"] * np.sin(
        2 * np.pi * 185 * ts
    ) * np.exp(-ts / 0.08)
    perc_hz = p["kick_hz"] * 5
    perc = np.sin(2 * np.pi * perc_hz * ts * (1 + 0.3 * np.exp(-ts / 0.02))) * np.exp(-ts / 0.07)
    th = t[: int(0.25 * sr)]
    hiss = np.diff(
        np.diff(rng.standard_normal(len(th)).astype(np.float32), prepend=0.0), prepend=0.0
    )
    hat = hiss / 4 * np.exp(-th / p["hat_decay"])

    kick_p, snare_p, perc_p = _PATTERNS[p["pattern"]]
    hats = p["hats"]
    hat_p = {
        "0": {},
        "4": {k: 0.9 for k in (0, 4, 8, 12)},
        "8": {k: 0.9 for k in range(0, 16, 2)},
        "16": {k: 0.85 for k in range(16)},
        "off": {k: 0.95 for k in (2, 6, 10, 14)},
        "rand": {k: 0.25 for k in range(16)},
    }[hats]
    bar_pos = steps % 16
    for shot, probs, gain, pan in (
        (kick, kick_p, 1.0, 0.0),
        (snare, snare_p, 0.7, 0.1),
        (perc, perc_p, p["perc_gain"], -0.4),
        (hat, hat_p, p["hat_gain"], 0.3),
    ):
        # A fixed bar pattern for the track (drawn from the genre's probabilities), varied a little per bar.
        bar = np.array([rng.random() < probs.get(k, 0.0) for k in range(16)])
        hits = bar[bar_pos] & (rng.random(len(steps)) > 0.05)
        hits |= rng.random(len(steps)) < p["fill"] * (0.3 if shot is kick else 1.0)
        if shot is hat and hats == "rand":
            hits = rng.random(len(steps)) < 0.25
        where = to_samples(step_times[hits])
        vel = rng.uniform(0.7, 1.0, len(where)).astype(np.float32)
        vel, where = vel[where < n], where[where < n]
        shot = shot.astype(np.float32)
        mono = np.zeros(n, dtype=np.float32)
        for start, v in zip(where, vel, strict=True):
            stop = min(n, start + len(shot))
            mono[start:stop] += v * shot[: stop - start]
        out[0] += mono * np.float32(gain * np.cos((pan + 1) * np.pi / 4))
        out[1] += mono * np.float32(gain * np.sin((pan + 1) * np.pi / 4))
    return out
