"""Synthesis of one clip: harmony, chords, bass, lead, drums, echo, noise and loudness from drawn parameters.

Why a module of its own: this is the signal code (oscillators, envelopes, the mix bus), which takes a
track's parameters from :mod:`.profiles` and its drums from :mod:`.drums`. Every random draw comes from
the generator it is given, in a fixed order, so a seed gives the same clip sample for sample. Plain numpy.
"""

from __future__ import annotations

import numpy as np

from .drums import _drums
from .profiles import draw_track_parameters

_MODES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "phrygian_dominant": (0, 1, 4, 5, 7, 8, 10),
    "pent_major": (0, 2, 4, 7, 9),
    "pent_minor": (0, 3, 5, 7, 10),
    "whole_tone": (0, 2, 4, 6, 8, 10),
    "chromatic": tuple(range(12)),
}
_PROGRESSIONS = {  # scale degrees (0-based), one per chord
    "pop": ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4)),
    "rock": ((0, 6, 3, 0), (0, 3, 6, 3), (0, 2, 3, 0), (0, 0, 6, 3)),
    "folk": ((0, 3, 0, 4), (0, 0, 3, 4), (0, 4, 0, 3), (0, 3, 4, 0)),
    "two": ((0, 3), (0, 6), (0, 4), (0, 1)),
    "static": ((0,), (0, 0, 3, 0)),
}


