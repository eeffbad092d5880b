"""Feature extraction on a Ray cluster of 1, 2 and 3 worker hosts, against a local Ray of as many CPUs.

    sudo python benchmarks/ray_hosts.py                     # the default sample (25 tracks a genre)
    sudo python benchmarks/ray_hosts.py --tracks-per-genre 50

Hosts are network namespaces (benchmarks/_hosts.py; root): a head with no CPUs, N worker hosts with one
CPU each, and the driver (`kedro run --pipelines=feature_engineering`) on a host of its own, reaching the
cluster through Ray Client. Every run starts from an empty feature cache; each configuration runs twice,
on a fresh cluster: the first run pays the workers' imports and the upload of the project's code
(``py_modules``), the second is warm. Then the 3-host cluster runs once more while one worker host is
lost (every process SIGKILLed) once it extracts. Tracks/s are the extraction report's (extraction only).

All hosts share this machine's cores: on a machine with fewer cores than hosts the table shows what the
cluster costs (Ray Client, the object transfers between hosts, more Ray daemons), not a speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _hosts
from scale import project_copy, timed_run


def extraction_report(project: Path) -> dict:
    return json.loads((project / "data/04_feature/sample/extraction_report.json").read_text())


def driver_run(ray: _hosts.RayHosts, project: Path, cache: Path, lose: str | None = None) -> dict:
    """One extraction from the driver host; with ``lose``, that worker host is lost once it extracts."""
    _hosts.point_project_at(project, ray.client)
    command = ray.hosts.command("driver", [
        _hosts.KEDRO, "run", "--pipelines=feature_engineering",
        f"--params=feature_engineering.cache_dir={cache},feature_engineering.progress=false"])  # fmt: skip
    lost: list[float] = []
    started = time.time()
    process = subprocess.Popen(command, cwd=project, env={**ray.env, "COLUMNS": "1000"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    if lose:
        threading.Thread(target=_lose, args=(ray, lose, process, lost), daemon=True).start()
    output, _ = process.communicate(timeout=1800)
    ended = time.time()
    if process.returncode:
        sys.exit(f"the driver's run failed:\n{output[-4000:]}")
    report = extraction_report(project)
    report["run_seconds"] = round(ended - started, 1)
    if lost:
        report["after_loss_s"] = round(ended - lost[0], 1)
        report["lost_noted"] = "left the cluster during feature extraction" in output
    return report


def _lose(ray, host, process, lost) -> None:
    while process.poll() is None:
        for pid in ray.hosts.pids(host):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::extract_batch"):
                lost.append(time.time())
                ray.hosts.lose(host)
                return
        time.sleep(0.05)


def local_run(project: Path, cpus: int, cache: Path) -> dict:
    (project / "conf/local/ray.yml").write_text(f"num_cpus: {cpus}\n")
    seconds, _ = timed_run(
        project, "--pipelines=feature_engineering",
        f"--params=feature_engineering.cache_dir={cache},feature_engineering.progress=false",
    )  # fmt: skip
    report = extraction_report(project)
    report["run_seconds"] = round(seconds, 1)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks-per-genre", type=int, default=None)
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args(argv)
    why_not = _hosts.can_make_hosts()
    if why_not:
        sys.exit(f"error: {why_not}")
    workspace = Path(tempfile.mkdtemp(prefix="mgbench-", dir="/tmp"))
    project = project_copy(workspace / "project")
    extra = (
        f",sample_data.tracks_per_genre={args.tracks_per_genre}" if args.tracks_per_genre else ""
    )
    timed_run(
        project, "--pipelines=sample_data,data_ingestion", f"--params=dataset.name=sample{extra}"
    )
    rows = []
    for n in args.hosts:
        for attempt in ("cold", "warm"):
            local = local_run(project, n, workspace / f"local{n}{attempt}")
            rows.append(("local Ray", n, attempt, local))
        workers = [f"w{i}" for i in range(1, n + 1)]
        with _hosts.Hosts(["head", *workers, "driver"]) as hosts:
            ray = _hosts.RayHosts(hosts, "head", workspace / f"r{n}")
            ray.start_head()
            for worker in workers:
                ray.start_worker(worker)
            ray.wait_for_cpus(n)
            for attempt in ("cold", "warm"):
                report = driver_run(ray, project, workspace / f"hosts{n}{attempt}")
                rows.append((f"{n} worker host{'s' * (n > 1)}", n, attempt, report))
            if n == max(args.hosts) and n > 1:
                report = driver_run(ray, project, workspace / f"lost{n}", lose=workers[-1])
                rows.append((f"{n} hosts, {workers[-1]} lost", n, "warm", report))
    print(f"\nmachine: {os.cpu_count()} cores; {rows[0][3]['tracks']} tracks, empty cache each run")
    print(f"{'cluster':<22} {'CPUs':>4} {'run':>5} | {'tracks/s':>8} {'extract s':>9} {'kedro run s':>11}"
          f" | note")  # fmt: skip
    for name, cpus, attempt, r in rows:
        note = ""
        if "after_loss_s" in r:
            note = (f"finished {r['after_loss_s']} s after the loss; logged: {r['lost_noted']}; "
                    f"{r['extracted'] + r['failed']} of {r['tracks']} tracks, each once")  # fmt: skip
        print(f"{name:<22} {cpus:>4} {attempt:>5} | {r['tracks_per_second']:>8.2f} {r['seconds']:>9.1f}"
              f" {r['run_seconds']:>11.1f} | {note}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
