"""Disk use of 30 days of `music-genre daily` on the built-in sample, with retention on (or off).

    python benchmarks/disk.py                      # 30 days, retention as conf/base/parameters_retention.yml
    python benchmarks/disk.py --retention off      # the same days, nothing removed
    python benchmarks/disk.py --days 10 --workdir /tmp/disk   # fewer days, a folder you keep

A throw-away copy of the project (conf/, pyproject.toml, an empty data/ tree, its own mlflow.db and mlruns/)
is trained once with `kedro run` (the default sample: 172 tracks, 24 new releases held out in 6 batches),
then lives through ``--days`` days, each a real `music-genre daily` in its own process:

- days 1-6: the sample's six new-release batches, in date order, labelled from the sample's metadata (the
  labels that arrive), exactly what cron would run;
- days 7 and after: the sample has no more new releases, so each day is a folder of "new music": hard links
  (new paths, same audio) to the files of one of the six batches in turn, run as
  `music-genre daily --input-dir DAY --batch DATE --labels LABELS.csv` with the files' true genres;
  every 5th day the labels are flipped (each genre replaced by the next), the champion's batch accuracy
  falls to 0 and the day retrains: a challenger is trained, registered and compared with the champion.

Each day is scored, monitored (an Evidently page, MLflow runs) and retrained as on a real deployment;
what is simulated is where the music comes from. After every day it prints the disk use of data/ (and of
data/ without the raw sample, which never changes), mlruns/ and mlflow.db, and what retention removed.
The figure without retention is measured with ``--retention off``, or estimated from a run with retention
as today's use plus everything retention removed so far (what would still be there).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("01_raw", "02_intermediate", "03_primary", "04_feature", "05_model_input", "06_models",
          "07_model_output", "08_reporting")  # fmt: skip
MB = 1e6


def size_of(path: Path) -> int:
    total = 0
    if path.is_file():
        return path.stat().st_size
    seen = set()
    for root, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if stat.st_ino in seen:  # a hard link counted once
                continue
            seen.add(stat.st_ino)
            total += stat.st_size
    return total


def project_copy(destination: Path) -> Path:
    """The real conf/ and pyproject.toml, an empty data/ tree (as the tests' project copies)."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO_ROOT / "conf", destination / "conf", dirs_exist_ok=True)
    for item in (destination / "conf" / "local").iterdir():
        if item.name != ".gitkeep":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    (destination / "src").mkdir(exist_ok=True)
    for name in ("pyproject.toml", ".telemetry"):
        if (REPO_ROOT / name).exists():
            shutil.copy2(REPO_ROOT / name, destination / name)
    for layer in LAYERS:
        (destination / "data" / layer).mkdir(parents=True, exist_ok=True)
    return destination


def run(command: list[str], cwd: Path, log: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    with open(log, "a") as handle:
        handle.write(f"\n$ {' '.join(command)}\n{result.stdout}\n{result.stderr}\n")
    if result.returncode != 0:
        raise SystemExit(
            f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-3000:]}"
        )
    return result


def usage(project: Path) -> dict[str, float]:
    data = size_of(project / "data")
    raw = size_of(project / "data" / "01_raw")
    mlruns = size_of(project / "mlruns")
    db = size_of(project / "mlflow.db")
    return {"data": data / MB, "raw": raw / MB, "data_wo_raw": (data - raw) / MB,
            "mlruns": mlruns / MB, "db": db / MB, "total": (data + mlruns + db) / MB}  # fmt: skip


