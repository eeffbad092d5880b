"""The genres of the sample: each one a set of distributions over musical parameters.

Why a module of its own: this is the sample's musical vocabulary (tempo, rhythm, timbre, harmony, noise
and mix per genre), the part one tunes to make genres closer or further apart, kept apart from the signal
code that renders it (:mod:`.synthesis`). The genres overlap on purpose, so a classifier learns them well
above chance but not perfectly. Plain numpy.
"""

from __future__ import annotations

import numpy as np

# Each genre is a set of distributions over musical parameters, in five groups. A track draws every group
# from its own genre, except that with probability _BORROW a group comes from another genre: together with
# the wide per-genre distributions this makes neighbouring genres overlap, so they are learnable, not trivial.

_BORROW = 0.05
_GROUPS = ("rhythm", "timbre", "harmony", "noise", "mix")


def _n(mean, sd, lo=None, hi=None):
    return ("n", mean, sd, lo, hi)


def _ln(median, factor):
    return ("ln", median, factor)


def _c(**weights):
    return ("c", weights)


def _u(lo, hi):
    return ("u", lo, hi)


def _draw(spec, rng: np.random.Generator):
    kind = spec[0]
    if kind == "n":
        _, mean, sd, lo, hi = spec
        value = rng.normal(mean, sd)
        return float(np.clip(value, -np.inf if lo is None else lo, np.inf if hi is None else hi))
    if kind == "ln":
        return float(spec[1] * np.exp(rng.normal(0.0, np.log(spec[2]))))
    if kind == "u":
        return float(rng.uniform(spec[1], spec[2]))
    if kind == "c":
        names = list(spec[1])
        weights = np.array([spec[1][k] for k in names], dtype=float)
        return names[int(rng.choice(len(names), p=weights / weights.sum()))]
    raise ValueError(spec)


_BASE_PROFILE = {
    "rhythm": {
        "bpm": _n(115, 15, 55, 190),
        "swing": _n(0.05, 0.05, 0.0, 0.35),
        "drums": _n(-6, 3, -30, 0),
        "pattern": _c(backbeat=1),
        "hats": _c(**{"8": 1}),
        "fill": _n(0.04, 0.03, 0.0, 0.3),
        "kick_hz": _n(55, 8, 35, 90),
        "kick_decay": _n(0.25, 0.08, 0.06, 0.7),
        "snare_tone": _n(0.3, 0.15, 0.0, 1.0),
        "hat_decay": _n(0.04, 0.015, 0.01, 0.3),
        "hat_gain": _n(0.35, 0.1, 0.0, 1.0),
        "perc_gain": _n(0.5, 0.1, 0.0, 1.5),
        "humanize_ms": _n(4, 3, 0, 25),
    },
    "timbre": {
        "comp": _c(quarter=1),
        "chord_osc": _c(saw=1),
        "chord_rolloff": _n(1.2, 0.3, 0.6, 3.0),
        "chord_attack": _ln(0.01, 2.0),
        "chord_decay": _ln(0.6, 1.8),
        "lead_osc": _c(tri=1),
        "lead_rolloff": _n(1.5, 0.4, 0.6, 3.0),
        "lead_attack": _ln(0.02, 2.0),
        "lead_decay": _ln(0.8, 2.0),
        "lead_density": _n(1.0, 0.5, 0.1, 4.0),
        "vibrato_cents": _n(15, 10, 0, 80),
        "vibrato_hz": _n(5.5, 1.0, 2.0, 9.0),
        "bass_osc": _c(sine=1, tri=1),
        "bass_pattern": _c(quarter=1),
        "fm_index": _n(1.5, 1.0, 0.0, 8.0),
        "fm_ratio": _c(**{"1": 2, "2": 2, "3": 1, "1.41": 0.5, "3.5": 0.5}),
        "cutoff": _ln(6000, 1.6),
    },
    "harmony": {
        "mode": _c(major=1, minor=1),
        "progression": _c(pop=1, minor=1, two=1, static=0.5, random=0.5),
        "chord_bars": _c(**{"1": 1, "2": 1}),
        "voicing": _c(triad=3, seventh=1),
        "chord_octave": _n(4.0, 0.5, 2.5, 5.5),
        "lead_octave": _n(5.0, 0.5, 3.5, 6.5),
    },
    "noise": {
        "noise_db": _n(-40, 6, -70, -8),
        "noise_beta": _n(1.0, 0.5, 0.0, 2.0),
        "crackle": _n(0.0, 0.5, 0.0, 20.0),
        "drive": _n(0.2, 0.3, 0.0, 6.0),
    },
    "mix": {
        "chord_db": _n(-8, 3, -40, 0),
        "lead_db": _n(-8, 3, -40, 0),
        "bass_db": _n(-6, 3, -40, 0),
        "width": _n(0.5, 0.2, 0.0, 1.0),
        "echo": _n(0.15, 0.1, 0.0, 0.6),
        "loudness_db": _n(-16, 3, -30, -8),
    },
}

