"""What the metrics cost the served model: ``music-genre serve`` (MLflow's scoring app plus /metrics and
the request counters) against ``mlflow models serve`` (the same app without them), same model, same load.

    kedro run                                         # once: a registered champion
    python benchmarks/serving.py                      # this project's champion, 8 clients, 48 requests
    python benchmarks/serving.py --project /path/to/trained/project --clients 8 --requests 48 --rounds 2

Each request sends one 30 s 44.1 kHz stereo MP3 as base64 ``content`` (../shared's real fma_small clip when
present, else a clip of the project's sample), as the README's curl example does. Each server is started
fresh on 127.0.0.1, warmed up with two requests, then ``--clients`` threads send ``--requests`` requests in
all; the rounds alternate the two servers so that a busy machine weighs on both. Printed: requests/s, p50
and p95 latency, errors; and for ``music-genre serve`` the requests its own counter saw (it must equal what
was sent).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_CLIP = (
    REPO_ROOT.parent / "shared" / "data" / "fma_excerpt" / "fma_small" / "000" / "000002.mp3"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def a_clip(project: Path) -> Path:
    if SHARED_CLIP.is_file():
        return SHARED_CLIP
    import pandas as pd

    manifest = pd.read_parquet(project / "data" / "03_primary" / "sample" / "manifest.parquet")
    return Path(manifest.loc[manifest["duration"] >= 29.0, "path"].iloc[0])


def champion_uri(project: Path) -> str:
    info = json.loads(
        (project / "data" / "06_models" / "sample" / "champion" / "champion.json").read_text()
    )
    return f"models:/{info['name']}/{info['version']}"


def start(kind: str, project: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    if kind == "mlflow models serve":
        command = [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m",
                   champion_uri(project), "--env-manager", "local", "--host", "127.0.0.1",
                   "--port", str(port)]  # fmt: skip
    else:
        command = [sys.executable, "-m", "music_genre", "serve", "--model", champion_uri(project),
                   "--port", str(port)]  # fmt: skip
    return subprocess.Popen(
        command,
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_up(server: subprocess.Popen, url: str, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited ({server.returncode}) before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"no answer from {url} in {timeout_s} s")


def one_request(url: str, body: bytes) -> tuple[float, bool]:
    started = time.perf_counter()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as reply:
            rows = json.loads(reply.read())["predictions"]
            ok = reply.status == 200 and rows[0]["error_reason"] is None
    except OSError:
        ok = False
    return time.perf_counter() - started, ok


def counted_requests(base: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "music_genre_requests_total"
    )


def measure(kind: str, project: Path, body: bytes, clients: int, requests: int) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(kind, project, port)
    try:
        wait_up(server, f"{base}/ping")
        for _ in range(2):  # warm-up: the first requests load libraries and fill caches
            one_request(f"{base}/invocations", body)
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = list(
                pool.map(lambda _: one_request(f"{base}/invocations", body), range(requests))
            )
        wall = time.perf_counter() - started
        counted = counted_requests(base) if kind == "music-genre serve" else None
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    latencies = sorted(seconds for seconds, _ in results)
    return {
        "server": kind,
        "requests_per_s": requests / wall,
        "p50_s": statistics.median(latencies),
        "p95_s": latencies[max(0, int(round(0.95 * len(latencies))) - 1)],
        "errors": sum(not ok for _, ok in results),
        "counted": counted,
        "sent": requests + 2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--project", type=Path, default=REPO_ROOT)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    project = args.project.resolve()
    clip = a_clip(project)
    body = json.dumps(
        {
            "dataframe_records": [
                {"content": base64.b64encode(clip.read_bytes()).decode(), "filename": clip.name}
            ]
        }
    ).encode()
    print(f"clip {clip.name} ({clip.stat().st_size / 1e6:.1f} MB), model {champion_uri(project)}, "
          f"{args.clients} clients, {args.requests} requests, {os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'server':<22} {'req/s':>7} {'p50 s':>7} {'p95 s':>7} {'errors':>7}  counted")
    for _ in range(args.rounds):
        for kind in ("mlflow models serve", "music-genre serve"):
            row = measure(kind, project, body, args.clients, args.requests)
            counted = "" if row["counted"] is None else f"{row['counted']:.0f} of {row['sent']}"
            print(
                f"{row['server']:<22} {row['requests_per_s']:>7.2f} {row['p50_s']:>7.2f} "
                f"{row['p95_s']:>7.2f} {row['errors']:>7}  {counted}",
                flush=True,
            )


if __name__ == "__main__":
    main()
