"""From synthesized samples to the MP3 files on disk: encoding, and writing every clip of the sample.

Why a module of its own: the clips are the slow part of the sample (a synthesis and an MP3 encoding per
track) and the one place where the metadata, the synthesis and the planted faults meet. Each clip draws
from its own generator (seed, 7, track id), so it does not depend on any other clip. ``lameenc`` loads
only when encoding.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from music_genre.data import fma

from .faults import _TRUNCATE_AT, _short_seconds, _truncate_mid_frame
from .files import _write_bytes
from .synthesis import synthesize_clip

log = logging.getLogger(__name__)


def encode_mp3(stereo: np.ndarray, sample_rate: int = 44100, bit_rate_kbps: int = 256) -> bytes:
    """Float stereo samples (n, 2) in [-1, 1] to constant-bit-rate MP3 bytes (no tags: deterministic)."""
    import lameenc  # heavy import only when encoding

    pcm = np.clip(np.round(stereo * 32767.0), -32768, 32767).astype("<i2")
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(int(bit_rate_kbps))
    encoder.set_in_sample_rate(int(sample_rate))
    encoder.set_out_sample_rate(int(sample_rate))
    encoder.set_channels(int(pcm.shape[1]) if pcm.ndim == 2 else 1)
    encoder.set_quality(7)
    encoder.silence()
    data = bytes(encoder.encode(np.ascontiguousarray(pcm).tobytes()))
    return data + bytes(encoder.flush())


def _write_audio(audio_root: Path, tracks: pd.DataFrame, faults: dict, mixes: dict, params: dict):
    """Synthesize and encode every clip (planting the faults); returns {relpath: size} of written files."""
    seconds = params["clip_seconds"]
    short_seconds = _short_seconds(seconds)
    kind_of = {tid: kind for kind, ids in faults.items() for tid in ids}
    files: dict[str, int] = {}
    from music_genre.common.progress import ProgressLog

    # A bar in a terminal, a few log lines otherwise: the sample takes a minute.
    progress = ProgressLog(len(tracks), "Synthesizing the sample", log, unit="clips")
    for track_id in tracks.index:
        progress.update()  # the clips before this one are written
        kind = kind_of.get(track_id)
        if kind == "missing_file":
            continue
        relpath = fma.audio_relpath(track_id)
        path = audio_root / relpath
        if kind == "empty_file":
            data = b""
        else:
            rng = np.random.default_rng([params["seed"], 7, int(track_id)])
            clip_len = short_seconds if kind == "too_short" else seconds
            stereo = synthesize_clip(mixes[track_id], rng, clip_len, params["sample_rate"])
            data = encode_mp3(stereo, params["sample_rate"], params["bit_rate_kbps"])
            if kind == "truncated":
                data = _truncate_mid_frame(data, _TRUNCATE_AT)
        _write_bytes(path, data)
        files[relpath] = len(data)
    progress.close()
    return files