_GENRE_PROFILES: dict[str, dict[str, dict]] = {
    "Electronic": {
        "rhythm": {
            "bpm": _n(126, 7),
            "swing": _n(0.02, 0.04),
            "drums": _n(-3, 2),
            "pattern": _c(four=8, breaks=1, halftime=1),
            "hats": _c(**{"16": 5, "off": 4, "8": 0.5}),
            "kick_hz": _n(50, 6),
            "kick_decay": _n(0.3, 0.1),
            "hat_decay": _n(0.025, 0.01),
            "hat_gain": _n(0.6, 0.15),
            "humanize_ms": _n(0.5, 1.0),
        },
        "timbre": {
            "comp": _c(sustain=4, arp16=4, offbeat=1),
            "chord_osc": _c(saw=3, square=3, fm=1),
            "chord_rolloff": _n(1.0, 0.3),
            "lead_osc": _c(saw=3, square=3, fm=1, sine=1),
            "lead_density": _n(1.5, 0.8),
            "vibrato_cents": _n(5, 8),
            "bass_osc": _c(saw=2, square=1, sine=2),
            "bass_pattern": _c(offbeat=3, eighth=2, sixteenth=1, whole=1),
            "cutoff": _ln(2800, 1.7),
        },
        "harmony": {
            "mode": _c(minor=4, dorian=2, phrygian=1, major=1),
            "progression": _c(minor=3, two=2, static=2, pop=1),
            "chord_bars": _c(**{"1": 1, "2": 2, "4": 2}),
            "voicing": _c(triad=2, seventh=2, sus=1),
        },
        "noise": {"noise_db": _n(-48, 6), "noise_beta": _n(0.6, 0.5), "drive": _n(0.1, 0.2)},
        "mix": {
            "bass_db": _n(-2, 2),
            "width": _n(0.8, 0.15),
            "echo": _n(0.25, 0.1),
            "loudness_db": _n(-13, 2.5),
        },
    },
    "Experimental": {
        "rhythm": {
            "bpm": _u(55, 180),
            "swing": _n(0.1, 0.1),
            "drums": _n(-12, 8),
            "pattern": _c(sparse=6, breaks=1, none=3),
            "hats": _c(**{"0": 3, "16": 1, "rand": 3}),
            "fill": _n(0.1, 0.08),
            "kick_hz": _n(60, 20),
            "humanize_ms": _n(15, 10),
        },
        "timbre": {
            "comp": _c(sustain=4, random=4, quarter=1),
            "chord_osc": _c(fm=5, saw=1, square=1, sine=1),
            "chord_attack": _ln(0.2, 4.0),
            "chord_decay": _ln(2.0, 3.0),
            "lead_osc": _c(fm=4, sine=1, square=1),
            "lead_density": _n(0.8, 0.8),
            "vibrato_cents": _n(30, 30),
            "fm_index": _n(3.5, 2.0),
            "fm_ratio": _c(**{"1.41": 3, "3.5": 3, "2.76": 3, "1": 1}),
            "bass_pattern": _c(none=3, whole=2, random=2),
            "cutoff": _ln(5000, 3.0),
        },
        "harmony": {
            "mode": _c(chromatic=4, whole_tone=2, phrygian=1, minor=1),
            "progression": _c(random=5, static=2, two=1),
            "chord_bars": _c(**{"1": 1, "2": 1, "4": 2}),
            "voicing": _c(cluster=4, sus=2, seventh=1),
            "chord_octave": _n(4.0, 1.0),
            "lead_octave": _n(5.0, 1.0),
        },
        "noise": {
            "noise_db": _n(-20, 9),
            "noise_beta": _n(1.0, 0.8),
            "crackle": _n(1.0, 3.0),
            "drive": _n(1.0, 1.5),
        },
        "mix": {
            "chord_db": _n(-8, 6),
            "lead_db": _n(-10, 6),
            "width": _n(0.6, 0.3),
            "echo": _n(0.3, 0.2),
            "loudness_db": _n(-18, 5),
        },
    },
    "Folk": {
        "rhythm": {
            "bpm": _n(104, 15),
            "swing": _n(0.08, 0.07),
            "drums": _n(-11, 4),
            "pattern": _c(shaker=6, backbeat=1, none=1),
            "hats": _c(**{"8": 4, "16": 2, "0": 1}),
            "hat_gain": _n(0.5, 0.1),
            "kick_hz": _n(70, 10),
            "snare_tone": _n(0.5, 0.2),
            "humanize_ms": _n(9, 5),
        },
        "timbre": {
            "comp": _c(arp8=5, strum=3, quarter=1),
            "chord_osc": _c(pluck=7, tri=1, saw=1),
            "chord_rolloff": _n(1.6, 0.4),
            "chord_decay": _ln(0.5, 1.6),
            "lead_osc": _c(tri=3, sine=2, pluck=1),
            "lead_attack": _ln(0.05, 2.0),
            "lead_density": _n(0.8, 0.4),
            "vibrato_cents": _n(25, 12),
            "bass_osc": _c(sine=2, tri=2),
            "bass_pattern": _c(quarter=2, half=2, whole=1),
            "cutoff": _ln(7500, 1.4),
        },
        "harmony": {
            "mode": _c(major=5, mixolydian=2, dorian=1, minor=2),
            "progression": _c(folk=4, pop=2, two=1),
            "voicing": _c(triad=5, open=3, seventh=1),
        },
        "noise": {"noise_db": _n(-42, 7), "noise_beta": _n(1.3, 0.4), "drive": _n(0.05, 0.1)},
        "mix": {"width": _n(0.4, 0.2), "echo": _n(0.2, 0.1), "loudness_db": _n(-19, 3)},
    },
    "Hip-Hop": {
        "rhythm": {
            "bpm": _n(90, 7),
            "swing": _n(0.18, 0.08),
            "drums": _n(-2, 2),
            "pattern": _c(boombap=6, halftime=2, backbeat=1),
            "hats": _c(**{"8": 4, "16": 2, "0": 1}),
            "kick_hz": _n(45, 6),
            "kick_decay": _n(0.45, 0.15),
            "snare_tone": _n(0.2, 0.1),
            "humanize_ms": _n(5, 3),
        },
        "timbre": {
            "comp": _c(sustain=3, quarter=2, offbeat=1),
            "chord_osc": _c(organ=2, tri=2, saw=1, fm=1),
            "chord_rolloff": _n(1.8, 0.4),
            "lead_osc": _c(sine=2, tri=2, square=1),
            "lead_density": _n(0.6, 0.4),
            "bass_osc": _c(sine=4, tri=1),
            "bass_pattern": _c(syncopated=3, whole=2, quarter=1),
            "cutoff": _ln(3200, 1.6),
        },
        "harmony": {
            "mode": _c(minor=4, dorian=3, pent_minor=1, major=1),
            "progression": _c(two=3, minor=2, static=2),
            "chord_bars": _c(**{"1": 1, "2": 2}),
            "voicing": _c(seventh=3, triad=2),
            "chord_octave": _n(3.8, 0.4),
        },
        "noise": {
            "noise_db": _n(-34, 7),
            "noise_beta": _n(1.2, 0.5),
            "crackle": _n(4.0, 3.0),
            "drive": _n(0.2, 0.2),
        },
        "mix": {
            "bass_db": _n(-3, 2),
            "lead_db": _n(-14, 5),
            "width": _n(0.4, 0.2),
            "echo": _n(0.08, 0.06),
            "loudness_db": _n(-14, 2.5),
        },
    },
    "Instrumental": {
        "rhythm": {
            "bpm": _n(88, 15),
            "drums": _n(-20, 6),
            "pattern": _c(none=5, halftime=2, backbeat=1),
            "hats": _c(**{"8": 2, "0": 2, "4": 1}),
            "humanize_ms": _n(6, 4),
        },
        "timbre": {
            "comp": _c(sustain=6, arp8=1, quarter=1),
            "chord_osc": _c(sine=3, tri=2, organ=3, fm=1),
            "chord_rolloff": _n(2.0, 0.4),
            "chord_attack": _ln(0.3, 2.5),
            "chord_decay": _ln(1.5, 2.0),
            "lead_osc": _c(sine=3, tri=2, fm=1),
            "lead_attack": _ln(0.08, 2.0),
            "lead_density": _n(0.6, 0.4),
            "vibrato_cents": _n(20, 12),
            "bass_pattern": _c(whole=3, half=2, none=1),
            "cutoff": _ln(3500, 1.5),
        },
        "harmony": {
            "mode": _c(major=3, lydian=2, dorian=2, minor=2),
            "progression": _c(pop=2, folk=1, minor=2, static=1),
            "chord_bars": _c(**{"1": 1, "2": 2, "4": 1}),
            "voicing": _c(seventh=3, open=3, triad=2),
        },
        "noise": {"noise_db": _n(-48, 8), "noise_beta": _n(1.2, 0.5), "drive": _n(0.02, 0.05)},
        "mix": {"width": _n(0.7, 0.2), "echo": _n(0.4, 0.1), "loudness_db": _n(-22, 3)},
    },
    "International": {
        "rhythm": {
            "bpm": _n(108, 15),
            "swing": _n(0.06, 0.06),
            "drums": _n(-6, 3),
            "pattern": _c(clave=5, tresillo=3, backbeat=1),
            "hats": _c(**{"8": 3, "16": 2, "off": 1}),
            "kick_hz": _n(85, 20, 40, 200),
            "kick_decay": _n(0.15, 0.06),
            "snare_tone": _n(0.6, 0.2),
            "perc_gain": _n(1.0, 0.2),
            "humanize_ms": _n(6, 3),
        },
        "timbre": {
            "comp": _c(offbeat=4, arp8=2, strum=2),
            "chord_osc": _c(square=3, organ=2, pluck=1, tri=1),
            "chord_rolloff": _n(1.3, 0.3),
            "lead_osc": _c(saw=1, square=1, pluck=2, tri=1),
            "lead_density": _n(1.8, 0.7),
            "vibrato_cents": _n(35, 15),
            "vibrato_hz": _n(6.5, 1.0),
            "bass_pattern": _c(tresillo=3, quarter=1, syncopated=1),
            "cutoff": _ln(7000, 1.5),
        },
        "harmony": {
            "mode": _c(phrygian_dominant=3, harmonic_minor=3, pent_major=2, major=1, minor=1),
            "progression": _c(two=3, folk=2, minor=1, static=1),
            "voicing": _c(triad=4, open=1, seventh=1),
            "lead_octave": _n(5.3, 0.4),
        },
        "noise": {"noise_db": _n(-38, 7), "noise_beta": _n(0.8, 0.5), "drive": _n(0.1, 0.2)},
        "mix": {"width": _n(0.5, 0.2), "echo": _n(0.12, 0.08), "loudness_db": _n(-16, 3)},
    },
    "Pop": {
        "rhythm": {
            "bpm": _n(114, 10),
            "swing": _n(0.02, 0.03),
            "drums": _n(-4, 2),
            "pattern": _c(backbeat=6, four=1, halftime=1),
            "hats": _c(**{"8": 5, "16": 1}),
            "humanize_ms": _n(2, 1.5),
        },
        "timbre": {
            "comp": _c(quarter=4, eighth=2, arp8=1, sustain=1),
            "chord_osc": _c(tri=3, pluck=2, organ=1, saw=1),
            "chord_rolloff": _n(1.3, 0.3),
            "lead_osc": _c(square=2, tri=3, saw=1),
            "lead_density": _n(1.5, 0.5),
            "vibrato_cents": _n(18, 8),
            "bass_pattern": _c(eighth=3, quarter=2, syncopated=1),
            "cutoff": _ln(9000, 1.4),
        },
        "harmony": {
            "mode": _c(major=6, mixolydian=1, minor=2),
            "progression": _c(pop=6, folk=2, minor=1),
            "chord_bars": _c(**{"1": 3, "2": 2}),
            "voicing": _c(triad=5, seventh=1, sus=1),
            "lead_octave": _n(5.2, 0.3),
        },
        "noise": {"noise_db": _n(-46, 7), "noise_beta": _n(0.8, 0.4), "drive": _n(0.2, 0.2)},
        "mix": {
            "lead_db": _n(-5, 2),
            "width": _n(0.6, 0.15),
            "echo": _n(0.15, 0.08),
            "loudness_db": _n(-14, 2),
        },
    },
    "Rock": {
        "rhythm": {
            "bpm": _n(132, 16),
            "swing": _n(0.02, 0.03),
            "drums": _n(-3, 2),
            "pattern": _c(backbeat=6, halftime=1, breaks=1),
            "hats": _c(**{"8": 6, "16": 1, "4": 1}),
            "kick_hz": _n(60, 8),
            "kick_decay": _n(0.2, 0.06),
            "fill": _n(0.06, 0.04),
            "humanize_ms": _n(6, 3),
        },
        "timbre": {
            "comp": _c(eighth=5, strum=2, sustain=1),
            "chord_osc": _c(saw=5, square=3),
            "chord_rolloff": _n(0.9, 0.25),
            "lead_osc": _c(saw=2, square=2),
            "lead_density": _n(1.4, 0.6),
            "vibrato_cents": _n(20, 15),
            "bass_osc": _c(saw=2, tri=2),
            "bass_pattern": _c(eighth=5, quarter=2),
            "cutoff": _ln(6500, 1.5),
        },
        "harmony": {
            "mode": _c(minor=3, mixolydian=3, major=2, pent_minor=2),
            "progression": _c(rock=5, minor=2, pop=1, two=1),
            "voicing": _c(power=6, triad=2),
            "chord_octave": _n(3.6, 0.4),
        },
        "noise": {"noise_db": _n(-36, 6), "noise_beta": _n(0.5, 0.4), "drive": _n(2.5, 1.2)},
        "mix": {
            "chord_db": _n(-5, 2),
            "width": _n(0.6, 0.2),
            "echo": _n(0.08, 0.06),
            "loudness_db": _n(-12, 2),
        },
    },
}
# The other top-level genres, for callers who ask for them: blends of two synthesized genres.
_BLENDED = {
    "Blues": ("Rock", "Folk"),
    "Jazz": ("Instrumental", "Hip-Hop"),
    "Classical": ("Instrumental", "Folk"),
    "Old-Time / Historic": ("Folk", "Experimental"),
    "Country": ("Folk", "Pop"),
    "Easy Listening": ("Instrumental", "Pop"),
    "Soul-RnB": ("Hip-Hop", "Pop"),
    "Spoken": ("Experimental", "Folk"),
}