def folder_day(project: Path, incoming: Path, day: int, batch_files, flip: bool, genres):
    """A folder of hard links to one batch's files, and its labels (true, or flipped)."""
    import pandas as pd

    folder = incoming / f"day_{day:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (path, genre) in enumerate(batch_files):
        target = folder / f"{i:02d}_{Path(path).name}"
        if not target.exists():
            os.link(path, target)
        label = genres[(genres.index(genre) + 1) % len(genres)] if flip else genre
        rows.append({"path": str(target), "genre": label})
    labels = incoming / f"labels_{day:02d}.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    return folder, labels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--retention", choices=("on", "off"), default="on")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="kept afterwards (default: a temp dir)"
    )
    parser.add_argument(
        "--params", default="", help="extra --params for every daily, KEY=VALUE,..."
    )
    args = parser.parse_args()

    import pandas as pd

    work = args.workdir or Path(tempfile.mkdtemp(prefix="music_genre_disk_"))
    project = project_copy(work / "project")
    incoming = work / "incoming"
    log = work / "commands.log"
    print(f"workdir {work} (commands and their output: {log})", flush=True)
    started = time.time()
    run([sys.executable, "-m", "kedro", "run"], project, log)
    print(f"kedro run: {time.time() - started:.0f} s", flush=True)
    base = usage(project)

    new_releases = pd.read_parquet(project / "data/03_primary/sample/new_releases.parquet")
    batches = sorted(new_releases["batch"].astype(str).unique())
    genres = sorted(
        pd.read_parquet(project / "data/03_primary/sample/manifest.parquet")["genre"].unique()
    )
    params = ",".join(p for p in (args.params, "retention.enabled=false" if args.retention == "off"
                                  else "") if p)  # fmt: skip
    extra = ["--params", params] if params else []

    header = (f"{'day':>3} {'what':<34} {'data':>7} {'raw':>7} {'data-raw':>8} {'mlruns':>7} "
              f"{'db':>6} {'total':>7} {'freed':>7} {'no-ret.':>7} {'s':>5}")  # fmt: skip
    print(
        "\nMB after each day (data = data/ with the raw sample; freed = removed by retention so far; "
        "no-ret. = total + freed)"
    )
    print(header)
    print(f"{0:>3} {'kedro run (trained, version 1)':<34} {base['data']:>7.1f} {base['raw']:>7.1f} "
          f"{base['data_wo_raw']:>8.1f} {base['mlruns']:>7.1f} {base['db']:>6.1f} {base['total']:>7.1f} "
          f"{0:>7.1f} {base['total']:>7.1f} {'':>5}", flush=True)  # fmt: skip
    freed = 0.0
    rows = []
    first_day = date(2026, 12, 1)
    for day in range(1, args.days + 1):
        t0 = time.time()
        if day <= len(batches):
            what = f"batch {batches[day - 1]}"
            command = [sys.executable, "-m", "music_genre", "daily", *extra]
        else:
            source = batches[(day - len(batches) - 1) % len(batches)]
            flip = day % 5 == 0
            files = new_releases[new_releases["batch"].astype(str) == source][["path", "genre"]]
            folder, labels = folder_day(project, incoming, day, list(files.itertuples(index=False)),
                                        flip, genres)  # fmt: skip
            when = (first_day + timedelta(days=day)).isoformat()
            what = f"copy of {source}{' flipped' if flip else ''}"
            command = [sys.executable, "-m", "music_genre", "daily", "--input-dir", str(folder),
                       "--batch", when, "--labels", str(labels), *extra]  # fmt: skip
        result = run(command, project, log)
        retention = re.search(r"\(([\d.]+) MB freed\)", result.stdout)
        freed += float(retention.group(1)) if retention else 0.0
        if re.search(r"^(Challenger|Step\s+retraining)", result.stdout, re.MULTILINE):
            what += ", retrained"
        now = usage(project)
        rows.append({"day": day, **now, "freed": freed})
        print(f"{day:>3} {what:<34} {now['data']:>7.1f} {now['raw']:>7.1f} {now['data_wo_raw']:>8.1f} "
              f"{now['mlruns']:>7.1f} {now['db']:>6.1f} {now['total']:>7.1f} {freed:>7.1f} "
              f"{now['total'] + freed:>7.1f} {time.time() - t0:>5.0f}", flush=True)  # fmt: skip

    table = pd.DataFrame(rows)
    last = table.iloc[-1]
    print(f"\nretention {args.retention}, {args.days} days: total {last['total']:.1f} MB "
          f"(after kedro run {base['total']:.1f} MB), peak {table['total'].max():.1f} MB; "
          f"growth over the last 10 days {last['total'] - table.iloc[-11]['total'] if len(table) > 10 else float('nan'):.1f} MB; "
          f"without retention (today + removed) {last['total'] + last['freed']:.1f} MB")  # fmt: skip
    versions = subprocess.run(
        [sys.executable, "-c", "import mlflow,sys; c=mlflow.MlflowClient(sys.argv[1]); "
         "print(len(c.search_model_versions()))", f"sqlite:///{project / 'mlflow.db'}"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    print(f"registered model versions at the end: {versions}; wall {time.time() - started:.0f} s")
    table.to_csv(work / f"disk_{args.retention}.csv", index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
