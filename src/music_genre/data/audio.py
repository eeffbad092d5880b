"""Decode and probe audio files.

One code path for training, batch inference and the CLI: every caller gets the same mono float32 signal at
the same sample rate, and every unusable file raises :class:`AudioError` with a short reason code and a
one-line message instead of a traceback. No Kedro or Ray in here.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

AUDIO_EXTENSIONS = (".mp3", ".wav", ".ogg", ".flac", ".au", ".opus", ".aiff", ".aif", ".m4a")
# Formats libsndfile cannot decode: ffmpeg decodes them (a one-line reason when it is not installed).
FFMPEG_ONLY = (".m4a", ".mp4", ".aac")

# Reason codes shared by the exclusions table, the extraction-failures table and the CLI.
MISSING_FILE = "missing_file"
EMPTY_FILE = "empty_file"
UNREADABLE = "unreadable"
TRUNCATED = "truncated"
TOO_SHORT = "too_short"
DECODE_ERROR = "decode_error"
NOT_FINITE = "not_finite"  # features (an embedding) that came out NaN or infinite
SILENT = "silent"  # nothing above the silence floor: no music to classify (serving only)


class AudioError(Exception):
    """An audio file that cannot be used: ``reason`` is a stable code, ``str(err)`` one readable line."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class AudioInfo:
    """What a cheap look at a file's header (and its tail) tells."""

    duration: float
    sample_rate: int
    channels: int
    frames: int


def is_audio_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def _soundfile():
    import soundfile  # heavy import kept off the CLI's --help path

    return soundfile


