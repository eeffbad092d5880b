"""Extraction on an existing Ray cluster, and surviving failures: real `ray start`, real `kedro run`.

A head node and one extra worker node start on 127.0.0.1 (1 CPU each); `kedro run
--pipelines=feature_engineering` connects through `conf/local/ray.yml`, and Ray's state API says where the
tasks ran. The cluster lives in a temp dir of its own and only its processes are stopped afterwards (never
`ray stop`, which would end every Ray on the machine, a developer's own included).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, KedroProject, free_port, project_on_sample

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
import _hosts

RAY = Path(sys.executable).with_name("ray")
KEDRO = Path(sys.executable).with_name("kedro")


# Ray >= 2.59 turns token authentication on for clusters started on this machine: every process of the
# test cluster (nodes, the `kedro run` driver, the state API client) shares one throw-away token.
CLUSTER_AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def _ray_env(cluster: bool = False) -> dict:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "KEDRO_DISABLE_TELEMETRY": "1"}
    env.pop("RAY_ADDRESS", None)
    return {**env, **CLUSTER_AUTH} if cluster else env


def _ray(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(RAY), *args],
        env=_ray_env(cluster=True),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# Ray's state API through its Python interface (ray.util.state), in a process of its own that holds the
# cluster's token; it prints what the API returned as JSON. (The `ray list` command prints prose such
# as "No resource in the cluster" for an empty list, which is not JSON.) The same query as the hosts'
# cluster's (benchmarks/_hosts.py).
_STATE_QUERY = _hosts.STATE_QUERY


def _ray_list(kind: str, address: str, **equal: str) -> list[dict]:
    """Ray's state API (``ray.util.state.list_<kind>``), as a cluster operator's script queries it."""
    filters = json.dumps([[key, "=", value] for key, value in equal.items()])
    result = subprocess.run(
        [sys.executable, "-c", _STATE_QUERY, kind, address, filters],
        env=_ray_env(cluster=True),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def kedro_run(
    project: Path, *args: str, timeout: float = 600, cluster: bool = False
) -> subprocess.CompletedProcess:
    """The real `kedro run` command line, in its own process."""
    return subprocess.run(
        [str(KEDRO), "run", *args],
        cwd=project,
        env=_ray_env(cluster),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli_params(params: dict) -> str:
    return "--params=" + ",".join(f"{key}={value}" for key, value in params.items())


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, sample_archive) -> KedroProject:
    """A project copy whose manifest is written (ingestion needs no Ray)."""
    project = project_on_sample(tmp_path_factory, sample_archive, "cluster")
    project.run(["data_ingestion"], params=project.params)
    return project


def _start_head(temp_dir: str, *extra: str) -> str:
    """`ray start --head` on 127.0.0.1 with its own temp dir; returns its address."""
    port = free_port()
    head = _ray(
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--num-cpus=1",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
        *extra,
    )
    assert head.returncode == 0, head.stderr[-2000:]
    return f"127.0.0.1:{port}"


def _cluster_processes(temp_dir: str) -> list:
    """The processes of the Ray started with ``temp_dir``: every Ray daemon and worker names its session
    folder, which lies under that temp dir, on its command line."""
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(temp_dir in part for part in process.info["cmdline"] or ()):
                found.append(process)
        except (psutil.Error, TypeError):
            continue
    return found


def _alive(process) -> bool:
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _stop_cluster(temp_dir: str, timeout: float = 60) -> None:
    """Stop only this cluster's processes: TERM, then KILL what is left, again until none is left (a
    raylet can start a worker while its siblings are being stopped)."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes = [p for p in _cluster_processes(temp_dir) if _alive(p)]
        if not processes:
            return
        for process in processes:
            try:
                process.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(processes, timeout=10)
        for process in alive:
            try:
                process.kill()
            except psutil.Error:
                pass


