"""The planted faults: a few broken audio files that ingestion must catch.

Why a module of its own: the faults touch both halves of the sample. The metadata lists every faulty
track like any other (:func:`_choose_faults` picks them among the small training tracks, one draw order
for a seed), and the clip writer then leaves the file out (``missing_file``), writes it empty
(``empty_file``), makes it too short to use (``too_short``, :func:`_short_seconds`) or cuts the MP3 in the
middle of a frame (``truncated``, :func:`_truncate_mid_frame`). Keeping the kinds and their rules here
keeps the two halves in step. Imports only :mod:`music_genre.data` (the MP3 frame parser, lazily).
"""

from __future__ import annotations

import numpy as np

FAULT_KINDS = ("empty_file", "truncated", "too_short", "missing_file")
_TRUNCATE_AT = 0.4  # the truncated MP3 keeps this fraction of its bytes


def _choose_faults(
    candidates: dict[int, str], genres: list[str], rng: np.random.Generator
) -> dict[str, list[int]]:
    """One track per fault kind among ``candidates`` ({track_id: genre_top}), spread over the genres.

    Draws from ``rng`` in a fixed order (part of the sample's seeded sequence: see ``_build_metadata``).
    """
    faults: dict[str, list[int]] = {kind: [] for kind in FAULT_KINDS}
    order = [genres[int(i)] for i in rng.permutation(len(genres))]
    chosen: set[int] = set()
    for k, kind in enumerate(FAULT_KINDS):
        for genre in order[k % len(order) :] + order[: k % len(order)]:
            pool = sorted(t for t, top in candidates.items() if top == genre and t not in chosen)
            if pool:
                track_id = int(pool[int(rng.integers(len(pool)))])
                chosen.add(track_id)
                faults[kind].append(track_id)
                break
        else:
            raise ValueError(
                "too few small training tracks to plant the faults: raise tracks_per_genre"
            )
    return faults


def _truncate_mid_frame(data: bytes, fraction: float) -> bytes:
    """Cut MP3 bytes at ``fraction`` of their length, nudged so the cut never falls on a frame boundary."""
    from music_genre.data.audio import _mpeg_frame_length

    cut = int(len(data) * fraction)
    boundaries, pos = set(), 0
    while pos < len(data):
        length = _mpeg_frame_length(data, pos)
        if length <= 4:
            break
        boundaries.add(pos)
        pos += length
    while cut in boundaries or cut - 1 in boundaries or cut + 1 in boundaries:
        cut += 97
    return data[:cut]


def _short_seconds(clip_seconds: float) -> float:
    return round(min(3.0, clip_seconds / 4.0), 3)
