"""How the default `kedro run` grows with data: the built-in sample at 1 x and 4 x its default size.

    python benchmarks/scale.py                  # factors 1 and 4 of sample_data.tracks_per_genre (25)
    python benchmarks/scale.py --factors 1 2 4
    python benchmarks/scale.py --fma-tracks 800 8000   # fma_small-size rehearsal: `kedro run --env=fma_small`
    python benchmarks/scale.py --fma-large             # ingestion only on an fma_large-size tracks.csv

For each factor, in a fresh copy of the project (its own data/ and mlflow.db), two real `kedro run`
processes, each timed wall-clock with the peak of the summed resident memory of its whole process tree
(driver, Ray's daemons and workers) sampled every 50 ms:

1. `kedro run --pipelines=sample_data`: synthesizing and MP3-encoding the sample (what the first default
   run does when the sample is missing),
2. `kedro run`: the default pipeline on it (ingestion, features on Ray, modeling, evaluation, and the
   MLflow run with the logged serving model), with a cold feature cache.

The "per track" columns divide by the sample's track count, so linear growth shows as a flat column.

``--fma-tracks N [N ...]``: for each N, an FMA-shaped collection of N tracks built in seconds (the sample's
metadata builder at N / 8 tracks a genre, every single-genre track of subset small, every clip a hard link
to one of 41 real clips transcoded once to 44.1 kHz stereo MP3, 60% of a genre's tracks to that genre's own
clips: ``_fma_collection.py``), then ``kedro run --env=fma_small`` end to end on it with the environment's
defaults, in a fresh copy of the project. Prints each node's wall
time (the ``node_time`` records of ``NodeTimesHook`` in the copy's info.log), the run's wall time and the
peak memory of its process tree, and the targets: 8,000 tracks within 30 min on 2 cores, peak memory within
1.2 x of the smallest size's.

``--fma-large [ROWS]``: a 106,574-row tracks.csv in fma_large's shape with an audio file linked for every row,
then ``kedro run --env=fma_large --pipelines=data_ingestion``: wall time, peak memory, time per node.
"""

from __future__ import annotations

import argparse
import json
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
    # The copy's own conf/logging.yml, as for a user: its info.log holds the node times.
    env.pop("KEDRO_LOGGING_CONFIG", None)
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


def node_times(project: Path) -> list[tuple[str, float]]:
    """(node, seconds) from the ``node_time {json}`` records in the copy's info.log (rotated ones first)."""
    rotated = [p for p in project.glob("info.log.*") if p.suffix[1:].isdigit()]
    logs = sorted(rotated, key=lambda p: -int(p.suffix[1:]))
    decoder = json.JSONDecoder()
    times = []
    for log in [*logs, project / "info.log"]:
        if not log.is_file():
            continue
        for line in log.read_text(errors="replace").splitlines():
            at = line.find("node_time ")
            if at < 0:
                continue
            try:
                record, _ = decoder.raw_decode(line[at + len("node_time ") :].lstrip())
                times.append((str(record["node"]), float(record["seconds"])))
            except (ValueError, KeyError, TypeError):
                continue
    return times


def load_text() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} / {five:.2f} (1 / 5 min)"


def fma_run(project: Path, env: str, root: Path, extra_params: str | None, *args: str) -> dict:
    """One timed `kedro run --env=<env>` on the collection at ``root``, with the copy's node times."""
    pretrained = REPO_ROOT / "data" / "06_models" / "pretrained"
    # The converted musicnn weights, as on a machine that has them (no fetch): `auto` can use them.
    if pretrained.is_dir():
        shutil.copytree(pretrained, project / "data" / "06_models" / "pretrained")
    params = f"dataset.root={root}" + (f",{extra_params}" if extra_params else "")
    load_before = load_text()
    seconds, peak = timed_run(project, f"--env={env}", f"--params={params}", *args)
    times = node_times(project)
    if not times:
        print(f"  (no node_time records in {project / 'info.log'}: is NodeTimesHook registered?)")
    return {
        "seconds": seconds,
        "peak": peak,
        "nodes": times,
        "load": f"{load_before} before, {load_text()} after",
    }


def fma_small_rehearsal(workspace: Path, sizes: list[int], clips, extra_params) -> list[dict]:
    from _fma_collection import build_fma_small

    results = []
    for size in sizes:
        base = workspace / f"fma_small_{size}"
        built = build_fma_small(base / "collection", size, clips)
        print(
            f"fma_small {size}: {built['small_tracks']} tracks built in {built['seconds']:.1f} s "
            f"({built['links']} links to {built['clips']} real clips; planted faults "
            f"{sorted(built['faults'])})",
            flush=True,
        )
        run = fma_run(
            project_copy(base / "project"), "fma_small", base / "collection", extra_params
        )
        run.update(tracks=built["small_tracks"])
        results.append(run)
        print(
            f"fma_small {size}: kedro run {run['seconds']:.0f} s, peak {run['peak'] / 2**20:.0f} MiB; "
            f"{run['load']}",
            flush=True,
        )
    print(f"\n`kedro run --env=fma_small` end to end; machine: {os.cpu_count()} cores")
    names = list(dict.fromkeys(name for run in results for name, _ in run["nodes"]))
    head = f"{'node':<40}" + "".join(f"{run['tracks']:>9} tr s" for run in results)
    if len(results) > 1:
        head += f"{'ratio':>8}"
    print(head)
    print("-" * len(head))
    for name in names:
        values = [dict(run["nodes"]).get(name) for run in results]
        line = f"{name[:40]:<40}" + "".join(
            f"{v:>14.1f}" if v is not None else f"{'-':>14}" for v in values
        )
        if len(results) > 1 and values[0] and values[-1] is not None:
            line += f"{values[-1] / values[0]:>7.1f}x"
        print(line)
    print("-" * len(head))
    rows = [
        ("sum of nodes s", [sum(t for _, t in run["nodes"]) for run in results], ".1f"),
        ("kedro run wall s", [run["seconds"] for run in results], ".1f"),
        ("peak MiB (process tree)", [run["peak"] / 2**20 for run in results], ".0f"),
    ]
    for label, values, fmt in rows:
        line = f"{label:<40}" + "".join(f"{v:>14{fmt}}" for v in values)
        if len(results) > 1 and values[0]:
            line += f"{values[-1] / values[0]:>7.2f}x"
        print(line)
    largest = results[-1]
    print(
        f"\ntarget: 8,000 tracks end to end within 30 min on 2 cores: {largest['tracks']} tracks took "
        f"{largest['seconds'] / 60:.1f} min"
        + (
            f" ({'met' if largest['seconds'] <= 1800 else 'NOT met'})"
            if largest["tracks"] >= 8000
            else " (run --fma-tracks 800 8000 for the target size)"
        )
    )
    if len(results) > 1:
        ratio = largest["peak"] / results[0]["peak"]
        print(
            f"target: peak memory within 1.2 x of the {results[0]['tracks']}-track run: "
            f"{ratio:.2f} x ({'met' if ratio <= 1.2 else 'NOT met'})"
        )
    return results


