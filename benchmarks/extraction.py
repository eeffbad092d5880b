"""Feature-extraction cost per clip on ONE core, every recipe on the same clips in one run.

    python benchmarks/extraction.py --clips 8
    python benchmarks/extraction.py --files a.mp3 b.mp3 --repeat 5
    python benchmarks/extraction.py --dir /path/to/fma_small/000 --clips 20 --format native

Measurements (one function each, ``MEASUREMENTS`` below; the Ray and memory sections plug in the same way):

(0) ``decode``: ``music_genre.data.audio.load`` alone (soundfile decode, channel mean, soxr HQ to 22,050 Hz).
(a) ``ours``: ``music_genre.features.extract_file`` with default settings: decode included, 518 FMA columns
    + tempo, one STFT, one CQT.
(b) ``course``: the "course project" recipe (docs/anchors.md: 89 librosa features, ~0.42 s per clip on one
    core): ``librosa.load(sr=22050)``, then every feature is its own librosa call on the waveform, so each
    call recomputes its own STFT. Its 89 columns, mean and var over the frames of every row:
      chroma_stft 12 bins (24), rms (2), spectral_centroid (2), spectral_bandwidth (2), spectral_rolloff (2),
      zero_crossing_rate (2), mfcc 1-20 (40), spectral_contrast 7 bands (14), and tempo (1) = 89.
    Why this set: it is what the anchor's cost implies (these calls add up to the measured ~0.42 s; GTZAN's
    HPSS "harmony/perceptr" columns alone would add ~1.6 s, tonnetz(y) and chroma_cens(y) ~0.25 s each,
    which would flatter the comparison).
(c) ``fma``: FMA's own ``features.py`` (mdeff/fma), call for call on today's librosa: ``librosa.load(sr=None)``
    (native rate), ``librosa.cqt(tuning=None)`` 84 bins shared by chroma_cqt/chroma_cens/tonnetz, one
    ``|librosa.stft|`` shared by the rest, 518 columns filled through a pandas MultiIndex, scipy.stats
    statistics. (``bins_per_octave=12`` is passed to chroma_cqt/chroma_cens: librosa 0.5's default, which
    today's librosa changed to 36.)

Through Ray (``--ray``): the feature_engineering node's own code path (``music_genre.features.extraction``: batches as
Ray tasks, every finished batch written to the Parquet cache) on ``--tracks`` tracks cycled from the clips,
on a local Ray with 1 worker and then with every core; each run starts from an empty cache, after a
warm-up run that pays the workers' one-time imports. Prints tracks/s and the speed-up.

Memory (``--memory``): the same node path in a fresh process for ``--tracks`` and 10 x ``--tracks`` tracks;
a sampler sums the resident memory of that process and all its descendants (driver, Ray's daemons and
workers) every 50 ms and reports the peak of each run and their ratio.

Threads: BLAS/OpenMP/numba pools are pinned to one thread through environment variables set before numpy
is imported (and threadpoolctl when present), so the numbers are single-core costs.

Clips: by default the real clips in ../shared/data (the fma_small MP3 and GTZAN WAVs). With ``--format
fma-mp3`` (the default) every clip that is not already an MP3 is first re-encoded, once, outside the timed
region, as a 44.1 kHz stereo 256 kb/s MP3, FMA's format, so that decode + resample costs what it costs
on fma_small; ``--format native`` times the files as they are.

Timing: each measurement runs once untimed on the first clip (imports, filter banks), then ``--repeat``
passes over all clips, measurements interleaved pass by pass; per clip the best pass counts, and the table
shows the mean over clips of those per-clip bests (the machine is shared: the best pass is the least
disturbed one).
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
):
    os.environ[_var] = "1"  # before numpy/scipy/numba load: single-core numbers

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from _measure import peak_tree_rss  # noqa: E402  (benchmarks/_measure.py)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_SOURCES = (
    SHARED_DATA / "fma_excerpt" / "fma_small",
    SHARED_DATA / "gtzan_subset",
)


# ------------------------------------------------------------------------------------- measurements
def measure_decode(path: Path) -> object:
    """(0) decode + resample alone: the floor every recipe pays."""
    from music_genre.data import audio

    return audio.load(path)


def measure_ours(path: Path) -> object:
    """(a) this project's extractor, decode included."""
    from music_genre.features import extract_file

    return extract_file(path)


