"""A test music library made from real clips: the files converted to MP3, FLAC, Ogg Vorbis and M4A,
tagged with mutagen the way people tag (spellings varied, several values, a fifth untagged, some tags
planted wrong), plus files that are not music (espeak-ng speech in several voices and languages, noise,
a hum, a sweep, clicks, near-silence). For the tests and ``benchmarks/library.py``; the truth table says
what each file really is.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

# The spellings a genre's files are tagged with, in turn (the first is the plain one).
SPELLINGS = {
    "blues": ["Blues", "blues", "BLUES", "Blues; Rock"],
    "classical": ["Classical", "classical", "Opera", "Classical/Symphony"],
    "country": ["Country", "country", "Country & Western", "COUNTRY"],
    "disco": ["Disco", "disco", "Disco, Pop", "DISCO"],
    "hiphop": ["Hip-Hop", "hip hop", "Rap", "HIPHOP"],
    "jazz": ["Jazz", "jazz", "Jazz; Blues", "JAZZ"],
    "metal": ["Metal", "Heavy metal", "Death-Metal", "METAL"],
    "pop": ["Pop", "pop", "POP", "Pop/Disco"],
    "reggae": ["Reggae", "reggae", "REGGAE", "Reggae"],
    "rock": ["Rock", "rock", "Classic Rock", "ROCK"],
}
# A wrong tag planted on a few files: genre -> the wrong genre (a spelling of it).
WRONG = {"classical": "Metal", "metal": "Classical", "jazz": "Hip-Hop", "reggae": "Rock"}
FORMATS = (".mp3", ".flac", ".ogg", ".m4a")
ODD_FAMILIES = (
    "speech",
    "white_noise",
    "brown_noise",
    "tone",
    "hum",
    "sweep",
    "clicks",
    "near_silence",
)
SPEECH = (("en", "The history of the Roman empire, chapter one."),
          ("de", "Willkommen zu unserem Podcast über Wissenschaft."),
          ("fr", "Ceci est un mémo vocal pour la réunion de demain."),
          ("es", "Capítulo dos: el viaje comienza al amanecer."))  # fmt: skip
RATE = 22050
# Each 30 s clip gives two 21 s tracks (ingestion's minimum is 20 s), overlapping by 12 s, of one album.
SEGMENT_SECONDS = 21.0
SEGMENTS = (0.0, 9.0)


def _encode(signal: np.ndarray, rate: int, target: Path) -> None:
    import soundfile as sf

    suffix = target.suffix.lower()
    if suffix == ".m4a":
        wav = target.with_suffix(".tmp.wav")
        sf.write(wav, signal, rate)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", "-b:a", "96k",
                        str(target)], check=True)  # fmt: skip
        wav.unlink()
    elif suffix == ".ogg":
        sf.write(target, signal, rate, format="OGG", subtype="VORBIS")
    elif suffix == ".mp3":
        sf.write(target, signal, rate, format="MP3")
    else:
        sf.write(target, signal, rate)


def _tag(path: Path, genre: str | None, artist: str, album: str, title: str) -> None:
    """Tag a file in its own format; ``genre`` may hold several values (';', '/', ', ')."""
    import mutagen
    from mutagen.id3 import TALB, TCON, TIT2, TPE1

    loaded = mutagen.File(str(path))
    if loaded.tags is None:
        loaded.add_tags()
    tags = loaded.tags
    suffix = path.suffix.lower()
    if suffix in (".mp3", ".wav"):
        for frame in (TPE1(encoding=3, text=[artist]), TALB(encoding=3, text=[album]),
                      TIT2(encoding=3, text=[title])):  # fmt: skip
            tags.add(frame)
        if genre:
            tags.add(TCON(encoding=3, text=[genre]))
        loaded.save(v2_version=3 if hash(title) % 2 else 4)
    elif suffix == ".m4a":
        tags["\xa9ART"], tags["\xa9alb"], tags["\xa9nam"] = [artist], [album], [title]
        if genre:
            tags["\xa9gen"] = [genre]
        loaded.save()
    else:
        tags["ARTIST"], tags["ALBUM"], tags["TITLE"] = [artist], [album], [title]
        if genre:
            tags["GENRE"] = [g.strip() for g in genre.split(";")]  # several comments
        loaded.save()


def odd_signal(family: str, seed: int, seconds: float = SEGMENT_SECONDS) -> np.ndarray:
    """A 21 s input that is not music, of one family (not speech: see :func:`speech_signal`)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    if family == "white_noise":
        return (0.2 * rng.standard_normal(n)).astype("float32")
    if family == "brown_noise":
        walk = np.cumsum(rng.standard_normal(n))
        walk -= np.linspace(walk[0], walk[-1], n)
        return (0.5 * walk / np.abs(walk).max()).astype("float32")
    if family == "tone":
        return (0.3 * np.sin(2 * np.pi * rng.uniform(200, 2000) * t)).astype("float32")
    if family == "hum":
        base = rng.choice([50.0, 60.0])
        hum = sum(np.sin(2 * np.pi * base * k * t) / k for k in range(1, 6))
        return (0.2 * hum + 0.01 * rng.standard_normal(n)).astype("float32")
    if family == "sweep":
        f0, f1 = 50.0, 8000.0
        phase = 2 * np.pi * f0 * seconds / np.log(f1 / f0) * ((f1 / f0) ** (t / seconds) - 1)
        return (0.3 * np.sin(phase)).astype("float32")
    if family == "clicks":
        out = np.zeros(n)
        out[rng.integers(0, n, size=int(seconds * rng.uniform(2, 8)))] = 0.8
        return out.astype("float32")
    if family == "near_silence":
        return (10 ** (-50 / 20) * rng.standard_normal(n)).astype("float32")
    raise ValueError(f"unknown odd family {family!r}")


