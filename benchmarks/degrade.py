"""A folder-per-genre collection that "behaves differently": the same clips, degraded, genres kept.

    python benchmarks/degrade.py --out /tmp/degraded                       # both: band-limited, then MP3
    python benchmarks/degrade.py --root /abs/genres --out /tmp/phone --mode bandlimit
    python benchmarks/degrade.py --out /tmp/lofi --mode mp3 --bitrate 64
    python benchmarks/user_path.py --root /tmp/degraded                    # the user path on it

Modes (every clip of ``--root/<genre>/`` is read, mixed down to mono, and written to ``--out/<genre>/``
under the same stem):

* ``bandlimit``: a Butterworth band-pass (``--highpass`` 150 Hz to ``--lowpass`` 4,500 Hz, order 4 each
  side, causal as a phone line or an old recording), written as 16-bit WAV at the clip's rate;
* ``mp3``: re-encoded as ``--bitrate`` 64 kb/s mono MP3 (constant bit rate) at the clip's rate;
* ``both``: band-limited, then MP3.

The MP3 encoder is the first available of: ffmpeg (libmp3lame) on PATH, the ``lameenc`` package, libsndfile's
own MPEG writer through ``soundfile`` (libsndfile >= 1.1). Peak levels are kept under full scale after
filtering. A clip that cannot be read is reported and skipped.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_ROOT = Path("/work/shared/data/gtzan_subset")
EXTENSIONS = (".mp3", ".wav", ".ogg", ".flac", ".au")


def clips(root: Path) -> list[tuple[Path, str]]:
    found = []
    for genre_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(genre_dir.rglob("*")):
            if path.is_file() and path.suffix.lower() in EXTENSIONS:
                found.append((path, genre_dir.name))
    return found


def read_mono(path: Path):
    import numpy as np
    import soundfile as sf

    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(audio.mean(axis=1)), int(rate)


def band_limit(audio, rate: int, low_hz: float, high_hz: float, order: int = 4):
    import numpy as np
    from scipy import signal

    high_hz = min(high_hz, 0.45 * rate)
    sos = np.vstack(
        [
            signal.butter(order, low_hz, btype="highpass", fs=rate, output="sos"),
            signal.butter(order, high_hz, btype="lowpass", fs=rate, output="sos"),
        ]
    )
    return signal.sosfilt(sos, audio).astype("float32")


def to_int16(audio):
    import numpy as np

    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 0.99:
        audio = audio * (0.99 / peak)
    return (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")


def mp3_encoder() -> str:
    if shutil.which("ffmpeg"):
        return "ffmpeg"
    try:
        import lameenc  # noqa: F401
    except ImportError:
        pass
    else:
        return "lameenc"
    try:
        import soundfile as sf
    except ImportError:
        pass
    else:
        if "MP3" in sf.available_formats():
            return "soundfile"
    raise SystemExit(
        "error: no MP3 encoder: install ffmpeg, or `pip install lameenc`, or libsndfile >= 1.1"
    )


def write_mp3(path: Path, audio, rate: int, bitrate: int, encoder: str) -> None:
    samples = to_int16(audio)
    if encoder == "lameenc":
        import lameenc

        lame = lameenc.Encoder()
        lame.set_bit_rate(bitrate)
        lame.set_in_sample_rate(rate)
        lame.set_channels(1)
        lame.set_quality(2)
        path.write_bytes(bytes(lame.encode(samples.tobytes()) + lame.flush()))
    elif encoder == "ffmpeg":
        import soundfile as sf

        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "in.wav"
            sf.write(str(wav), samples, rate, subtype="PCM_16")
            subprocess.run(
                ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), "-ac", "1"]
                + ["-codec:a", "libmp3lame", "-b:a", f"{bitrate}k", str(path)],
                check=True,
            )
    else:  # libsndfile's MPEG writer: constant bit rate through compression_level
        import soundfile as sf

        # libsndfile maps compression_level 0..1 linearly onto LAME's bit-rate range, highest to lowest:
        # 320..32 kb/s (MPEG-1, >= 32 kHz), 160..8 (MPEG-2, 16-24 kHz), 64..8 (MPEG-2.5, below)
        top, bottom = (320, 32) if rate >= 32000 else (160, 8) if rate >= 16000 else (64, 8)
        level = min(1.0, max(0.0, (top - bitrate) / (top - bottom)))
        sf.write(
            str(path),
            samples,
            rate,
            format="MP3",
            subtype="MPEG_LAYER_III",
            compression_level=level,
            bitrate_mode="CONSTANT",
        )


def degrade(args: argparse.Namespace) -> int:
    import soundfile as sf

    found = clips(args.root)
    if not found:
        print(f"error: no audio files one folder below {args.root}", file=sys.stderr)
        return 2
    encoder = mp3_encoder() if args.mode in ("mp3", "both") else None
    written = failed = 0
    for path, genre in found:
        try:
            audio, rate = read_mono(path)
        except Exception as error:  # one unreadable clip is reported and skipped
            print(f"skipped {path}: {error}", file=sys.stderr)
            failed += 1
            continue
        if args.mode in ("bandlimit", "both"):
            audio = band_limit(audio, rate, args.highpass, args.lowpass)
        target_dir = args.out / genre
        target_dir.mkdir(parents=True, exist_ok=True)
        if encoder is not None:
            write_mp3(target_dir / f"{path.stem}.mp3", audio, rate, args.bitrate, encoder)
        else:
            sf.write(str(target_dir / f"{path.stem}.wav"), to_int16(audio), rate, subtype="PCM_16")
        written += 1
    what = {
        "bandlimit": f"band-limited {args.highpass:g}-{args.lowpass:g} Hz, 16-bit WAV",
        "mp3": f"{args.bitrate} kb/s mono MP3 ({encoder})",
        "both": f"band-limited {args.highpass:g}-{args.lowpass:g} Hz, then {args.bitrate} kb/s mono "
        f"MP3 ({encoder})",
    }[args.mode]
    genres = len({genre for _, genre in found})
    print(f"{written} clips, {genres} genres -> {args.out}: {what}; {failed} skipped")
    return 0 if written else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, default=DEFAULT_ROOT, help="<root>/<genre>/*.wav|mp3|..."
    )
    parser.add_argument("--out", type=Path, required=True, help="written as <out>/<genre>/<stem>.*")
    parser.add_argument("--mode", choices=("mp3", "bandlimit", "both"), default="both")
    parser.add_argument("--bitrate", type=int, default=64, help="kb/s, MP3 modes")
    parser.add_argument("--lowpass", type=float, default=4500.0, help="Hz, upper edge of the band")
    parser.add_argument("--highpass", type=float, default=150.0, help="Hz, lower edge of the band")
    args = parser.parse_args(argv)
    if args.out.resolve() == args.root.resolve():
        parser.error("--out must differ from --root")
    return degrade(args)


if __name__ == "__main__":
    sys.exit(main())
