"""Hosts as Linux network namespaces, and a Ray cluster across them (tests/test_ray_hosts.py and
benchmarks/ray_hosts.py).

Each host is a network namespace (``ip netns``, Debian's iproute2; root) with its own address on one
bridge, the hosts' "switch", which lives in a namespace of its own; the machine running the test (the
operator's) gets an address on the bridge too. Hosts have their own network stack (addresses, ports,
loopback) but share this machine's filesystem and CPUs: the filesystem is what a shared mount (NFS, the
same path on every machine) gives real hosts, and the CPUs are why a benchmark here shows the overhead of
more hosts, not their speed-up. ``lose(host)`` SIGKILLs every process in a host's namespace at once: a
machine that loses power.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
KEDRO = Path(sys.executable).with_name("kedro")
CLIENT_PORT = 10001
GCS_PORT = 6379
DASHBOARD_PORT = 8265


def can_make_hosts() -> str | None:
    """None when namespaces can be made here, else why not (for a test's skip)."""
    if shutil.which("ip") is None:
        return "needs `ip` (Debian package iproute2)"
    if os.geteuid() != 0:
        return "network namespaces need root"
    name = f"mgprobe{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode:
        return f"cannot make a network namespace here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


def _ip(*args: str, netns: str | None = None) -> None:
    command = ["ip", "netns", "exec", netns, "ip", *args] if netns else ["ip", *args]
    subprocess.run(command, check=True, capture_output=True, text=True)


class Hosts:
    """``names`` hosts on 10.<net>.0.0/24, the operator (this machine) at 10.<net>.0.254."""

    def __init__(self, names: list[str]):
        tag = secrets.token_hex(2)
        taken = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
        self.net = next(  # a 10.x.0.0/24 this machine does not route yet
            n for n in (100 + secrets.randbelow(150) for _ in range(100)) if f"10.{n}." not in taken
        )
        self.switch = f"mgsw{tag}"
        self.names = {name: f"mg{tag}{name}"[:15] for name in names}
        self.addresses = {name: f"10.{self.net}.0.{i + 1}" for i, name in enumerate(names)}
        self.operator = f"10.{self.net}.0.254"
        self._links: list[str] = []

    def __enter__(self) -> Hosts:
        try:
            _ip("netns", "add", self.switch)
            _ip("link", "add", "br0", "type", "bridge", netns=self.switch)
            _ip("link", "set", "br0", "up", netns=self.switch)
            for i, (name, netns) in enumerate(self.names.items()):
                _ip("netns", "add", netns)
                self._plug(f"{netns[-8:]}{i}", netns, self.addresses[name])
            self._plug(f"mgop{self.switch[-4:]}", None, self.operator)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _plug(self, stem: str, netns: str | None, address: str) -> None:
        """A veth pair: one end in ``netns`` (None: this machine) with ``address``, the other on the
        bridge."""
        inside, port = f"{stem}a"[-15:], f"{stem}b"[-15:]
        _ip("link", "add", inside, "type", "veth", "peer", "name", port)
        self._links.append(inside if netns is None else "")
        _ip("link", "set", port, "netns", self.switch)
        _ip("link", "set", port, "master", "br0", netns=self.switch)
        _ip("link", "set", port, "up", netns=self.switch)
        if netns is not None:
            _ip("link", "set", inside, "netns", netns)
            _ip("link", "set", "lo", "up", netns=netns)
        _ip("addr", "add", f"{address}/24", "dev", inside, netns=netns)
        _ip("link", "set", inside, "up", netns=netns)

    def __exit__(self, *exc) -> None:
        for name in list(self.names):
            self.lose(name)
        for netns in [*self.names.values(), self.switch]:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        for link in filter(None, self._links):
            subprocess.run(["ip", "link", "del", link], capture_output=True)

    def command(self, host: str, argv: list) -> list[str]:
        """``argv`` run on ``host``."""
        return ["ip", "netns", "exec", self.names[host], *map(str, argv)]

    def pids(self, host: str) -> list[int]:
        found = subprocess.run(
            ["ip", "netns", "pids", self.names[host]], capture_output=True, text=True
        )
        return [int(p) for p in found.stdout.split()]

    def lose(self, host: str) -> int:
        """SIGKILL every process of ``host`` at once; how many there were."""
        pids = self.pids(host)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)


