"""``music-genre app``'s processes: the Streamlit server as a child, the page's Prometheus metrics port
opened by this process as soon as it starts, and both stopped on SIGTERM or SIGINT.

Why a parent at all: Streamlit runs the page's script only when a browser opens the page, so a metrics
endpoint started by the script would stay closed until then (after a restart, Prometheus would see the
target down). Here the parent listens at once and serves what the page's counters record, through
``prometheus_client``'s multiprocess mode: the child writes its counters to a private folder
(``PROMETHEUS_MULTIPROC_DIR``), the parent's endpoint reads them. Supervisors (systemd, Docker,
Kubernetes) stop a service with SIGTERM: the parent stops the child, waits for it, closes the metrics port
and removes the folder, so both ports are free when it exits.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from contextlib import contextmanager

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
CHILD_GRACE_S = 20.0  # Streamlit stops in about a second; then the child is killed


@contextmanager
def metrics_endpoint(port: int | None, address: str = "127.0.0.1"):
    """The page's metrics on ``http://<address>:<port>/metrics`` from now on, collected from the
    processes that write to the yielded folder (None: ``port`` None or 0, or the port is busy: one
    warning, and the page goes on without it). Closed, and the folder removed, on the way out."""
    if not port:
        yield None
        return
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    from music_genre.serving.prometheus_metrics import listen

    folder = tempfile.mkdtemp(prefix="music-genre-page-metrics-")
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=folder)
    listening = listen(port, address, registry)
    if listening is None:
        shutil.rmtree(folder, ignore_errors=True)
        yield None
        return
    server, thread = listening
    try:
        yield folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        shutil.rmtree(folder, ignore_errors=True)


def run_page(command: Sequence[str], environment: dict, metrics_folder: str | None) -> int:
    """Run the Streamlit ``command`` as a child until it exits or this process gets SIGTERM or SIGINT
    (then the child is stopped, and killed after ``CHILD_GRACE_S``). Returns the exit status: the
    child's, or 0 when a signal asked to stop."""
    if metrics_folder:
        environment = {**environment, MULTIPROC_ENV: metrics_folder}
    stopping: list[int] = []
    child = subprocess.Popen(list(command), env=environment)

    def stop(signum, _frame) -> None:
        stopping.append(signum)
        if child.poll() is None:
            child.terminate()

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    deadline = None
    try:
        while True:
            try:
                code = child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stopping and deadline is None:
                    deadline = time.monotonic() + CHILD_GRACE_S
                if deadline is not None and time.monotonic() > deadline:
                    child.kill()  # asked to stop, and still running after the grace period
                    code = child.wait()
                    break
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stopping else code


def metrics_port_of(option: int | None, settings: dict) -> int | None:
    """The page's metrics port: ``--metrics-port`` when given, else ``prometheus.page_port``; 0 is off."""
    port = option if option is not None else settings.get("page_port")
    return int(port) if port else None


def child_env() -> dict:
    """The environment of the Streamlit child: no usage statistics sent anywhere."""
    return {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