def measure_real(path: Path) -> object:
    """(r) the real-music set (``handcrafted+embedding``, 719 columns), decode included: what the gtzan and
    fma_* environments extract; the embedding on the CPU engine the backend picks (ONNX Runtime, or numpy
    where it cannot load). Needs the converted weights (models layer or $MUSIC_GENRE_WEIGHTS_DIR)."""
    from music_genre.features import FeatureSettings, extract_file

    return extract_file(path, FeatureSettings(feature_set="handcrafted+embedding"))


def measure_course(path: Path) -> object:
    """(b) the 89-column per-call recipe: every feature its own librosa call on the waveform."""
    import librosa

    y, sr = librosa.load(path, sr=22050)
    row: dict[str, float] = {}

    def mean_var(
        name: str, values: np.ndarray
    ) -> None:  # one mean and one var per row of ``values``
        for i, series in enumerate(np.atleast_2d(values), start=1):
            suffix = str(i) if len(np.atleast_2d(values)) > 1 else ""
            row[f"{name}{suffix}_mean"] = float(np.mean(series))
            row[f"{name}{suffix}_var"] = float(np.var(series))

    mean_var("chroma_stft", librosa.feature.chroma_stft(y=y, sr=sr))
    mean_var("rms", librosa.feature.rms(y=y))
    mean_var("spectral_centroid", librosa.feature.spectral_centroid(y=y, sr=sr))
    mean_var("spectral_bandwidth", librosa.feature.spectral_bandwidth(y=y, sr=sr))
    mean_var("rolloff", librosa.feature.spectral_rolloff(y=y, sr=sr))
    mean_var("zero_crossing_rate", librosa.feature.zero_crossing_rate(y))
    row["tempo"] = float(librosa.feature.tempo(y=y, sr=sr)[0])
    mean_var("mfcc", librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20))
    mean_var("spectral_contrast", librosa.feature.spectral_contrast(y=y, sr=sr))
    assert len(row) == 89, len(row)
    return row


def _fma_columns():
    import pandas as pd

    sizes = dict(
        chroma_stft=12,
        chroma_cqt=12,
        chroma_cens=12,
        tonnetz=6,
        mfcc=20,
        rmse=1,
        zcr=1,
        spectral_centroid=1,
        spectral_bandwidth=1,
        spectral_contrast=7,
        spectral_rolloff=1,
    )
    moments = ("mean", "std", "skew", "kurtosis", "median", "min", "max")
    columns = [
        (name, moment, f"{i + 1:02d}")
        for name, size in sizes.items()
        for moment in moments
        for i in range(size)
    ]
    return pd.MultiIndex.from_tuples(
        columns, names=("feature", "statistics", "number")
    ).sort_values()


def measure_fma(path: Path) -> object:
    """(c) mdeff/fma features.py's compute_features, call for call (librosa.rmse is now librosa.feature.rms)."""
    import librosa
    import pandas as pd
    from scipy import stats

    features = pd.Series(index=_fma_columns(), dtype=np.float32, name=str(path))

    def feature_stats(
        name, values
    ):  # float32 casts: pandas 3 refuses float64 into a float32 Series
        features[name, "mean"] = np.mean(values, axis=1).astype(np.float32)
        features[name, "std"] = np.std(values, axis=1).astype(np.float32)
        features[name, "skew"] = stats.skew(values, axis=1).astype(np.float32)
        features[name, "kurtosis"] = stats.kurtosis(values, axis=1).astype(np.float32)
        features[name, "median"] = np.median(values, axis=1).astype(np.float32)
        features[name, "min"] = np.min(values, axis=1).astype(np.float32)
        features[name, "max"] = np.max(values, axis=1).astype(np.float32)

    x, sr = librosa.load(path, sr=None, mono=True)
    f = librosa.feature.zero_crossing_rate(x, frame_length=2048, hop_length=512)
    feature_stats("zcr", f)
    cqt = np.abs(
        librosa.cqt(x, sr=sr, hop_length=512, bins_per_octave=12, n_bins=7 * 12, tuning=None)
    )
    f = librosa.feature.chroma_cqt(C=cqt, n_chroma=12, n_octaves=7, bins_per_octave=12)
    feature_stats("chroma_cqt", f)
    f = librosa.feature.chroma_cens(C=cqt, n_chroma=12, n_octaves=7, bins_per_octave=12)
    feature_stats("chroma_cens", f)
    f = librosa.feature.tonnetz(chroma=f)
    feature_stats("tonnetz", f)
    del cqt
    stft = np.abs(librosa.stft(x, n_fft=2048, hop_length=512))
    del x
    f = librosa.feature.chroma_stft(S=stft**2, n_chroma=12)
    feature_stats("chroma_stft", f)
    f = librosa.feature.rms(S=stft)
    feature_stats("rmse", f)
    f = librosa.feature.spectral_centroid(S=stft)
    feature_stats("spectral_centroid", f)
    f = librosa.feature.spectral_bandwidth(S=stft)
    feature_stats("spectral_bandwidth", f)
    f = librosa.feature.spectral_contrast(S=stft, n_bands=6)
    feature_stats("spectral_contrast", f)
    f = librosa.feature.spectral_rolloff(S=stft)
    feature_stats("spectral_rolloff", f)
    mel = librosa.feature.melspectrogram(sr=sr, S=stft**2)
    del stft
    f = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=20)
    feature_stats("mfcc", f)
    return features