@contextlib.contextmanager
def _native_stderr_silenced():
    """libsndfile's MP3 decoder (mpg123) prints notes such as "Illegal Audio-MPEG-Header" straight to
    file descriptor 2; a bad file must end as our one-line reason, not a screen of decoder chatter."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _check_exists(path: Path) -> int:
    if not path.exists():
        raise AudioError(MISSING_FILE, "file not found")
    if not path.is_file():
        raise AudioError(UNREADABLE, "not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise AudioError(EMPTY_FILE, "file is empty (0 bytes)")
    return size


def probe(path: str | os.PathLike, min_duration: float = 0.0) -> AudioInfo:
    """Check a file cheaply: it exists, is not empty, has a readable header, is not cut off, is long enough.

    Reads the header and a few kilobytes at the end, never the whole file, so it costs milliseconds.
    """
    path = Path(path)
    _check_exists(path)
    if path.suffix.lower() in FFMPEG_ONLY:
        data, rate = _ffmpeg_decode(path)
        duration = data.shape[0] / rate
        if duration < min_duration:
            raise AudioError(
                TOO_SHORT, f"too short: {duration:.1f} s is under the {min_duration:g} s minimum"
            )
        return AudioInfo(round(duration, 3), int(rate), int(data.shape[1]), int(data.shape[0]))
    sf = _soundfile()
    try:
        with _native_stderr_silenced():
            info = sf.info(str(path))
    except (
        Exception
    ) as err:  # libsndfile says "does not exist" for a corrupt file: name the real fault
        raise AudioError(
            UNREADABLE, "no readable audio header: not a supported audio file, or corrupt"
        ) from err
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioError(UNREADABLE, "the header announces no audio frames")
    duration = info.frames / info.samplerate

    if path.suffix.lower() == ".mp3":
        cut = mp3_truncated_bytes(path)
        if cut:
            raise AudioError(
                TRUNCATED,
                f"truncated MP3: the last frame is cut off ({cut} bytes missing at the end)",
            )
    readable = _tail_readable_seconds(path, info.frames, info.samplerate)
    if readable is not None:
        raise AudioError(
            TRUNCATED,
            f"truncated: the header announces {duration:.1f} s but the audio stops "
            f"{readable:.1f} s before that",
        )
    if duration < min_duration:
        raise AudioError(
            TOO_SHORT, f"too short: {duration:.1f} s is under the {min_duration:g} s minimum"
        )
    return AudioInfo(
        duration=round(duration, 3),
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
    )


# How far the audio may stop short of the length its header announces and still count as whole. An MP3
# without a Xing/Info frame has no frame count: libsndfile estimates the length from the file's size and
# bit rate, which overshoots by a few frames (0.1 s on 64 kb/s mono files from lameenc, measured); a file
# cut off in transfer misses far more (and a cut mid-frame is caught by mp3_truncated_bytes).
LENGTH_SLACK_SECONDS = 0.25


def _tail_readable_seconds(path: Path, frames: int, sample_rate: int) -> float | None:
    """Seek near the announced end and read: ``None`` if the tail is there (within
    :data:`LENGTH_SLACK_SECONDS`), else how much is missing."""
    sf = _soundfile()
    want = min(frames, sample_rate // 2)
    try:
        with _native_stderr_silenced(), sf.SoundFile(str(path)) as handle:
            handle.seek(frames - want)
            got = handle.read(want, dtype="float32", always_2d=True).shape[0]
    except Exception:
        got = 0
    missing = (want - got) / sample_rate
    if missing <= LENGTH_SLACK_SECONDS:
        return None
    return missing


# MPEG audio frame header tables (ISO 11172-3 / 13818-3), used to spot a file cut off mid-frame.
_BITRATES_KBPS = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {1: (44100, 48000, 32000), 2: (22050, 24000, 16000), 25: (11025, 12000, 8000)}


def _mpeg_frame_length(buf: bytes, pos: int) -> int:
    """Length in bytes of the MPEG audio frame whose header starts at ``pos``, or 0 if none starts there."""
    if pos + 4 > len(buf) or buf[pos] != 0xFF or (buf[pos + 1] & 0xE0) != 0xE0:
        return 0
    version_bits = (buf[pos + 1] >> 3) & 0x3
    layer_bits = (buf[pos + 1] >> 1) & 0x3
    bitrate_index = buf[pos + 2] >> 4
    rate_index = (buf[pos + 2] >> 2) & 0x3
    padding = (buf[pos + 2] >> 1) & 0x1
    if version_bits == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return 0
    version = {3: 1, 2: 2, 0: 25}[version_bits]
    layer = 4 - layer_bits
    bitrate = _BITRATES_KBPS[(1 if version == 1 else 2, layer)][bitrate_index] * 1000
    sample_rate = _SAMPLE_RATES[version][rate_index]
    if layer == 1:
        return (12 * bitrate // sample_rate + padding) * 4
    if layer == 3 and version != 1:
        return 72 * bitrate // sample_rate + padding
    return 144 * bitrate // sample_rate + padding


def mp3_truncated_bytes(path: str | os.PathLike, tail_bytes: int = 65536) -> int:
    """How many bytes the last MPEG frame of an MP3 lacks (0 when it is whole or when unsure).

    Walks a chain of frame headers through the file's last ``tail_bytes``; only a chain of several valid
    frames whose last one runs past the end of the file counts as truncation, so stray sync bytes and
    trailing tags never raise a false alarm.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(max(0, size - tail_bytes))
        buf = handle.read()
    end = len(buf)
    if end >= 128 and buf[end - 128 : end - 125] == b"TAG":  # ID3v1 tag after the audio
        end -= 128
    for start in range(0, max(0, end - 4)):
        pos, frames = start, 0
        while pos < end:
            length = _mpeg_frame_length(buf, pos)
            if length <= 4:
                break
            pos += length
            frames += 1
        if frames >= 4:
            if pos > end:
                return pos - end
            if pos == end:
                return 0
    return 0


