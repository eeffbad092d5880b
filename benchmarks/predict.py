"""Cold-start cost of ``music-genre predict`` and ``music-genre --help``, as a person meets them.

    kedro run                                # once: the model the CLI loads (the built-in sample)
    python benchmarks/predict.py             # uses this project's latest model
    python benchmarks/predict.py --project /path/to/trained/project --clips 11

Every measurement is a fresh process of the installed console script (``python -m music_genre``), the way
a person runs it, so imports, loading the model and the first feature extraction are all inside the figure.
Clips: 30 s 44.1 kHz stereo MP3s like FMA's: ``../shared``'s real fma_small clip when present, then the
built-in sample's clips from the project's manifest. Each figure is the median of ``--repeat`` runs.
The per-extra-clip cost is (time for N clips - time for 1 clip) / (N - 1), both measured in this run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def timed(args: list[str], cwd: Path, repeat: int) -> float:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "music_genre", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
        )
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            sys.exit(f"`music-genre {' '.join(args[:2])} ...` failed:\n{result.stderr}")
    return statistics.median(times)


def collect_clips(project: Path, count: int, folder: Path) -> list[Path]:
    """``count`` 30 s MP3 clips copied into ``folder``: the real fma_small one first, then the sample's."""
    import pandas as pd

    found: list[Path] = []
    excerpt = SHARED_DATA / "fma_excerpt" / "fma_small" / "000" / "000002.mp3"
    if excerpt.is_file():
        found.append(Path(shutil.copy(excerpt, folder / "fma_000002.mp3")))
    manifest_file = project / "data" / "03_primary" / "sample" / "manifest.parquet"
    if len(found) < count and manifest_file.is_file():
        manifest = pd.read_parquet(manifest_file)
        long_enough = manifest[
            (manifest["duration"] >= 29.0) & manifest["path"].str.endswith(".mp3")
        ]
        for path in long_enough["path"].head(count - len(found)):
            found.append(Path(shutil.copy(path, folder / Path(path).name)))
    if len(found) < count:
        sys.exit(f"found only {len(found)} clips; run `kedro run` first (it makes the sample)")
    return found[:count]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=REPO_ROOT, help="a trained Kedro project")
    parser.add_argument("--clips", type=int, default=11, help="clips in the multi-clip call")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args(argv)

    project = args.project.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        clips = collect_clips(project, args.clips, Path(tmp))
        first = [str(clips[0])]
        timed(["predict", *first], project, 1)  # warm the OS file cache and the filter-bank cache
        help_s = timed(["--help"], project, args.repeat)
        one_s = timed(["predict", *first], project, args.repeat)
        many_s = timed(["predict", *map(str, clips)], project, args.repeat)

    per_extra = (many_s - one_s) / (len(clips) - 1)
    print(f"clips: {', '.join(c.name for c in clips)}")
    print(f"{'measurement':<52}{'seconds':>9}{'target':>10}")
    print(f"{'music-genre --help (cold process)':<52}{help_s:>9.2f}{'< 1.0':>10}")
    print(f"{'music-genre predict, one 30 s clip (cold process)':<52}{one_s:>9.2f}{'< 3.0':>10}")
    print(f"{f'music-genre predict, {len(clips)} clips in one call':<52}{many_s:>9.2f}")
    print(f"{'  per additional clip':<52}{per_extra:>9.3f}{'< 0.3':>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
