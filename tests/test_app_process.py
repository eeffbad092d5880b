"""`music-genre app` and `music-genre serve` as a supervisor runs them: real processes on real ports. The
page's metrics port is open from the start (before any browser visits the page), each says which
environment it serves, and SIGTERM or SIGINT sent to the command alone (as systemd, Docker or Kubernetes
send it: to the main process, not its group) stops every child and frees every port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from music_genre.serving import wording

from .conftest import free_port, wait_until_up

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def port_is_free(port: int) -> bool:
    """Whether a new server could listen on ``port``: bound as servers bind (SO_REUSEADDR, as Tornado
    and uvicorn do), so the closed connections' TIME_WAIT does not count, a listening socket does."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_free(port: int, timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_is_free(port):
            return True
        time.sleep(0.2)
    return False


def start(args: list[str], project: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "music_genre", *args],
        cwd=project,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a group of its own: the test signals the main process alone
    )


def children_of(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(status.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_app_opens_its_metrics_port_at_once_and_a_signal_frees_both_ports(
    trained_project, stop
):
    port, metrics_port = free_port(), free_port()
    app = start(
        ["app", "--port", str(port), "--metrics-port", str(metrics_port)], trained_project.path
    )
    try:
        wait_until_up(app, f"http://127.0.0.1:{port}/_stcore/health", "page's server")
        # no browser has opened the page: the metrics endpoint answers all the same
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as reply:
            assert reply.status == 200
        streamlit = children_of(app.pid)
        assert streamlit, "the page's server runs as a child"
        assert not port_is_free(port) and not port_is_free(metrics_port)
        os.kill(app.pid, stop)  # the main process only, as a supervisor does
        out, err = app.communicate(timeout=60)
    finally:
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait()
    assert app.returncode == 0, err
    said = [line for line in out.splitlines() if line.startswith("music-genre page on")]
    assert said == [
        f"music-genre page on http://127.0.0.1:{port}, metrics on "
        f"http://127.0.0.1:{metrics_port}/metrics: {wording.environment_text(None, 'sample')} "
        "(Ctrl+C stops it)"
    ]
    assert not any(alive(pid) for pid in streamlit), "the Streamlit child outlived the command"
    assert wait_free(port) and wait_free(metrics_port)
    assert "Traceback" not in err


def test_serve_says_which_environment_and_sigterm_frees_its_port(trained_project):
    port = free_port()
    served = start(["serve", "--port", str(port)], trained_project.path)
    try:
        wait_until_up(served, f"http://127.0.0.1:{port}/ping", "model server", timeout_s=300)
        os.kill(served.pid, signal.SIGTERM)
        out, err = served.communicate(timeout=60)
    finally:
        if served.poll() is None:
            os.killpg(served.pid, signal.SIGKILL)
            served.wait()
    # uvicorn shuts down gracefully, then ends by the signal it was sent (its exit status says so)
    assert served.returncode in (0, -signal.SIGTERM), err
    assert "Traceback" not in err
    said = [line for line in out.splitlines() if line.startswith("music-genre serve:")]
    assert len(said) == 1
    assert said[0].startswith(f"music-genre serve: {wording.environment_text(None, 'sample')}: ")
    assert wait_free(port)
