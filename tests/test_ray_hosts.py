"""A Ray cluster across hosts: network namespaces with their own addresses (benchmarks/_hosts.py), a head
and worker hosts started with the real `ray start`, the real `kedro run` as the driver on a host of its own
reaching the cluster through Ray Client, the project's code shipped by Ray's runtime environment. The
audio is reached by the same path on every host (the hosts share this machine's filesystem, as a shared
mount gives real machines: docs/ray.md). Losing a host: every process of a worker host SIGKILLed in the
middle of extraction; the run still finishes and the cache holds every track exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from .conftest import PROJECT_ROOT
from .test_ray_cluster import cli_params, ingested  # noqa: F401 - the module's fixture, shared

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
import _hosts

WHY_NOT = _hosts.can_make_hosts()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1500),
    pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or ""),
    pytest.mark.skipif(not _hosts.RAY.exists(), reason="the `ray` command is not installed"),
]
WORKERS = ["w1", "w2", "w3"]


@pytest.fixture(scope="module")
def cluster():
    """Five hosts: the head, three workers (one CPU each), the driver; the head and all three workers
    started."""
    temp_root = Path(tempfile.mkdtemp(prefix="mgh-", dir="/tmp"))  # short: Ray's socket paths
    with _hosts.Hosts(["head", *WORKERS, "driver"]) as hosts:
        ray = _hosts.RayHosts(hosts, "head", temp_root)
        ray.start_head()
        for worker in WORKERS:
            ray.start_worker(worker)
        ray.wait_for_cpus(len(WORKERS))
        yield ray


def _driver(cluster, project: Path, *args: str, **popen) -> subprocess.Popen:
    """`kedro run` on the driver host, against the cluster's Ray Client address (its log one record a
    line: the console handler wraps at $COLUMNS)."""
    _hosts.point_project_at(project, cluster.client)
    return subprocess.Popen(
        cluster.hosts.command("driver", [_hosts.KEDRO, "run", *args]),
        cwd=project, env={**cluster.env, "COLUMNS": "1000"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        **popen,
    )  # fmt: skip


def _check_every_track_once(project, params) -> dict:
    manifest = project.load("manifest", params=params)
    features = project.load("features", params=params)
    failures = project.load("extraction_failures", params=params)
    assert features["track_id"].is_unique  # nothing twice
    assert set(features["track_id"]) | set(failures["track_id"]) == set(manifest["track_id"])
    assert "not_extracted" not in set(failures["reason"])  # nothing lost to the lost host
    # and the cache itself: one row per track
    cache = project.load("extraction_report", params=params)
    assert cache["extracted"] + cache["failed"] == len(manifest)
    return cache


def test_extraction_runs_on_the_worker_hosts_from_a_driver_host(cluster, ingested):  # noqa: F811
    params = {
        **ingested.params,
        "feature_engineering.cache_dir": str(ingested.path / "hosts_cache"),
    }
    driver = _driver(cluster, ingested.path, "--pipelines=feature_engineering", cli_params(params))
    output, _ = driver.communicate(timeout=900)
    assert driver.returncode == 0, output[-3000:]
    report = _check_every_track_once(ingested, params)
    assert report["workers"] == len(WORKERS)  # the cluster's CPUs, not the driver host's

    nodes = {n["node_id"]: n["node_ip"] for n in cluster.nodes(state="ALIVE")}
    tasks = cluster.state("tasks", func_or_class_name="extract_batch")
    finished = [t for t in tasks if t["state"] == "FINISHED"]
    where = {nodes.get(t["node_id"]) for t in finished}
    workers = {cluster.hosts.addresses[w] for w in WORKERS}
    assert where <= workers and len(where) >= 2, where  # on the worker hosts, never the head
    assert cluster.hosts.addresses["head"] not in where
    assert all("py_modules" in json.dumps(t["runtime_env_info"]) for t in finished)


def _lose_when_extracting(cluster, host: str, stop: threading.Event, lost: list) -> None:
    """Lose ``host`` once one of its processes runs an extraction batch."""
    while not stop.is_set():
        for pid in cluster.hosts.pids(host):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if title.startswith(b"ray::extract_batch"):
                lost.append((time.time(), cluster.hosts.lose(host)))
                return
        time.sleep(0.05)


def test_losing_a_worker_host_mid_extraction_loses_no_track(cluster, ingested):  # noqa: F811
    params = {**ingested.params, "feature_engineering.cache_dir": str(ingested.path / "lost_cache")}
    started = time.time()
    driver = _driver(cluster, ingested.path, "--pipelines=feature_engineering", cli_params(params))
    stop, lost = threading.Event(), []
    watcher = threading.Thread(
        target=_lose_when_extracting, args=(cluster, "w3", stop, lost), daemon=True
    )
    watcher.start()
    try:
        output, _ = driver.communicate(timeout=900)
    finally:
        stop.set()
        watcher.join(timeout=5)
    finished = time.time()
    assert lost and lost[0][1] > 0, "w3 was never seen extracting"
    assert driver.returncode == 0, output[-3000:]
    _check_every_track_once(ingested, params)
    # the log says what happened: the lost host by its address
    assert f"Ray node {cluster.hosts.addresses['w3']}" in output
    assert "left the cluster during feature extraction" in output
    dead = cluster.nodes(state="DEAD")
    assert cluster.hosts.addresses["w3"] in {n["node_ip"] for n in dead}
    print(f"lost host: killed {lost[0][1]} processes {lost[0][0] - started:.1f} s into the run; "
          f"the run finished {finished - lost[0][0]:.1f} s after the loss")  # fmt: skip


def test_tuning_runs_on_the_cluster_from_the_driver_host(cluster, ingested):  # noqa: F811
    """Ray Tune's trials through the same Ray Client connection: the run is one driver job of the
    cluster, with the project's code shipped to the workers."""
    params = {
        **ingested.params,
        "feature_engineering.cache_dir": str(ingested.path / "hosts_cache"),  # the first test's
        "tuning.num_samples": 2,
        "tuning.num_boost_round": 30,
        "tuning.search_alg": "random",
    }
    before = {job["job_id"] for job in cluster.state("jobs")}
    driver = _driver(cluster, ingested.path, "--pipelines=feature_engineering,modeling,tuning",
                     "--to-nodes=tune_hyperparameters_node", cli_params(params))  # fmt: skip
    output, _ = driver.communicate(timeout=900)
    assert driver.returncode == 0, output[-3000:]
    trials = ingested.load("tuning_trials", params=params)
    assert len(trials) == 2 and "ERROR" not in set(trials["status"])
    jobs = [job for job in cluster.state("jobs") if job["job_id"] not in before]
    assert [(job["type"], job["status"]) for job in jobs] == [("DRIVER", "SUCCEEDED")]
    assert "py_modules" in json.dumps(jobs[0]["runtime_env"])