# name -> (label for the table, function of one path). Order = row order of the table.
MEASUREMENTS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "decode": ("(0) decode + resample (audio.load, 22,050 Hz)", measure_decode),
    "ours": ("(a) ours: 518 FMA columns + tempo, decode incl.", measure_ours),
    "real": ("(r) real-music set: 719 columns, embedding incl.", measure_real),
    "course": ("(b) course recipe: 89 per-call librosa features", measure_course),
    "fma": ("(c) FMA features.py: 518 columns, native rate", measure_fma),
}


# ------------------------------------------------------------------------------- CQT alternatives
def _cqt_alternatives(
    sample_rate: int,
) -> dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """Candidate ways to get |CQT| (84 bins from C1, 12 per octave, hop 512) as (bins, frames); the second
    argument is the extractor's shared STFT, which only our transform uses."""
    import librosa

    from music_genre.features._cqt import constant_q_magnitude, constant_q_plan
    from music_genre.features._dsp import stft
    from music_genre.features._extract import C1_HZ

    plan = constant_q_plan(float(sample_rate), 2048, 512, 84, 12, 0.0, C1_HZ)
    sr = sample_rate
    return {
        "librosa.cqt(tuning=None) (FMA)": lambda y, X: np.abs(librosa.cqt(y, sr=sr, tuning=None)),
        "librosa.cqt(tuning=0)": lambda y, X: np.abs(librosa.cqt(y, sr=sr, tuning=0.0)),
        "librosa.cqt(tuning=0, soxr_lq)": lambda y, X: np.abs(
            librosa.cqt(y, sr=sr, tuning=0.0, res_type="soxr_lq")
        ),
        "librosa.cqt(tuning=0, polyphase)": lambda y, X: np.abs(
            librosa.cqt(y, sr=sr, tuning=0.0, res_type="polyphase")
        ),
        "librosa.hybrid_cqt(tuning=0)": lambda y, X: np.abs(
            librosa.hybrid_cqt(y, sr=sr, tuning=0.0)
        ),
        "librosa.pseudo_cqt(tuning=0)": lambda y, X: np.abs(
            librosa.pseudo_cqt(y, sr=sr, tuning=0.0)
        ),
        "ours, shared STFT given": lambda y, X: constant_q_magnitude(y, X, plan).T,
        "ours, its STFT included": lambda y, X: constant_q_magnitude(y, stft(y, 2048, 512), plan).T,
    }


