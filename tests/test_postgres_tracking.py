"""The promotion lock across machines, for real: a throw-away PostgreSQL cluster (Debian's, started here),
the project's advisory lock taken by separate processes, and an MLflow tracking server on that database
where two "machines" (two project copies, sharing nothing but the server and the database) promote at
once. No mocks; the order of events is forced through the processes' pipes and the lock itself.

Skips, with its reason, without PostgreSQL's programs (``apt-get install postgresql``) or psycopg2
(``pip install 'music-genre[postgres]'``).
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from music_genre.common import database_lock, locks

from .conftest import free_port

pytestmark = pytest.mark.timeout(600)

WORKER = Path(__file__).with_name("promotion_worker.py")
NAME = "music-genre-sample"


def postgres_programs() -> Path:
    """The folder of Debian's PostgreSQL programs (initdb, pg_ctl), or skip."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql): no initdb")
    return Path(found[-1]).parent


def as_postgres(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` user when we are root (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
    return [runuser, "-u", "postgres", "--", *command]


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL cluster in a temporary folder on a free port (trust authentication, localhost only);
    yields its URI prefix ``postgresql://postgres@127.0.0.1:<port>``."""
    pytest.importorskip(
        "psycopg2", reason="psycopg2 is not installed: pip install 'music-genre[postgres]'"
    )
    programs = postgres_programs()
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
    # not under pytest's tmp_path: its parents are private to root, and the server runs as postgres
    root = Path(tempfile.mkdtemp(prefix="music-genre-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    port = free_port()
    log = root / "server.log"
    try:
        subprocess.run(
            as_postgres([str(programs / "initdb"), "-D", str(data), "-U", "postgres",
                         "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            as_postgres([str(programs / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
                         "-w", "-t", "60", "start"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    except subprocess.CalledProcessError as error:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL would not start here: {error.stderr.decode()[-300:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            as_postgres([str(programs / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def create_database(server: str, name: str) -> str:
    import psycopg2

    connection = psycopg2.connect(f"{server}/postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return f"{server}/{name}"


# ---- a. the advisory lock, between processes -------------------------------------------------------
CONTENDER = """
import json, os, sys, time
from music_genre.common.database_lock import promotion_advisory_lock
database, events = sys.argv[1], sys.argv[2]
def note(event, **more):
    with open(events, "a") as out:
        out.write(json.dumps({"event": event, "pid": os.getpid(), "at": time.time(), **more}) + "\\n")
lock = promotion_advisory_lock(database, "sample")
waited = lock.acquire(wait=True, on_wait=lambda holder: note("waiting", holder=holder))
note("holding", waited=waited)
print("holding", flush=True)
line = sys.stdin.readline().strip()   # "release", or nothing: killed meanwhile
note("releasing")
lock.release()
"""


class Contender:
    """A process that takes the dataset's advisory lock, says so, and releases it when told."""

    def __init__(self, database: str, events: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-c", CONTENDER, database, str(events)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.pid = self.process.pid

    def wait_holding(self) -> None:
        line = self.process.stdout.readline().strip()
        assert line == "holding", self.process.stderr.read()[-2000:] if not line else line

    def release(self) -> None:
        self.process.stdin.write("release\n")
        self.process.stdin.flush()
        assert self.process.wait(timeout=60) == 0, self.process.stderr.read()[-2000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for_event(path: Path, event: str, pid: int, timeout: float = 60) -> dict:
    """The first ``event`` of ``pid`` in the events file, once it is there (a wait for a fact)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in read_events(path):
            if entry["event"] == event and entry["pid"] == pid:
                return entry
        time.sleep(0.05)
    raise AssertionError(f"no {event!r} from pid {pid}: {read_events(path)}")


def test_the_advisory_lock_excludes_other_processes_and_a_killed_holder_frees_it(
    postgres, tmp_path
):
    database = create_database(postgres, "lock_test")
    events = tmp_path / "events.jsonl"
    first = Contender(database, events)
    second = third = None
    try:
        first.wait_holding()
        # the second waits on the first, saying for whom (as the flock's waiting line does)
        second = Contender(database, events)
        waiting = wait_for_event(events, "waiting", second.pid)
        assert waiting["holder"]["pid"] == first.pid and waiting["holder"]["host"]
        assert f"pid {first.pid}," not in locks.describe(waiting["holder"])  # host named
        assert f"pid {first.pid} on " in locks.describe(waiting["holder"])
        # in this process too: refused at once without waiting, naming the holder
        lock = database_lock.promotion_advisory_lock(database, "sample")
        with pytest.raises(locks.LockBusyError, match=f"another run \\(pid {first.pid} on "):
            lock.acquire(wait=False)
        assert not lock.held_here
        # a wait is sliced by lock_timeout, which bounds an advisory lock's wait too
        import psycopg2
        import psycopg2.errors

        probe = psycopg2.connect(database)
        probe.autocommit = True
        with probe.cursor() as cursor:
            cursor.execute("SET lock_timeout = '100ms'")
            with pytest.raises(psycopg2.errors.LockNotAvailable):
                cursor.execute("SELECT pg_advisory_lock(%s)", (lock.key,))
        probe.close()
        # held past one wait slice (lock_timeout), so the waiter asks again and keeps its turn
        time.sleep(database_lock.WAIT_SECONDS + 0.5)
        first.release()
        second.wait_holding()
        order = [(e["event"], e["pid"]) for e in read_events(events)]
        assert order == [
            ("holding", first.pid),
            ("waiting", second.pid),
            ("releasing", first.pid),
            ("holding", second.pid),
        ], order
        released = wait_for_event(events, "releasing", first.pid)["at"]
        held = wait_for_event(events, "holding", second.pid)
        assert held["waited"] is True and held["at"] >= released
        assert held["at"] - waiting["at"] > database_lock.WAIT_SECONDS
        print(f"lock handed over {1000 * (held['at'] - released):.0f} ms after its release")

        # the holder is killed: its session ends, the server frees the lock, the next one takes it
        third = Contender(database, events)
        wait_for_event(events, "waiting", third.pid)
        killed_at = time.time()
        second.process.send_signal(signal.SIGKILL)
        second.process.wait(timeout=30)
        third.wait_holding()
        taken = wait_for_event(events, "holding", third.pid)
        assert not [
            e for e in read_events(events) if e["event"] == "releasing" and e["pid"] == second.pid
        ]
        print(
            f"a SIGKILLed holder's lock taken by the next {1000 * (taken['at'] - killed_at):.0f} ms later"
        )
        third.release()
        # free now: taken and released here without waiting; re-entrant within one process
        with lock.hold(wait=False) as waited, lock.hold(wait=False):
            assert waited is False and lock.held_here
        assert not lock.held_here
    finally:
        for contender in (first, second, third):
            if contender is not None:
                contender.stop()


def test_the_lock_is_chosen_in_one_place(postgres, monkeypatch, tmp_path):
    """The flock for SQLite; the advisory lock for a PostgreSQL registry or a configured database."""
    import mlflow

    database = f"{postgres}/postgres"
    monkeypatch.delenv(database_lock.LOCK_DATABASE_ENV, raising=False)
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    try:
        mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
        mlflow.set_registry_uri(None)
        assert isinstance(locks.promotion_lock(tmp_path, "sample"), locks.FileLock)
        monkeypatch.setenv(database_lock.LOCK_DATABASE_ENV, database)
        chosen = locks.promotion_lock(tmp_path, "sample")
        assert isinstance(chosen, database_lock.AdvisoryLock) and chosen.database == database
        assert chosen.key == database_lock.lock_key("music-genre promotion sample")
        monkeypatch.setenv(database_lock.LOCK_DATABASE_ENV, "sqlite:///x.db")
        with pytest.raises(database_lock.LockDatabaseError, match="is not a PostgreSQL database"):
            locks.promotion_lock(tmp_path, "sample")
        monkeypatch.delenv(database_lock.LOCK_DATABASE_ENV)
        mlflow.set_registry_uri(database.replace("postgresql://", "postgresql+psycopg2://"))
        chosen = locks.promotion_lock(tmp_path, "sample")
        assert isinstance(chosen, database_lock.AdvisoryLock)
        with chosen.hold(wait=False) as waited:  # the SQLAlchemy URI, read by libpq
            assert waited is False
        # a database that cannot be reached: one line, no password in it
        unreachable = f"postgresql://me:secret@127.0.0.1:{free_port()}/nothing"
        lock = database_lock.promotion_advisory_lock(unreachable, "sample")
        with pytest.raises(database_lock.LockDatabaseError) as error:
            lock.acquire(wait=True)
        assert "secret" not in str(error.value) and "\n" not in str(error.value)
        assert "me:***@127.0.0.1" in str(error.value)
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