@pytest.fixture(scope="module")
def ray_cluster():
    """A real two-node Ray cluster on 127.0.0.1: a head and one more worker node, one CPU each."""
    if not RAY.exists():
        pytest.skip(f"the `ray` command is not installed beside {sys.executable}")
    import tempfile

    temp_dir = tempfile.mkdtemp(prefix="mgray-", dir="/tmp")  # short: Ray's sockets live under it
    try:
        address = _start_head(
            temp_dir,
            "--include-dashboard=true",  # Ray's state API is served by the dashboard
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={free_port()}",
        )
        worker = _ray(
            "start", f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=1"
        )
        assert worker.returncode == 0, worker.stderr[-2000:]
        yield address
    finally:
        _stop_cluster(temp_dir)


def test_stopping_the_test_cluster_leaves_another_ray_running():
    """A developer's own Ray (another temp dir) survives the suite's clean-up."""
    if not RAY.exists():
        pytest.skip(f"the `ray` command is not installed beside {sys.executable}")
    import tempfile

    theirs, ours = (tempfile.mkdtemp(prefix=p, dir="/tmp") for p in ("theirs-", "ours-"))
    try:
        _start_head(theirs)
        _start_head(ours)
        assert _cluster_processes(ours) and _cluster_processes(theirs)
        _stop_cluster(ours)
        assert not [p for p in _cluster_processes(ours) if _alive(p)]
        survivors = [p for p in _cluster_processes(theirs) if _alive(p)]
        assert any("gcs_server" in " ".join(p.cmdline()) for p in survivors)
    finally:
        _stop_cluster(ours)
        _stop_cluster(theirs)


def _point_ray_at(project: Path, address: str, connect_timeout_s: float = 10) -> None:
    (project / "conf" / "local" / "ray.yml").write_text(
        f'address: "{address}"\nconnect_timeout_s: {connect_timeout_s}\n'
    )


def test_feature_engineering_runs_on_an_existing_cluster(ingested, ray_cluster):
    _point_ray_at(ingested.path, ray_cluster)
    try:
        result = kedro_run(
            ingested.path,
            "--pipelines=feature_engineering",
            cli_params(ingested.params),
            cluster=True,
        )
    finally:
        (ingested.path / "conf" / "local" / "ray.yml").unlink()
    assert result.returncode == 0, result.stderr[-3000:]

    manifest = ingested.load("manifest")
    features = ingested.load("features")
    report = ingested.load("extraction_report")
    n = len(manifest)
    assert report["workers"] == 2  # the cluster's CPUs, not this machine's local Ray
    assert report["extracted"] + report["failed"] == n and report["cached"] == 0
    assert len(features) + len(ingested.load("extraction_failures")) == n

    nodes = _ray_list("nodes", ray_cluster, state="ALIVE")
    tasks = _ray_list("tasks", ray_cluster, func_or_class_name="extract_batch")
    finished = [task for task in tasks if task["state"] == "FINISHED"]
    # run_extraction's batch size: at most 8 tracks, fewer so that each CPU gets at least 4 batches
    batch_size = min(8, math.ceil(n / (4 * report["workers"])))
    assert len(finished) == math.ceil(n / batch_size)
    assert not [task for task in tasks if task["state"] == "FAILED"]
    assert len(nodes) == 2
    assert {task["node_id"] for task in finished} == {node["node_id"] for node in nodes}
    # the project's code reached the workers through Ray's runtime environment
    assert all("py_modules" in json.dumps(task["runtime_env_info"]) for task in finished)