def direct_cqt(y: np.ndarray, sample_rate: int, hop_length: int = 512) -> np.ndarray:
    """The definition: librosa's wavelets correlated with the full-rate signal in the time domain (no
    resampling, no sparsified kernels), scaled like librosa.cqt(scale=True). Slow; the reference only."""
    import librosa

    from music_genre.features._extract import C1_HZ

    freqs = C1_HZ * 2.0 ** (np.arange(84) / 12)
    alpha = librosa.filters._relative_bandwidth(freqs=freqs)
    basis, lengths = librosa.filters.wavelet(
        freqs=freqs, sr=sample_rate, alpha=alpha, pad_fft=False, dtype=np.complex128
    )
    n_frames = 1 + len(y) // hop_length
    width = basis.shape[1]
    padded = np.zeros((n_frames - 1) * hop_length + width)
    count = min(len(y), len(padded) - width // 2)
    padded[width // 2 : width // 2 + count] = y[:count]
    frames = np.lib.stride_tricks.sliding_window_view(padded, width)[::hop_length][:n_frames]
    out = np.empty((len(freqs), n_frames))
    for k, row in enumerate(basis):
        support = np.flatnonzero(row)
        lo, hi = support[0], support[-1] + 1
        out[k] = np.abs(frames[:, lo:hi] @ np.conj(row[lo:hi]))
    return out * np.sqrt(lengths)[:, None]


def compare_cqt(clips: Sequence[Path], repeat: int) -> None:
    """Time and error (vs the direct CQT) of each CQT alternative: the numbers behind _cqt's choice."""
    from music_genre.data import audio
    from music_genre.features._dsp import stft

    sample_rate = 22050
    signals = [audio.load(clip, sample_rate) for clip in clips]
    spectra = [stft(y, 2048, 512) for y in signals]
    references = [direct_cqt(y, sample_rate) for y in signals]
    alternatives = _cqt_alternatives(sample_rate)
    print(
        f"\nCQT alternatives, 84 bins, {sample_rate} Hz; error = per-bin relative L1 distance to the direct CQT"
    )
    print(f"{'alternative':<34}  {'ms/clip':>7}  {'median':>7}  {'max':>7}")
    for name, function in alternatives.items():
        function(signals[0], spectra[0])
        seconds, errors = [], []
        for y, spectrum, reference in zip(signals, spectra, references, strict=True):
            best = np.inf
            for _ in range(repeat):
                start = time.perf_counter()
                magnitude = function(y, spectrum)
                best = min(best, time.perf_counter() - start)
            seconds.append(best)
            n = min(magnitude.shape[1], reference.shape[1])
            errors.append(
                np.abs(magnitude[:, :n] - reference[:, :n]).sum(1) / reference[:, :n].sum(1)
            )
        errors = np.concatenate(errors)
        print(
            f"{name:<34}  {1000 * np.mean(seconds):7.1f}  {np.median(errors):7.2%}  {errors.max():7.2%}"
        )


# ------------------------------------------------------------------------------------------- clips
def find_clips(sources: Sequence[Path]) -> list[Path]:
    """Audio files under ``sources`` (files or folders), MP3s first, then one per folder in turn, so the
    first N clips mix genres."""
    from music_genre.data.audio import find_audio_files, is_audio_path

    groups: dict[Path, list[Path]] = {}
    for source in sources:
        files = [source] if source.is_file() and is_audio_path(source) else find_audio_files(source)
        for path in files:
            groups.setdefault(path.parent, []).append(path)
    mp3s = [p for files in groups.values() for p in files if p.suffix.lower() == ".mp3"]
    rest = [[p for p in files if p.suffix.lower() != ".mp3"] for files in groups.values()]
    ordered = list(mp3s)
    for i in range(max((len(r) for r in rest), default=0)):
        ordered.extend(r[i] for r in rest if i < len(r))
    return ordered


def as_fma_mp3(paths: Sequence[Path], folder: Path) -> list[Path]:
    """Re-encode every non-MP3 clip as a 44.1 kHz stereo 256 kb/s MP3 (FMA's format), untimed."""
    import lameenc
    import soxr

    from music_genre.data import audio

    out = []
    for path in paths:
        if path.suffix.lower() == ".mp3":
            out.append(path)
            continue
        signal, rate = audio.load_with_rate(path, None)
        if rate != 44100:
            signal = soxr.resample(signal, rate, 44100, quality="HQ")
        pcm = (np.clip(signal, -1, 1) * 32767).astype("<i2")
        encoder = lameenc.Encoder()
        encoder.set_bit_rate(256)
        encoder.set_in_sample_rate(44100)
        encoder.set_channels(2)
        encoder.set_quality(2)
        target = folder / f"{path.stem}.mp3"
        target.write_bytes(encoder.encode(np.repeat(pcm, 2).tobytes()) + encoder.flush())
        out.append(target)
    return out


# ------------------------------------------------------------------------------------------ timing
def pin_threads() -> str:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return "env vars only"
    threadpool_limits(1)
    return "env vars + threadpoolctl"


def time_per_clip(
    names: Sequence[str], clips: Sequence[Path], repeat: int, clock=time.perf_counter
) -> dict[str, np.ndarray]:
    """Best-of-``repeat`` seconds per clip for each measurement (after one untimed warm-up call), on
    ``clock`` (wall by default; ``--cpu-time``: the process's CPU time, the single-core cost on a busy
    machine, as every pool is pinned to one thread)."""
    for name in names:
        MEASUREMENTS[name][1](clips[0])
    best = {name: np.full(len(clips), np.inf) for name in names}
    for _ in range(repeat):
        for name in names:
            function = MEASUREMENTS[name][1]
            for i, clip in enumerate(clips):
                start = clock()
                function(clip)
                best[name][i] = min(best[name][i], clock() - start)
    return best


def print_table(seconds: dict[str, np.ndarray]) -> None:
    width = max(len(MEASUREMENTS[name][0]) for name in seconds)
    print(f"{'measurement':<{width}}  {'s/clip':>7}  {'min':>7}  {'max':>7}")
    for name, values in seconds.items():
        print(
            f"{MEASUREMENTS[name][0]:<{width}}  {values.mean():7.3f}  {values.min():7.3f}  {values.max():7.3f}"
        )
    mean = {name: values.mean() for name, values in seconds.items()}
    print()
    if "ours" in mean and "course" in mean:
        print(
            f"a/b  ours / course recipe      = {mean['ours'] / mean['course']:.2f}   (target <= 0.50)"
        )
    if "real" in mean and "course" in mean:
        from music_genre.features.embeddings import load_backend

        engine = load_backend("msd_musicnn").engine
        print(
            f"r/b  real-music set / course   = {mean['real'] / mean['course']:.2f}   (target <= 1.0, "
            f"moonshot 0.8; embedding on {engine})"
        )
    if "ours" in mean and "decode" in mean:
        print(
            f"a/0  ours / decode+resample    = {mean['ours'] / mean['decode']:.2f}   (target <= 3.0)"
        )
        print(
            f"     features alone / decode   = {(mean['ours'] - mean['decode']) / mean['decode']:.2f}"
        )
    if "ours" in mean and "fma" in mean:
        print(f"a/c  ours / FMA features.py    = {mean['ours'] / mean['fma']:.2f}")


# ------------------------------------------------------------------------------------ Ray and memory
def _track_table(clips: Sequence[Path], n_tracks: int):
    """``n_tracks`` manifest-like rows cycling over ``clips`` (distinct ids, so each is extracted)."""
    import pandas as pd

    from music_genre.data.audio import fingerprint

    prints = {clip: fingerprint(clip) for clip in clips}
    rows = []
    for i in range(n_tracks):
        clip = clips[i % len(clips)]
        rows.append({"track_id": f"bench{i:06d}", "path": str(clip), "fingerprint": prints[clip]})
    return pd.DataFrame(rows)


def run_node_path(
    clips: Sequence[Path], n_tracks: int, num_cpus: int, cache_root: Path
) -> tuple[float, float]:
    """Tracks/s of ``run_extraction`` on a local Ray of ``num_cpus`` workers, and the seconds that
    ``collect_features`` then takes to read the table back from the cache (serial, driver-side)."""
    from music_genre.common.ray_runtime import start_ray, stop_ray
    from music_genre.features import FeatureSettings, feature_names
    from music_genre.features.extraction import collect_features, run_extraction
    from music_genre.features.feature_cache import FeatureCache

    settings = FeatureSettings()
    start_ray({"num_cpus": num_cpus})
    try:
        warm = _track_table(clips, 2 * num_cpus)
        warm["track_id"] = "warm" + warm["track_id"]
        warm_cache = FeatureCache(cache_root / f"warm{num_cpus}", settings.digest())
        run_extraction(warm, settings.to_dict(), warm_cache, batch_size=1, progress=False)
        tracks = _track_table(clips, n_tracks)
        cache = FeatureCache(cache_root / f"cpus{num_cpus}", settings.digest())
        start = time.perf_counter()
        report = run_extraction(tracks, settings.to_dict(), cache, batch_size=8, progress=False)
        extract_seconds = time.perf_counter() - start
        start = time.perf_counter()
        features, failures = collect_features(tracks, cache, feature_names(settings))
        collect_seconds = time.perf_counter() - start
        assert len(features) == n_tracks and failures.empty, (len(features), failures.head())
        assert report.extracted == n_tracks
        return n_tracks / extract_seconds, collect_seconds
    finally:
        stop_ray()


def compare_ray(clips: Sequence[Path], n_tracks: int) -> None:
    cores = os.cpu_count() or 1
    print(
        f"\nThrough Ray (music_genre.features.extraction, batches of 8, {n_tracks} tracks, fresh cache each)"
    )
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as tmp:
        one, collect_one = run_node_path(clips, n_tracks, 1, Path(tmp))
        every, collect_every = run_node_path(clips, n_tracks, cores, Path(tmp))
    print(
        f"  1 worker          {one:7.2f} tracks/s   (then {collect_one:.2f} s to read the table back)"
    )
    print(f"  {cores} workers (all) {every:7.2f} tracks/s   (then {collect_every:.2f} s)")
    print(f"  speed-up          {every / one:7.2f} x   (target >= 1.7 on 2 cores, >= 12 on 16)")


def compare_memory(clips: Sequence[Path], n_tracks: int) -> None:
    import subprocess

    cores = os.cpu_count() or 1
    print(f"\nPeak memory of the node path (driver + Ray daemons + {cores} workers, summed RSS)")
    peaks = {}
    with tempfile.TemporaryDirectory(prefix="mem-bench-") as tmp:
        listing = Path(tmp) / "clips.txt"
        listing.write_text("\n".join(str(c) for c in clips))
        for tracks in (n_tracks, 10 * n_tracks):
            command = [
                sys.executable,
                __file__,
                "--memory-child",
                str(tracks),
                "--files-from",
                str(listing),
                "--cache-root",
                str(Path(tmp) / f"cache{tracks}"),
            ]
            process = subprocess.Popen(command)
            peaks[tracks] = peak_tree_rss(process)
            if process.wait() != 0:
                raise SystemExit(f"memory child for {tracks} tracks failed")
            print(f"  {tracks:6d} tracks   peak {peaks[tracks] / 2**20:8.1f} MiB")
    ratio = peaks[10 * n_tracks] / peaks[n_tracks]
    print(f"  10 x N / N        {ratio:8.2f}   (target <= 1.2)")


def memory_child(n_tracks: int, files_from: Path, cache_root: Path) -> int:
    clips = [Path(line) for line in files_from.read_text().splitlines() if line]
    rate, _ = run_node_path(clips, n_tracks, os.cpu_count() or 1, cache_root)
    print(f"  ({n_tracks} tracks at {rate:.2f} tracks/s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=8, help="how many clips (default 8)")
    parser.add_argument("--files", nargs="*", type=Path, help="audio files to time")
    parser.add_argument("--dir", type=Path, help="a folder of audio files to time")
    parser.add_argument(
        "--repeat", type=int, default=3, help="passes over the clips; best per clip counts"
    )
    parser.add_argument(
        "--format",
        choices=("fma-mp3", "native"),
        default="fma-mp3",
        help="fma-mp3: re-encode non-MP3 clips as 44.1 kHz stereo MP3 first (default)",
    )
    parser.add_argument(
        "--only", nargs="*", choices=list(MEASUREMENTS), help="run only these measurements"
    )
    parser.add_argument(
        "--cqt",
        action="store_true",
        help="also compare CQT alternatives (time and error vs a direct CQT): the numbers "
        "behind music_genre.features._cqt",
    )
    parser.add_argument(
        "--ray", action="store_true", help="also time the Ray node path, 1 vs all cores"
    )
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time on the process's CPU clock, not the wall clock (a busy shared machine)",
    )
    parser.add_argument(
        "--memory", action="store_true", help="also measure peak memory, N vs 10 x N"
    )
    parser.add_argument("--tracks", type=int, default=40, help="tracks for --ray/--memory (N)")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--files-from", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache-root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        return memory_child(args.memory_child, args.files_from, args.cache_root)

    warnings.filterwarnings("ignore")  # librosa's tuning/n_fft chatter would drown the table
    sources = list(args.files or []) + ([args.dir] if args.dir else [])
    clips = find_clips(sources or [s for s in DEFAULT_SOURCES if s.exists()])[: args.clips]
    if not clips:
        print(
            "no audio clips found: pass --files or --dir (../shared/data is absent)",
            file=sys.stderr,
        )
        return 2
    threads = pin_threads()
    with tempfile.TemporaryDirectory(prefix="extraction-bench-") as tmp:
        if args.format == "fma-mp3":
            clips = as_fma_mp3(clips, Path(tmp))
        names = args.only or list(MEASUREMENTS)
        print(
            f"{len(clips)} clips ({args.format}), {args.repeat} passes, best per clip; one core ({threads})"
        )
        for clip in clips:
            print(f"  {clip.name}")
        print()
        clock = time.process_time if args.cpu_time else time.perf_counter
        seconds = time_per_clip(names, clips, args.repeat, clock)
        print_table(seconds)
        if args.cqt:
            compare_cqt(clips, args.repeat)
        if args.ray:
            compare_ray(clips, args.tracks)
        if args.memory:
            compare_memory(clips, args.tracks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