def _wavetable(kind: str, rolloff: float, f0: float, cutoff: float, sr: int, size: int = 2048):
    """One cycle of an oscillator as a sum of harmonics, low-passed at ``cutoff`` and band-limited.

    Shaping the harmonics here gives each line its brightness for free (no filter pass over the signal).
    """
    max_harmonic = max(1, int(sr * 0.45 / max(f0, 20.0)))
    if kind == "sine":
        harmonics = {1: 1.0, 2: 0.08}
    elif kind == "tri":
        harmonics = {h: (-1) ** ((h - 1) // 2) / h**2 for h in range(1, max_harmonic + 1, 2)}
    elif kind == "square":
        harmonics = {h: 1 / h**rolloff for h in range(1, max_harmonic + 1, 2)}
    elif kind == "organ":
        harmonics = {1: 1.0, 2: 0.6, 3: 0.4, 4: 0.3, 6: 0.2, 8: 0.15}
    elif kind == "pluck":
        harmonics = {h: 1 / h ** (rolloff + 0.3) for h in range(1, max_harmonic + 1)}
    else:  # saw
        harmonics = {h: 1 / h**rolloff for h in range(1, max_harmonic + 1)}
    phase = np.arange(size) / size
    table = np.zeros(size)
    for h, amp in harmonics.items():
        if h <= max_harmonic:
            gain = 1.0 / np.sqrt(1.0 + (h * f0 / cutoff) ** 4)  # 2nd-order low-pass response
            table += amp * gain * np.sin(2 * np.pi * h * phase)
    table /= np.max(np.abs(table)) or 1.0
    return table.astype(np.float32)


_SINE = np.sin(2 * np.pi * np.arange(4096) / 4096).astype(np.float32)


def _render_line(
    n: int,
    sr: int,
    onsets: np.ndarray,
    lengths: np.ndarray,
    freqs: np.ndarray,
    vels: np.ndarray,
    osc: str,
    p: dict,
    prefix: str,
    rng: np.random.Generator,
    pans: np.ndarray | None = None,
) -> np.ndarray:
    """Notes (onset/length in samples, frequencies (notes, voices), velocities) to a stereo signal.

    A note rings until the next onset (its release starts after its length). Envelope and phase are
    written note by note from short precomputed ramps (slices, no per-sample Python), then all voices go
    through one table lookup and one panning matrix product.
    """
    out = np.zeros((2, n), dtype=np.float32)
    keep = onsets < n
    onsets, lengths, freqs, vels = onsets[keep], lengths[keep], freqs[keep], vels[keep]
    if len(onsets) == 0:
        return out
    order = np.argsort(onsets, kind="stable")
    onsets, lengths, vels = onsets[order], lengths[order], vels[order]
    freqs = freqs[order].reshape(len(onsets), -1).astype(np.float32)
    voices = freqs.shape[1]
    ends = np.append(onsets[1:], n)
    longest = int((ends - onsets).max())
    ramp = np.arange(longest, dtype=np.float32) / np.float32(sr)
    attack = max(p[f"{prefix}_attack"], 0.002)
    decay = max(p[f"{prefix}_decay"], 0.02)
    if osc == "pluck":
        decay = min(decay, 0.35)
    shape = np.minimum(ramp / np.float32(attack), 1.0) * np.exp(-ramp / np.float32(decay))
    release = np.exp(-ramp / np.float32(0.015))
    depth = 2 ** (p["vibrato_cents"] / 1200.0) - 1.0 if prefix == "lead" else 0.0
    if depth > 0:  # phase of a vibrato note in closed form: integral of 1 + d*sin(w t)
        w = 2 * np.pi * p["vibrato_hz"]
        wobble = np.cos(np.arange(n, dtype=np.float32) * np.float32(w / sr)) * np.float32(depth / w)
    env = np.zeros(n, dtype=np.float32)
    phase = np.zeros((voices, n), dtype=np.float32)
    start_phase = rng.random((len(onsets), voices)).astype(np.float32)
    for i in range(len(onsets)):
        s, e = int(onsets[i]), int(ends[i])
        size = e - s
        if size <= 0:
            continue
        seg = env[s:e]
        np.multiply(shape[:size], np.float32(vels[i]), out=seg)
        held = int(lengths[i])
        if held < size:
            seg[held:] *= release[: size - held]
        u = ramp[:size] if depth <= 0 else ramp[:size] - (wobble[s:e] - wobble[s])
        np.add(freqs[i][:, None] * u, start_phase[i][:, None], out=phase[:, s:e])
    if osc == "fm":
        ratio = np.float32(float(p["fm_ratio"]) * 4096)
        mod = _SINE[(phase * ratio).astype(np.int32) & 4095]
        mod *= np.float32(p["fm_index"] / (2 * np.pi))
        phase += mod
        phase *= np.float32(4096)
        wave = _SINE[phase.astype(np.int32) & 4095]
    else:
        f0 = float(np.median(freqs))
        table = _wavetable(osc, p[f"{prefix}_rolloff"], f0, p["cutoff"], sr)
        phase *= np.float32(2048)
        wave = table[phase.astype(np.int32) & 2047]
    if pans is None:
        pans = np.zeros(voices)
    angle = (np.asarray(pans, dtype=float) + 1) * np.pi / 4
    gains = np.stack([np.cos(angle), np.sin(angle)]).astype(np.float32)  # (2, voices)
    out = gains @ wave if voices > 1 else gains[:, :1] * wave
    out *= env
    return out


def _midi_hz(midi) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


def _chord_notes(scale, degree: int, voicing: str) -> list[int]:
    """Semitone offsets (from the key's root) of the chord on ``degree`` of ``scale``."""
    size = len(scale)

    def step(k):
        return scale[k % size] + 12 * (k // size)

    if voicing == "power":
        root = step(degree)
        return [root, root + 7, root + 12]
    if voicing == "cluster":
        return [step(degree), step(degree + 1), step(degree + 2), step(degree + 3)]
    if voicing == "sus":
        return [step(degree), step(degree + 3), step(degree + 4)]
    if voicing == "seventh":
        return [step(degree), step(degree + 2), step(degree + 4), step(degree + 6)]
    if voicing == "open":
        return [step(degree), step(degree + 4), step(degree + 9)]
    return [step(degree), step(degree + 2), step(degree + 4)]


def synthesize_clip(mix, rng: np.random.Generator, seconds: float = 30.0, sample_rate: int = 44100):
    """A synthetic stereo clip (float32, shape (n, 2), peak <= 1) for a genre (or a tuple of genres).

    The genre only chooses the distributions its parameters are drawn from (see :mod:`.profiles`).
    """
    p = draw_track_parameters(mix, rng)
    sr = int(sample_rate)
    n = int(round(seconds * sr))
    beat = 60.0 / p["bpm"]
    step = beat / 4
    n_bars = int(np.ceil(seconds / (4 * beat))) + 1
    steps = np.arange(n_bars * 16)
    step_times = steps * step + np.where(steps % 2 == 1, p["swing"] * step, 0.0)
    bar_of = steps // 16

    def to_samples(times):
        times = np.asarray(times, dtype=float)
        jitter = rng.normal(0, p["humanize_ms"] / 1000.0, size=times.shape)
        return np.maximum(np.round((times + jitter) * sr), 0).astype(
            np.int64
        )  # >= n: dropped later

    mixbus = np.zeros((2, n), dtype=np.float32)

    # Harmony: key, scale, chord progression.
    key = int(rng.integers(0, 12))
    scale = _MODES[p["mode"]]
    if p["progression"] == "random":
        progression = [int(d) for d in rng.integers(0, len(scale), size=4)]
    else:
        options = _PROGRESSIONS[p["progression"]]
        progression = list(options[int(rng.integers(len(options)))])
    chord_bars = int(p["chord_bars"])
    chord_root = 12 * (int(round(p["chord_octave"])) + 1) + key
    n_chords = int(np.ceil(n_bars / chord_bars))
    chords = [
        _chord_notes(scale, progression[i % len(progression)], p["voicing"])
        for i in range(n_chords)
    ]
    chord_at_step = np.minimum(bar_of // chord_bars, n_chords - 1)

    # Chord instrument: a rhythm of strikes, each sounding the current chord.
    comp = p["comp"]
    comp_steps = {
        "sustain": steps[steps % (16 * chord_bars) == 0],
        "quarter": steps[steps % 4 == 0],
        "eighth": steps[steps % 2 == 0],
        "offbeat": steps[steps % 4 == 2],
        "strum": steps[np.isin(steps % 16, (0, 6, 8, 12, 14))],
        "random": steps[rng.random(len(steps)) < 0.12],
    }.get(comp)
    voices = max(len(c) for c in chords)
    chord_pans = np.linspace(-p["width"], p["width"], voices) * 0.8
    chord_gain = 10 ** (p["chord_db"] / 20)
    if comp in ("arp8", "arp16"):
        every = 2 if comp == "arp8" else 1
        arp_steps = steps[steps % every == 0]
        pattern = rng.permutation(4) if rng.random() < 0.5 else np.arange(4)
        notes = [
            chords[chord_at_step[s]][pattern[i % 4] % len(chords[chord_at_step[s]])]
            for i, s in enumerate(arp_steps)
        ]
        freqs = _midi_hz(chord_root + np.array(notes))[:, None]
        lengths = np.full(len(arp_steps), int(step * every * sr * 1.5))
        vels = rng.uniform(0.6, 1.0, len(arp_steps))
        chord_sig = _render_line(
            n,
            sr,
            to_samples(step_times[arp_steps]),
            lengths,
            freqs,
            vels,
            p["chord_osc"],
            p,
            "chord",
            rng,
            pans=np.array([rng.uniform(-p["width"], p["width"])]),
        )
    else:
        strikes = comp_steps
        nxt = np.append(strikes[1:], len(steps))
        lengths = ((nxt - strikes) * step * sr * 0.9).astype(np.int64)
        notes = np.array(
            [(chords[chord_at_step[s]] * voices)[:voices] for s in strikes], dtype=float
        ).reshape(len(strikes), voices)
        freqs = _midi_hz(chord_root + notes)
        vels = rng.uniform(0.7, 1.0, len(strikes))
        chord_sig = _render_line(
            n,
            sr,
            to_samples(step_times[strikes]),
            lengths,
            freqs,
            vels,
            p["chord_osc"],
            p,
            "chord",
            rng,
            pans=chord_pans,
        ) / np.float32(np.sqrt(voices))
    if p["drive"] > 0.05:  # distortion on the chord instrument, like an overdriven guitar
        drive = np.float32(1 + p["drive"] * 3)
        chord_sig = np.tanh(chord_sig * drive) / np.tanh(drive)
    chord_sig *= np.float32(chord_gain)
    mixbus += chord_sig

    # Bass: chord roots in a pattern, two octaves below the chords.
    bass_steps = {
        "whole": steps[steps % 16 == 0],
        "half": steps[steps % 8 == 0],
        "quarter": steps[steps % 4 == 0],
        "eighth": steps[steps % 2 == 0],
        "sixteenth": steps,
        "offbeat": steps[steps % 4 == 2],
        "syncopated": steps[np.isin(steps % 16, (0, 3, 6, 10))],
        "tresillo": steps[np.isin(steps % 16, (0, 6, 12))],
        "random": steps[rng.random(len(steps)) < 0.1],
        "none": steps[:0],
    }[p["bass_pattern"]]
    if len(bass_steps):
        nxt = np.append(bass_steps[1:], len(steps))
        lengths = ((nxt - bass_steps) * step * sr * 0.85).astype(np.int64)
        roots = np.array([chords[chord_at_step[s]][0] for s in bass_steps], dtype=float)
        octave_up = (rng.random(len(bass_steps)) < 0.15) * 12
        freqs = _midi_hz(chord_root - 24 + roots + octave_up)[:, None]
        bass_params = dict(
            p, bass_attack=0.005, bass_decay=0.3 + 0.7 * rng.random(), bass_rolloff=1.5
        )
        bass = _render_line(
            n,
            sr,
            to_samples(step_times[bass_steps]),
            lengths,
            freqs,
            rng.uniform(0.75, 1.0, len(bass_steps)),
            p["bass_osc"],
            bass_params,
            "bass",
            rng,
        )
        mixbus += bass * np.float32(10 ** (p["bass_db"] / 20))

    # Lead: a random walk on the scale, denser or sparser, with vibrato.
    if p["lead_db"] > -35:
        rate = p["lead_density"] / 4  # notes per 16th step
        lead_steps = steps[rng.random(len(steps)) < min(rate, 1.0)]
        if len(lead_steps):
            walk = np.cumsum(rng.choice([-2, -1, -1, 0, 1, 1, 2], size=len(lead_steps)))
            walk = (np.abs((walk + 14) % 28 - 14) - 7).astype(int)  # reflect into about two octaves
            semis = np.array([scale[k % len(scale)] + 12 * (k // len(scale)) for k in walk])
            lead_root = 12 * (int(round(p["lead_octave"])) + 1) + key
            nxt = np.append(lead_steps[1:], len(steps))
            lengths = ((nxt - lead_steps) * step * sr * rng.uniform(0.5, 1.0)).astype(np.int64)
            lead = _render_line(
                n,
                sr,
                to_samples(step_times[lead_steps]),
                lengths,
                _midi_hz(lead_root + semis)[:, None],
                rng.uniform(0.6, 1.0, len(lead_steps)),
                p["lead_osc"],
                p,
                "lead",
                rng,
                pans=np.array([rng.uniform(-0.3, 0.3)]),
            )
            mixbus += lead * np.float32(10 ** (p["lead_db"] / 20))

    # Drums: one-shot samples placed on the pattern's steps.
    drums_db = p["drums"]
    if p["pattern"] != "none" and drums_db > -28:
        mixbus += _drums(n, sr, p, rng, steps, step_times, to_samples) * np.float32(
            10 ** (drums_db / 20)
        )

    # Echo: a few decaying taps, different left and right, for space and width.
    if p["echo"] > 0.01:
        wet = np.zeros_like(mixbus)
        for tap in range(1, 4):
            gain = np.float32(p["echo"] ** tap)
            for ch in (0, 1):
                delay = int(sr * (0.75 * beat * tap + (0.011 if ch else 0.0)))
                if delay < n:
                    wet[ch, delay:] += gain * mixbus[1 - ch if tap % 2 else ch, : n - delay]
        mixbus += wet

    # Noise: coloured (1/f^beta) hiss plus vinyl-like crackle.
    level = np.float32(_rms(mixbus) + 1e-4)
    noise = _coloured_noise(n, p["noise_beta"], rng)
    noise *= level * np.float32(10 ** ((p["noise_db"] + 10) / 20))
    mixbus += noise
    crackles = int(p["crackle"] * seconds * 5)
    if crackles > 0:
        where = rng.integers(0, n, size=(2, crackles))
        amp = rng.uniform(-1, 1, size=(2, crackles)).astype(np.float32) * level * 4
        for ch in (0, 1):
            np.add.at(mixbus[ch], where[ch], amp[ch])

    # Loudness: scale to the drawn RMS level, then soft-limit the peaks above a knee (like a limiter).
    loudness = p["loudness_db"] + rng.normal(0, 1.5)
    mixbus *= np.float32(10 ** (loudness / 20) / (_rms(mixbus) + 1e-9))
    flat = mixbus.reshape(-1)
    loud = np.flatnonzero(np.abs(flat) > 0.7)
    if len(loud):
        over = np.abs(flat[loud]) - np.float32(0.7)
        flat[loud] = np.sign(flat[loud]) * (0.7 + 0.28 * np.tanh(over / np.float32(0.28)))
    fade = min(n // 2, int(0.005 * sr))
    if fade:
        ramp = np.linspace(0, 1, fade, dtype=np.float32)
        mixbus[:, :fade] *= ramp
        mixbus[:, n - fade :] *= ramp[::-1]
    return np.ascontiguousarray(mixbus.T)


def _rms(x: np.ndarray) -> float:
    flat = x.reshape(-1)
    return float(np.sqrt(np.dot(flat, flat) / max(len(flat), 1)))


def _coloured_noise(n: int, beta: float, rng: np.random.Generator) -> np.ndarray:
    """Stereo noise with a 1/f^beta spectrum (0 white, 1 pink, 2 brown), unit RMS per channel.

    Made in the frequency domain over a few seconds and tiled (different period per channel), which is
    an order of magnitude cheaper than shaping the whole clip and sounds the same.
    """
    out = np.empty((2, n), dtype=np.float32)
    for ch, period in enumerate((1 << 17, (1 << 17) - 4099)):
        size = period // 2 + 1
        spectrum = rng.standard_normal(size) + 1j * rng.standard_normal(size)
        freqs = np.arange(size, dtype=float)
        freqs[0] = 1.0
        spectrum *= freqs ** (-beta / 2)
        spectrum[0] = 0
        tile = np.fft.irfft(spectrum, n=period)
        tile /= tile.std() + 1e-12
        out[ch] = np.resize(tile.astype(np.float32), n)
    return out