def fma_large_ingestion(workspace: Path, rows: int, clips, extra_params) -> dict:
    from _fma_collection import build_fma_large

    base = workspace / "fma_large"
    built = build_fma_large(base / "collection", clips, rows=rows)
    print(
        f"fma_large: tracks.csv of {built['tracks_csv_rows']} rows ({built['tracks_csv_mib']} MiB, "
        f"{built['with_genre_top']} with a genre_top, subsets {built['subsets']}) and "
        f"{built['links']} audio links built in {built['seconds']:.1f} s",
        flush=True,
    )
    project = project_copy(base / "project")
    run = fma_run(
        project, "fma_large", base / "collection", extra_params, "--pipelines=data_ingestion"
    )
    print(
        f"\n`kedro run --env=fma_large --pipelines=data_ingestion`; machine: {os.cpu_count()} cores"
    )
    for name, seconds in run["nodes"]:
        print(f"{name[:40]:<40}{seconds:>10.1f} s")
    print(
        f"{'kedro run wall':<40}{run['seconds']:>10.1f} s\n"
        f"{'peak MiB (process tree)':<40}{run['peak'] / 2**20:>10.0f}\n{run['load']}"
    )
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factors", type=int, nargs="+", default=None)
    parser.add_argument(
        "--fma-tracks",
        type=int,
        nargs="+",
        metavar="N",
        help="fma_small-size rehearsal: `kedro run --env=fma_small` on N linked FMA-shaped tracks",
    )
    parser.add_argument(
        "--fma-large",
        type=int,
        nargs="?",
        const=106_574,
        metavar="ROWS",
        help="ingestion only (`--env=fma_large --pipelines=data_ingestion`) on a tracks.csv of ROWS "
        "(default 106,574, fma_large's) with every clip linked",
    )
    parser.add_argument(
        "--clip-cache",
        type=Path,
        help="where the real clips transcoded to FMA's MP3 format are kept (default: in the workspace)",
    )
    parser.add_argument(
        "--kedro-params",
        help="more --params for the fma runs (key=value,key=value), e.g. feature_engineering.feature_set=handcrafted",
    )
    parser.add_argument("--keep", type=Path, help="keep the project copies under this folder")
    args = parser.parse_args(argv)
    fma_mode = bool(args.fma_tracks) or args.fma_large is not None
    factors = args.factors if args.factors is not None else ([] if fma_mode else [1, 4])

    workspace = Path(tempfile.mkdtemp(prefix="music_genre_scale_")) if not args.keep else args.keep
    try:
        if fma_mode:
            from _fma_collection import source_clips

            started = time.perf_counter()
            clips = source_clips(args.clip_cache or workspace / "clips")
            print(f"{len(clips)} real clips as FMA MP3s ({time.perf_counter() - started:.1f} s)")
            if args.fma_tracks:
                fma_small_rehearsal(workspace, sorted(args.fma_tracks), clips, args.kedro_params)
            if args.fma_large is not None:
                fma_large_ingestion(workspace, args.fma_large, clips, args.kedro_params)
        if factors:
            sample_scale(workspace, factors)
    finally:
        if not args.keep:
            shutil.rmtree(workspace, ignore_errors=True)
    return 0


def sample_scale(workspace: Path, factors: list[int]) -> None:
    defaults = yaml.safe_load((REPO_ROOT / "conf/base/parameters_sample_data.yml").read_text())
    per_genre = int(defaults["sample_data"]["tracks_per_genre"])
    n_genres = len(defaults["sample_data"]["genres"])
    rows = []
    for factor in factors:
        project = project_copy(workspace / f"x{factor}")
        params = f"--params=sample_data.tracks_per_genre={per_genre * factor}"
        make_s, make_peak = timed_run(project, "--pipelines=sample_data", params)
        run_s, run_peak = timed_run(project, params)
        tracks = per_genre * factor * n_genres
        rows.append((factor, tracks, make_s, make_peak, run_s, run_peak))
        print(f"x{factor}: {tracks} tracks done ({make_s:.0f} s + {run_s:.0f} s)", flush=True)

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


if __name__ == "__main__":
    raise SystemExit(main())