def speech_signal(voice: str, text: str, seconds: float = SEGMENT_SECONDS) -> np.ndarray:
    """espeak-ng reading ``text`` in ``voice`` over and over, for ``seconds``."""
    import tempfile

    import soundfile as sf
    import soxr

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
        data, rate = sf.read(wav, dtype="float32")
    data = soxr.resample(data, rate, RATE) if rate != RATE else data
    reps = int(np.ceil(seconds * RATE / (len(data) + RATE // 2)))
    pause = np.zeros(RATE // 2, dtype="float32")
    return np.concatenate([np.concatenate([data, pause])] * reps)[: int(seconds * RATE)]


def build_test_library(clips_root: str | Path, out: str | Path, seed: int = 0) -> pd.DataFrame:
    """Write the test library under ``out`` from ``clips_root/<genre>/*.wav``; return its truth table:
    path, kind (music or an odd family), true genre, the tag written (None: untagged), planted_wrong."""
    import soundfile as sf

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    has_ffmpeg = shutil.which("ffmpeg") is not None
    formats = [f for f in FORMATS if has_ffmpeg or f != ".m4a"]
    rows = []
    clips = sorted(Path(clips_root).glob("*/*.wav"))
    rng = np.random.default_rng(seed)
    planted = set()
    for (
        genre
    ) in WRONG:  # one planted wrong tag per genre of WRONG: a tagged clip (not the untagged one)
        own = [i for i, c in enumerate(clips) if c.parent.name == genre and i % 5 != 4]
        planted.add(own[int(rng.integers(len(own)))])
    for i, clip in enumerate(clips):
        genre = clip.parent.name
        signal, rate = sf.read(clip, dtype="float32")
        number = int(clip.stem.split(".")[-1])
        artist = f"{genre.title()} Artist {number // 2}"
        album = f"{genre.title()} {number}"  # a clip is an album: its two tracks share one split
        untagged = i % 5 == 4
        for part, start in enumerate(SEGMENTS):
            piece = signal[int(start * rate) : int((start + SEGMENT_SECONDS) * rate)]
            suffix = formats[(i + part) % len(formats)]
            target = out / artist / album / f"{clip.stem}.{part + 1}{suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            _encode(piece, rate, target)
            wrong = i in planted and part == 0
            tag = (
                None
                if untagged
                else (WRONG[genre] if wrong else SPELLINGS[genre][(number + part) % 4])
            )
            _tag(target, tag, artist, album, f"{clip.stem} part {part + 1}")
            rows.append({"path": str(target), "kind": "music", "genre": genre, "tag": tag,
                         "planted_wrong": wrong, "clip": str(clip)})  # fmt: skip
    odd = out / "Voice memos and odd files"
    odd.mkdir(exist_ok=True)
    for j, family in enumerate(ODD_FAMILIES):
        for k in range(4):
            if family == "speech":
                voice, text = SPEECH[k]
                signal = speech_signal(voice, text)
            else:
                signal = odd_signal(family, seed * 100 + j * 10 + k)
            target = odd / f"{family}_{k}{formats[(j + k) % len(formats)]}"
            _encode(signal, RATE, target)
            tag = "Podcast" if family == "speech" and k % 2 else None
            _tag(target, tag, "Unknown", "Odd files", target.stem)
            rows.append({"path": str(target), "kind": family, "genre": None, "tag": tag,
                         "planted_wrong": False, "clip": None})  # fmt: skip
    return pd.DataFrame(rows)