def _profile(genre: str) -> dict[str, dict]:
    """The full parameter distributions of one genre (its overrides on the base)."""
    if genre not in _GENRE_PROFILES and _BLENDED.get(genre):
        a, b = _BLENDED[genre]
        merged = {}
        for i, group in enumerate(
            _GROUPS
        ):  # alternate groups between the two parents: a fixed blend
            merged[group] = _profile((a, b)[i % 2])[group]
        return merged
    overrides = _GENRE_PROFILES.get(genre, {})
    merged = {}
    for group in _GROUPS:
        specs = dict(_BASE_PROFILE[group])
        for name, spec in overrides.get(group, {}).items():
            base = specs[name]
            if spec[0] == "n" and base[0] == "n":  # keep the base's physical bounds
                spec = (
                    "n",
                    spec[1],
                    spec[2],
                    base[3] if spec[3] is None else spec[3],
                    base[4] if spec[4] is None else spec[4],
                )
            specs[name] = spec
        merged[group] = specs
    return merged


def draw_track_parameters(mix, rng: np.random.Generator) -> dict:
    """One track's musical parameters: each group from one of its genres, or borrowed from another one."""
    mix = tuple(mix) if isinstance(mix, (list, tuple)) else (mix,)
    others = list(_GENRE_PROFILES)
    params = {}
    for group in _GROUPS:
        source = mix[int(rng.integers(len(mix)))]
        if rng.random() < _BORROW:
            source = others[int(rng.integers(len(others)))]
        for name, spec in _profile(source)[group].items():
            params[name] = _draw(spec, rng)
    return params