def ray_env(token: str) -> dict:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "KEDRO_DISABLE_TELEMETRY": "1"}
    env.pop("RAY_ADDRESS", None)
    # Ray >= 2.59: token authentication for clusters; every node, driver and client shares it
    return {**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}


class RayHosts:
    """A Ray head on ``head`` (no CPUs: work runs on the workers) with Ray Client on :10001 and the
    dashboard (Ray's state API) on :8265; workers started and lost one host at a time."""

    def __init__(self, hosts: Hosts, head: str, temp_root: Path):
        self.hosts, self.head = hosts, head
        self.token = secrets.token_hex(32)
        self.env = ray_env(self.token)
        self.temp_root = temp_root
        ip = hosts.addresses[head]
        self.gcs = f"{ip}:{GCS_PORT}"
        self.client = f"ray://{ip}:{CLIENT_PORT}"
        self.dashboard = f"http://{ip}:{DASHBOARD_PORT}"

    def _start(self, host: str, *args: str) -> None:
        temp = self.temp_root / host  # Ray's sockets live under it: keep the path short
        started = subprocess.run(
            self.hosts.command(host, [RAY, "start", f"--node-ip-address={self.hosts.addresses[host]}",
                                      f"--temp-dir={temp}", "--disable-usage-stats", *args]),
            env=self.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if started.returncode:
            raise RuntimeError(f"ray start on {host} failed: {started.stderr[-2000:]}")

    def start_head(self) -> None:
        # GCS health checks every 0.5 s, a node dead after 2 missed: a lost host is noticed within
        # seconds (Ray's defaults: 3 s and 5; docs/ray.md)
        self.env = {**self.env, "RAY_health_check_period_ms": "500",
                    "RAY_health_check_failure_threshold": "2"}  # fmt: skip
        self._start(self.head, "--head", f"--port={GCS_PORT}", "--num-cpus=0",
                    f"--ray-client-server-port={CLIENT_PORT}", "--include-dashboard=true",
                    f"--dashboard-host={self.hosts.addresses[self.head]}",
                    f"--dashboard-port={DASHBOARD_PORT}")  # fmt: skip

    def start_worker(self, host: str, cpus: int = 1) -> None:
        self._start(host, f"--address={self.gcs}", f"--num-cpus={cpus}")

    def wait_for_cpus(self, cpus: int, timeout_s: float = 120) -> None:
        """Until the cluster (as the operator's machine sees it) has exactly ``cpus`` CPUs alive."""
        deadline = time.monotonic() + timeout_s
        while True:
            alive = sum(n["resources_total"].get("CPU", 0) for n in self.nodes(state="ALIVE"))
            if alive == cpus:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the cluster has {alive} CPUs alive, not {cpus}")
            time.sleep(1)

    def nodes(self, **equal: str) -> list[dict]:
        return self.state("nodes", **equal)

    def state(self, kind: str, **equal: str) -> list[dict]:
        """Ray's state API (``ray.util.state.list_<kind>``) from the operator's machine; after a host is
        lost the API cannot reach its node, so what it could reach is the answer."""
        import json

        found = subprocess.run(
            [sys.executable, "-c", STATE_QUERY, kind, self.dashboard,
             json.dumps([[k, "=", v] for k, v in equal.items()]), "partial"],
            env=self.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if found.returncode:
            raise RuntimeError(found.stderr[-2000:])
        return json.loads(found.stdout.strip().splitlines()[-1])


STATE_QUERY = """
import dataclasses, json, sys
from ray.util import state
kind, address, filters = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
strict = sys.argv[4:] != ["partial"]  # "partial": a lost node's rows may be missing, not an error
listing = {"nodes": state.list_nodes, "tasks": state.list_tasks, "actors": state.list_actors,
           "jobs": state.list_jobs}[kind]
rows = listing(address=address, filters=[tuple(f) for f in filters], limit=10000, detail=True,
               raise_on_missing_output=strict)
def plain(row):
    if isinstance(row, dict):
        return row
    return row.model_dump(mode="json") if hasattr(row, "model_dump") else dataclasses.asdict(row)
print(json.dumps([plain(r) for r in rows], default=str))
"""


def point_project_at(project: Path, address: str) -> None:
    """The project's conf/local/ray.yml: this cluster's Ray Client address."""
    (project / "conf" / "local" / "ray.yml").write_text(
        f'address: "{address}"\nconnect_timeout_s: 30\n'
    )