def load(
    path: str | os.PathLike,
    sample_rate: int | None = 22050,
    offset: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Decode a file (or a window of it) to a mono float32 signal at ``sample_rate`` (None = native).

    Channels are averaged, resampling uses soxr's high-quality mode: the same numbers whoever calls.
    """
    signal, _ = load_with_rate(path, sample_rate, offset, duration)
    return signal


def load_with_rate(
    path: str | os.PathLike,
    sample_rate: int | None = 22050,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """Like :func:`load`, also returning the rate of the signal (the native one when ``sample_rate`` is None)."""
    path = Path(path)
    _check_exists(path)
    sf = _soundfile()
    try:
        if path.suffix.lower() in FFMPEG_ONLY:
            whole, native_rate = _ffmpeg_decode(path)
            start = int(round(offset * native_rate))
            stop = None if duration is None else start + int(round(duration * native_rate))
            data = whole[start:stop]
        else:
            data, native_rate = _read_soundfile(sf, path, offset, duration)
    except AudioError:
        raise
    except Exception as err:
        raise AudioError(DECODE_ERROR, f"cannot decode audio: {_one_line(err)}") from err
    return _finish(data, native_rate, sample_rate)


def _ffmpeg_decode(path: Path) -> tuple[np.ndarray, int]:
    """The whole file as float32 ``(frames, channels)`` at its native rate, decoded by ffmpeg."""
    import json
    import shutil
    import subprocess

    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        raise AudioError(DECODE_ERROR, f"{path.suffix} files need ffmpeg (apt-get install ffmpeg)")
    probe_cmd = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                 "stream=sample_rate,channels", "-of", "json", str(path)]  # fmt: skip
    found = subprocess.run(probe_cmd, capture_output=True, text=True, check=False)
    streams = json.loads(found.stdout or "{}").get("streams") or []
    if found.returncode or not streams:
        raise AudioError(
            UNREADABLE, "no readable audio header: not a supported audio file, or corrupt"
        )
    rate, channels = int(streams[0]["sample_rate"]), int(streams[0]["channels"])
    decoded = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-acodec", "pcm_f32le", "-"],
        capture_output=True,
        check=False,
    )
    if decoded.returncode:
        raise AudioError(DECODE_ERROR, f"cannot decode audio: {_one_line(decoded.stderr.decode())}")
    data = np.frombuffer(decoded.stdout, dtype="<f4").reshape(-1, channels)
    if data.shape[0] == 0:
        raise AudioError(UNREADABLE, "the header announces no audio frames")
    return data, rate


def _read_soundfile(sf, path: Path, offset: float, duration: float | None):
    with _native_stderr_silenced(), sf.SoundFile(str(path)) as handle:
        native_rate = handle.samplerate
        start = int(round(offset * native_rate))
        if start:
            handle.seek(min(start, handle.frames))
        count = -1 if duration is None else int(round(duration * native_rate))
        data = handle.read(count, dtype="float32", always_2d=True)
    return data, native_rate


def _finish(data: np.ndarray, native_rate: int, sample_rate: int | None) -> tuple[np.ndarray, int]:
    if data.shape[0] == 0:
        raise AudioError(DECODE_ERROR, "decoded no audio samples")
    signal = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(signal)):
        raise AudioError(DECODE_ERROR, "decoded samples are not finite numbers")
    rate = native_rate
    if sample_rate and sample_rate != native_rate:
        import soxr

        signal = soxr.resample(signal, native_rate, sample_rate, quality="HQ")
        rate = sample_rate
    return np.ascontiguousarray(signal, dtype=np.float32), int(rate)


def loudest_dbfs(signal: np.ndarray, sample_rate: int, window_seconds: float = 0.05) -> float:
    """The RMS level of the loudest ``window_seconds`` of a signal, in dB relative to full scale (a
    full-scale sine reads -3; digital silence -inf). A short-window RMS rather than the peak: one click in
    silence stays silence, and a quiet but real recording is judged by its loudest moment."""
    signal = np.asarray(signal, dtype=np.float64)
    if signal.size == 0:
        return float("-inf")
    size = max(1, int(round(window_seconds * sample_rate)))
    padded = np.pad(signal, (0, (-signal.size) % size))
    power = float((padded.reshape(-1, size) ** 2).mean(axis=1).max())
    return 10.0 * float(np.log10(power)) if power > 0 else float("-inf")


def check_not_silent(
    signals: list[np.ndarray],
    sample_rate: int,
    floor_dbfs: float | None,
    window_seconds: float = 0.05,
) -> float:
    """Raise :class:`AudioError` ``silent`` when no window of ``signals`` (the decoded parts of one file)
    rises above ``floor_dbfs`` (None: no check); else return the loudest level."""
    level = max(
        (loudest_dbfs(s, sample_rate, window_seconds) for s in signals), default=float("-inf")
    )
    if floor_dbfs is not None and level < float(floor_dbfs):
        heard = (
            "digital silence"
            if level == float("-inf")
            else f"its loudest moment is {level:.0f} dBFS"
        )
        raise AudioError(
            SILENT,
            f"silent: {heard}, under the {float(floor_dbfs):g} dBFS floor: no music to classify",
        )
    return level


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


def fingerprint(path: str | os.PathLike, edge_bytes: int = 4096) -> str:
    """A cheap content key (size + first and last bytes): survives copies and moves, changes when the
    audio is replaced, so feature caches never serve stale rows for a regenerated or re-downloaded file."""
    import hashlib

    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.blake2b(str(size).encode(), digest_size=12)
    with open(path, "rb") as handle:
        digest.update(handle.read(edge_bytes))
        if size > edge_bytes:
            handle.seek(max(edge_bytes, size - edge_bytes))
            digest.update(handle.read(edge_bytes))
    return digest.hexdigest()


def find_audio_files(root: str | os.PathLike) -> list[Path]:
    """Every audio file under ``root`` (recursively), sorted, by extension."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.is_file() and is_audio_path(p))
