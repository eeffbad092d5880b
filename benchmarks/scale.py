"""How the default `kedro run` grows with data: the built-in sample at 1 x and 4 x its default size.

    python benchmarks/scale.py                  # factors 1 and 4 of sample_data.tracks_per_genre (25)
    python benchmarks/scale.py --factors 1 2 4

For each factor, in a fresh copy of the project (its own data/ and mlflow.db), two real `kedro run`
processes, each timed wall-clock with the peak of the summed resident memory of its whole process tree
(driver, Ray's daemons and workers) sampled every 50 ms:

1. `kedro run --pipelines=sample_data`: synthesizing and MP3-encoding the sample (what the first default
   run does when the sample is missing),
2. `kedro run`: the default pipeline on it (ingestion, features on Ray, modeling, evaluation, and the
   MLflow run with the logged serving model), with a cold feature cache.

The "per track" columns divide by the sample's track count, so linear growth shows as a flat column.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from _measure import peak_tree_rss

REPO_ROOT = Path(__file__).resolve().parents[1]
KEDRO = Path(sys.executable).with_name("kedro")


def project_copy(destination: Path) -> Path:
    """The real conf/ and pyproject.toml with an empty data/ tree (conf/local left out)."""
    destination.mkdir(parents=True)
    shutil.copytree(
        REPO_ROOT / "conf", destination / "conf", ignore=shutil.ignore_patterns("local")
    )
    (destination / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy2(REPO_ROOT / name, destination / name)
    (destination / "src").mkdir()
    return destination


def timed_run(project: Path, *args: str) -> tuple[float, int]:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    log = project / f"kedro_run_{len(list(project.glob('kedro_run_*.log')))}.log"
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(KEDRO), "run", *args], cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        peak = peak_tree_rss(process)
        process.wait()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"`kedro run {' '.join(args)}` failed; its log:\n{log.read_text()[-4000:]}")
    return seconds, peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--keep", type=Path, help="keep the project copies under this folder")
    args = parser.parse_args(argv)

    defaults = yaml.safe_load((REPO_ROOT / "conf/base/parameters_sample_data.yml").read_text())
    per_genre = int(defaults["sample_data"]["tracks_per_genre"])
    n_genres = len(defaults["sample_data"]["genres"])
    workspace = Path(tempfile.mkdtemp(prefix="music_genre_scale_")) if not args.keep else args.keep
    rows = []
    try:
        for factor in args.factors:
            project = project_copy(workspace / f"x{factor}")
            params = f"--params=sample_data.tracks_per_genre={per_genre * factor}"
            make_s, make_peak = timed_run(project, "--pipelines=sample_data", params)
            run_s, run_peak = timed_run(project, params)
            tracks = per_genre * factor * n_genres
            rows.append((factor, tracks, make_s, make_peak, run_s, run_peak))
            print(f"x{factor}: {tracks} tracks done ({make_s:.0f} s + {run_s:.0f} s)", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workspace, ignore_errors=True)

    print(f"\nmachine: {os.cpu_count()} cores; sample_data.tracks_per_genre default {per_genre}")
    header = (
        f"{'size':>5} {'tracks':>7} | {'make sample s':>13} {'peak MiB':>9} | "
        f"{'kedro run s':>11} {'s/track':>8} {'peak MiB':>9}"
    )
    print(header)
    print("-" * len(header))
    for factor, tracks, make_s, make_peak, run_s, run_peak in rows:
        print(
            f"{f'{factor}x':>5} {tracks:>7} | {make_s:>13.1f} {make_peak / 2**20:>9.0f} | "
            f"{run_s:>11.1f} {run_s / tracks:>8.3f} {run_peak / 2**20:>9.0f}"
        )
    if len(rows) > 1:
        (f0, t0, m0, _, r0, p0), (f1, t1, m1, _, r1, p1) = rows[0], rows[-1]
        print(
            f"\n{f1}x / {f0}x: data {t1 / t0:.1f} x, kedro run time {r1 / r0:.2f} x, "
            f"peak memory {p1 / p0:.2f} x, sample making {m1 / m0:.2f} x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