def test_tuning_runs_its_trials_on_the_cluster(ingested, ray_cluster):
    """Ray Tune runs on the same cluster: the tuning run is one of its jobs (features reused from the
    cache if present)."""
    params = {
        **ingested.params,
        "tuning.num_samples": 2,
        "tuning.num_boost_round": 30,
        "tuning.search_alg": "random",
    }
    jobs_before = {job["job_id"] for job in _ray_list("jobs", ray_cluster)}
    _point_ray_at(ingested.path, ray_cluster)
    try:
        result = kedro_run(
            ingested.path,
            "--pipelines=feature_engineering,modeling,tuning",
            "--to-nodes=tune_hyperparameters_node",
            cli_params(params),
            cluster=True,
        )
    finally:
        (ingested.path / "conf" / "local" / "ray.yml").unlink()
    assert result.returncode == 0, result.stderr[-3000:]
    trials = ingested.load("tuning_trials")
    assert len(trials) == 2 and "ERROR" not in set(trials["status"])
    # The run's Ray driver was a job of this cluster (Ray's job table, which keeps finished jobs; the
    # actor table dropped Tune's dead trial actors in some runs, so it cannot tell where they ran), and
    # Tune ran its trials through that driver's connection.
    new_jobs = [job for job in _ray_list("jobs", ray_cluster) if job["job_id"] not in jobs_before]
    assert len(new_jobs) == 1, new_jobs
    (job,) = new_jobs
    assert job["type"] == "DRIVER" and job["status"] == "SUCCEEDED"
    assert "kedro run --pipelines=feature_engineering,modeling,tuning" in job["entrypoint"]
    assert "py_modules" in job["runtime_env"]  # the project's code shipped to the cluster's workers


def test_an_unreachable_cluster_is_a_clear_error_within_seconds(ingested):
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    _point_ray_at(ingested.path, dead, connect_timeout_s=2)
    try:
        started = time.monotonic()
        result = kedro_run(
            ingested.path,
            "--pipelines=feature_engineering",
            cli_params(ingested.params),
            timeout=120,
        )
        elapsed = time.monotonic() - started
    finally:
        (ingested.path / "conf" / "local" / "ray.yml").unlink()
    assert result.returncode != 0
    assert f"no Ray cluster answers at {dead}" in result.stderr
    assert "ray start --head" in result.stderr
    assert elapsed < 60, (
        f"took {elapsed:.0f} s"
    )  # seconds of Kedro start-up + the 2 s timeout, no hang


def _kill_one_extraction_worker(parent_pid: int, stop: threading.Event, killed: list) -> None:
    """SIGKILL the first Ray worker seen running an extraction task under the `kedro run` process."""
    import psutil

    while not stop.is_set() and not killed:
        try:
            family = psutil.Process(parent_pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for process in family:
            try:
                title = " ".join(process.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            if title.startswith("ray::extract_batch"):
                process.send_signal(signal.SIGKILL)
                killed.append(process.pid)
                return
        time.sleep(0.02)


def test_a_killed_ray_worker_loses_no_clip(ingested):
    """A worker dies mid-batch (SIGKILL); Ray re-runs its task and every clip is extracted once."""
    params = {
        **ingested.params,
        "feature_engineering.cache_dir": str(ingested.path / "worker_kill_cache"),
    }
    process = subprocess.Popen(
        [str(KEDRO), "run", "--pipelines=feature_engineering", cli_params(params)],
        cwd=ingested.path,
        env=_ray_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stop, killed = threading.Event(), []
    watcher = threading.Thread(
        target=_kill_one_extraction_worker, args=(process.pid, stop, killed), daemon=True
    )
    watcher.start()
    try:
        output, _ = process.communicate(timeout=600)
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert killed, "no extraction worker was seen to kill"
    assert process.returncode == 0, output[-3000:]
    assert "failed after" not in output  # the retry succeeded: no batch was given up

    manifest = ingested.load("manifest", params=params)
    features = ingested.load("features", params=params)
    failures = ingested.load("extraction_failures", params=params)
    assert features["track_id"].is_unique
    assert set(features["track_id"]) | set(failures["track_id"]) == set(manifest["track_id"])
    # the only failures are the files the sample plants as faulty after ingestion, none from the kill
    assert "not_extracted" not in set(failures["reason"])
    assert ingested.load("extraction_report", params=params)["extracted"] == len(features)
