"""Start and stop Ray from ``conf/<env>/ray.yml``: a local Ray by default, an existing cluster by address.

Used by the project's hook, the benchmarks and the tests, so every caller gets the same Ray.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path

from music_genre.common.errors import ExpectedError

log = logging.getLogger(__name__)

# The tag of the nodes that need Ray: the project's hook starts Ray just before the first of them runs.
RAY_TAG = "ray"


class RayClusterUnreachable(ExpectedError, ConnectionError):
    """The configured Ray address does not answer."""


def _quiet_ray_environment() -> None:
    # No network at run time: Ray's usage statistics would phone home.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")


def _bootstrap_host_port(address: str) -> tuple[str, int] | None:
    """host and port that must answer for ``address`` (``auto`` reads Ray's own pointer file)."""
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS", "")
        if not address:
            pointer = Path("/tmp/ray/ray_current_cluster")
            address = pointer.read_text().strip() if pointer.is_file() else ""
        if not address:
            return None
    if address.startswith("ray://"):
        address = address[len("ray://") :]
    address = address.split("/")[0]
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"Ray address {address!r} is not host:port, ray://host:port or auto")
    return host, int(port)


def check_reachable(address: str, timeout_s: float) -> None:
    """Fail within ``timeout_s`` with one clear line when nothing listens at the cluster's address."""
    target = _bootstrap_host_port(address)
    if target is None:
        raise RayClusterUnreachable(
            "ray.yml says address: auto, but no Ray cluster runs on this machine: start one with "
            "`ray start --head`, or set address to host:port"
        )
    deadline = time.monotonic() + timeout_s
    last_error: OSError | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(target, timeout=min(2.0, timeout_s)):
                return
        except OSError as err:
            last_error = err
            time.sleep(0.5)
    raise RayClusterUnreachable(
        f"no Ray cluster answers at {address} ({target[0]}:{target[1]}: {last_error}); start it with "
        f"`ray start --head`, or fix `address` in conf/<env>/ray.yml"
    )


def start_ray(config: Mapping | None = None) -> bool:
    """Start (or connect to) Ray as configured. Returns False when Ray was already running here."""
    import ray

    config = dict(config or {})
    if ray.is_initialized():
        return False
    _quiet_ray_environment()
    # RAY_ADDRESS is Ray's own convention (`ray job submit` sets it for the driver it starts).
    address = config.get("address") or os.environ.get("RAY_ADDRESS") or None
    runtime_env = dict(config.get("runtime_env") or {})
    if address:
        check_reachable(str(address), float(config.get("connect_timeout_s", 10)))
        import music_genre

        # Ship the project's code so cluster workers need no install of it.
        runtime_env.setdefault("py_modules", [str(Path(music_genre.__file__).parent)])
        ray.init(
            address=address,
            runtime_env=runtime_env or None,
            log_to_driver=True,
            logging_level=logging.ERROR,  # Ray's own start-up notes; ours below says what started
        )
        log.info("Connected to Ray cluster at %s: %s", address, ray.cluster_resources())
    else:
        num_cpus = config.get("num_cpus") or os.cpu_count()
        ray.init(
            address="local",  # a new local Ray even when a `ray start` cluster runs on this machine
            num_cpus=int(num_cpus),
            include_dashboard=bool(config.get("include_dashboard", False)),
            runtime_env=runtime_env or None,
            log_to_driver=True,
            logging_level=logging.ERROR,  # its token-auth and start-up notes: not the user's concern
        )
        log.info("Started a local Ray with %s CPUs", num_cpus)
    return True


def stop_ray() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


class NodeWatch:
    """Says, once per node, when a Ray node leaves the cluster while work runs on it (a host lost or
    stopped): Ray runs the tasks that were on it again elsewhere (their ``max_retries``), and the log says
    why the run slowed down. Looks at most every ``every_s`` seconds (one call to Ray's GCS)."""

    def __init__(self, what: str, every_s: float = 2.0) -> None:
        self.what, self.every_s = what, every_s
        self._last = 0.0
        self.alive = self._alive()

    @staticmethod
    def _alive() -> dict[str, str]:
        import ray

        if not ray.is_initialized():
            return {}
        return {
            n["NodeID"]: n.get("NodeManagerAddress", "?") for n in ray.nodes() if n.get("Alive")
        }

    def check(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every_s:
            return
        self._last = now
        alive = self._alive()
        for node, address in self.alive.items():
            if node not in alive:
                log.warning(
                    "Ray node %s (%s) left the cluster during %s: Ray runs its unfinished tasks again "
                    "on the other nodes; nothing it finished is lost (results reach the cache through "
                    "this driver)",
                    address,
                    node[:12],
                    self.what,
                )
        self.alive = alive
