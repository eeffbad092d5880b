"""The promotion lock across machines, for real: a throw-away PostgreSQL cluster (Debian's, started here),
the project's advisory lock taken by separate processes, and an MLflow tracking server on that database
where two "machines" (two project copies, sharing nothing but the server and the database) promote at
once. No mocks; the order of events is forced through the processes' pipes and the lock itself.

Skips, with its reason, without PostgreSQL's programs (``apt-get install postgresql``) or psycopg
(``pip install 'music-genre[postgres]'``).
"""

from __future__ import annotations

import glob
import json
import os
import pickle
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from music_genre.common import database_lock, locks

from .conftest import free_port, make_project_copy

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
        "psycopg", reason="psycopg is not installed: pip install 'music-genre[postgres]'"
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
    import psycopg

    connection = psycopg.connect(f"{server}/postgres", autocommit=True)
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
        import psycopg
        import psycopg.errors

        probe = psycopg.connect(database, autocommit=True)
        with probe.cursor() as cursor:
            cursor.execute("SET lock_timeout = '100ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                cursor.execute("SELECT pg_advisory_lock(%s::bigint)", (lock.key,))
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


def keep_mlflow_settings(monkeypatch) -> None:
    """MLflow's tracking and registry URIs of this process (its globals, and the environment variables
    its setters write for subprocesses) back as they were after the test."""
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    monkeypatch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
    monkeypatch.setattr(registry_utils, "_registry_uri", registry_utils._registry_uri)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # remembers what it was (or its absence)
        if not os.environ[name]:
            monkeypatch.delenv(name)


def test_the_lock_is_chosen_in_one_place(postgres, monkeypatch, tmp_path):
    """The flock for SQLite; the advisory lock for a PostgreSQL registry or a configured database."""
    import mlflow

    keep_mlflow_settings(monkeypatch)
    database = f"{postgres}/postgres"
    monkeypatch.delenv(database_lock.LOCK_DATABASE_ENV, raising=False)
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
    # a tracking server without the variable: the flock, and a warning that it holds on one machine only
    import logging

    said = []
    catcher = logging.Handler()
    catcher.emit = lambda record: said.append(record.getMessage())
    logging.getLogger(database_lock.__name__).addHandler(catcher)
    try:
        mlflow.set_registry_uri("http://127.0.0.1:5000")
        assert isinstance(locks.promotion_lock(tmp_path, "sample"), locks.FileLock)
    finally:
        logging.getLogger(database_lock.__name__).removeHandler(catcher)
    assert len(said) == 1 and "does not exclude runs on other machines" in said[0], said
    assert database_lock.LOCK_DATABASE_ENV in said[0]
    # MLflow used directly on PostgreSQL, under SQLAlchemy's name for the driver
    mlflow.set_registry_uri(database.replace("postgresql://", "postgresql+psycopg://"))
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


# ---- b. a tracking server on PostgreSQL, two machines promoting at once ------------------------------
@pytest.fixture(scope="module")
def tracking_server(postgres, tmp_path_factory):
    """``mlflow server`` on a PostgreSQL backend store, artifacts proxied to a folder of its own (the
    clients need no shared file system); yields ``(tracking URI, lock database)``."""
    database = create_database(postgres, "mlflow")
    folder = tmp_path_factory.mktemp("tracking_server")
    port = free_port()
    log = open(folder / "server.log", "w")
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", database,
         "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise AssertionError(
                    f"mlflow server did not start: {(folder / 'server.log').read_text()[-3000:]}"
                )
            time.sleep(0.5)
        print(f"mlflow server on PostgreSQL up in {time.monotonic() - started:.1f} s")
        yield uri, database
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        log.close()


def a_machine(where: Path, server: str) -> Path:
    """A project copy of its own (its own data/, its own champion copy), pointed at the tracking server
    the way docs/operations.md says: ``conf/local/mlflow.yml``'s ``server`` block."""
    project = make_project_copy(where)
    (project / "conf" / "local" / "mlflow.yml").write_text(
        f"server:\n  mlflow_tracking_uri: {server}\n  mlflow_registry_uri: null\n"
    )
    return project


def test_two_machines_promote_at_once_through_a_tracking_server_on_postgres(
    tracking_server, tmp_path, monkeypatch
):
    """Machines A and B (two project copies sharing only the tracking server and its database) compare
    their models with champion v1; A takes the promotion lock (the PostgreSQL advisory lock: each
    machine's flock would be a file of its own) and B, going to register, waits for it, naming A. A
    promotes v2; B then sees v2 as the champion, compares again with v2 (loaded from the server) and stays
    challenger: no promotion against a stale champion."""
    import mlflow

    from music_genre.modeling.champion import publish_champion, register_and_publish
    from music_genre.modeling.promotion import score
    from music_genre.modeling.registry import log_classifier_model, registration_request

    from .conftest import KedroProject
    from .test_concurrency import Worker, synthetic_table, train

    server, database = tracking_server
    keep_mlflow_settings(monkeypatch)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.setenv(database_lock.LOCK_DATABASE_ENV, database)
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    host_a, host_b = a_machine(tmp_path / "host_a", server), a_machine(tmp_path / "host_b", server)

    table = synthetic_table(0, informative=True)
    weak = train(synthetic_table(1, informative=False), seed=1)
    strong_a, strong_b = train(table, seed=2), train(table, seed=3)
    test = table[table["split"] == "test"]
    scores = {n: score(m, test, ["test"], "accuracy")["value"]
              for n, m in (("weak", weak), ("a", strong_a), ("b", strong_b))}  # fmt: skip
    assert scores["b"] >= scores["weak"] + 0.01 and scores["b"] < scores["a"] + 0.01, scores
    files = {}
    for name, model in (("a", strong_a), ("b", strong_b), ("table", table)):
        files[name] = tmp_path / f"{name}.pkl"
        files[name].write_bytes(pickle.dumps(model))

    # version 1, the weak model, becomes the first champion through the same path, from machine A;
    # machine B gets the same local champion copy (as its own earlier run would have left it)
    cwd = Path.cwd()
    catalogs = {}
    try:
        for project in (host_a, host_b):
            catalogs[project] = KedroProject(project).catalog()
        # what kedro-mlflow set from conf/local/mlflow.yml: the server, for runs and the registry
        assert mlflow.get_tracking_uri() == mlflow.get_registry_uri() == server
        assert isinstance(locks.promotion_lock(host_a, "sample"), database_lock.AdvisoryLock)
        # (each machine's flock would be a file of its own: both taken at once, nothing excluded)
        flocks = [
            locks.FileLock(locks.lock_path(host, "sample", locks.PROMOTION_LOCK), "promotion")
            for host in (host_a, host_b)
        ]
        with flocks[0].hold(wait=False), flocks[1].hold(wait=False) as waited:
            assert waited is False
        mlflow.set_experiment(NAME)
        with mlflow.start_run() as run:
            log_classifier_model(weak, table)
        request = registration_request(
            {"test": {"f1_macro": 1.0}}, {"threshold": 0.0}, dataset="sample",
            feature_digest=weak.feature_digest, model_type=weak.model_type, run_id=run.info.run_id,
            training_fingerprint=weak.version, promotion={}, task="single_label",
        )  # fmt: skip
        request["artifact_path"] = "genre_classifier"
        os.chdir(host_a)
        first = register_and_publish(
            catalogs[host_a], request, weak, test, {}, project=host_a, dataset="sample"
        )
        os.chdir(host_b)
        publish_champion(catalogs[host_b], first, weak)
    finally:
        os.chdir(cwd)
    assert first["registered_version"] == 1 and first["alias"] == "champion"

    def start(model: str, role: str, project: Path) -> Worker:
        args = [str(project), str(files[model]), str(files["table"]), role, "0.01"]
        return Worker(args, env, project, tmp_path / f"worker_{role}")

    a, b = start("a", "holder", host_a), start("b", "waiter", host_b)
    try:
        decided = {"a": a.expect("decided")["decision"], "b": b.expect("decided")["decision"]}
        for decision in decided.values():  # both compared with v1, and both would promote
            assert decision["champion"]["registry_version"] == 1 and decision["promote"] is True
        a.expect("holding")
        asked = time.monotonic()
        b.send("register")
        waiting = b.expect("waiting")["line"]
        assert f"pid {a.pid} on " in waiting and NAME in waiting, waiting
        a.send("go")
        done_a = a.expect("registered")
        promoted = time.monotonic()
        assert a.finish() == 0, a.stderr()
        done_b = b.expect("registered")
        finished = time.monotonic()
        assert b.finish() == 0, b.stderr()
    finally:
        a.stop()
        b.stop()
    result_a, result_b = done_a["result"], done_b["result"]
    # A: decided against v1, and v1 was the champion when it moved the alias
    assert result_a["registered_version"] == 2 and result_a["alias"] == "champion"
    assert result_a["promotion"]["champion"]["registry_version"] == 1
    assert "stale_champion" not in result_a["promotion"]
    assert done_a["alias"] == done_a["copy_version"] == "2"
    # B: its first decision was against v1; the one applied, inside the lock, against v2
    promotion = result_b["promotion"]
    assert result_b["registered_version"] == 3
    assert promotion["stale_champion"] == "1"
    assert promotion["champion"]["registry_version"] == 2
    assert promotion["champion"]["score"] == pytest.approx(scores["a"])
    assert promotion["promote"] is False and result_b["alias"] == "challenger"
    assert (
        done_b["alias"] == "2"
    )  # the champion when B left the lock; B's copy stayed v1's (not B's)
    print(
        f"two machines: B waited {promoted - asked:.1f} s for A's promotion (A held the lock on "
        f"purpose), then registered and compared again in {finished - promoted:.1f} s"
    )

    client = mlflow.MlflowClient(tracking_uri=server)
    aliases = {k: int(v) for k, v in client.get_registered_model(NAME).aliases.items()}
    assert aliases == {"champion": 2, "previous_champion": 1, "challenger": 3}
    assert client.get_model_version(NAME, "3").tags["promotion"] == promotion["reason"]

    # what `predict --model models:/...@champion` loads, from a process with only MLFLOW_TRACKING_URI
    loaded = subprocess.run(
        [sys.executable, "-c", "from music_genre.modeling import store; "
         f"print(store.load_from_registry('models:/{NAME}@champion', None).classifier.version)"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.strip().splitlines()[-1] == strong_a.version


# ---- c. predict and serve, from the registry on the server --------------------------------------------
def music_genre(*args: str, cwd: Path, env: dict, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "music_genre", *args], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_predict_serve_and_the_page_take_the_champion_from_the_tracking_server(
    trained_project, tracking_server, tmp_path, monkeypatch, browser_page
):
    """The sample's trained pipeline model (what a training run logs and registers), registered on the
    server as the champion of a model of its own: ``predict --model models:/...@champion`` and ``serve
    --model ...`` with only ``MLFLOW_TRACKING_URI`` set, outside any project, answer as the project's own
    champion does."""
    import base64

    import mlflow
    from mlflow import MlflowClient

    from .conftest import wait_until_up

    server, _ = tracking_server
    keep_mlflow_settings(monkeypatch)
    monkeypatch.chdir(trained_project.path)  # the sample project's artifact store is relative to it
    local = f"sqlite:///{trained_project.path / 'mlflow.db'}"
    champion = MlflowClient(tracking_uri=local).get_model_version_by_alias(NAME, "champion")
    mlflow.set_tracking_uri(local)
    folder = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{NAME}/{champion.version}", dst_path=str(tmp_path / "model")
    )
    # logged and registered on the server as a run of another machine would have it
    name = f"{NAME}-on-server"
    mlflow.set_tracking_uri(server)
    mlflow.set_experiment(name)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(folder, "music_genre_pipeline")
    client = MlflowClient(tracking_uri=server)
    client.create_registered_model(name)
    version = client.create_model_version(
        name, f"{run.info.artifact_uri}/music_genre_pipeline", run_id=run.info.run_id
    ).version
    client.set_registered_model_alias(name, "champion", version)
    assert run.info.artifact_uri.startswith(
        "mlflow-artifacts:/"
    )  # through the server, no shared folder

    manifest = trained_project.load("manifest")
    clip = Path(
        shutil.copy(manifest[manifest["split"] == "test"]["path"].iloc[0], tmp_path / "clip.mp3")
    )
    outside = tmp_path / "elsewhere"  # no project here: only the server
    outside.mkdir()
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "MLFLOW_TRACKING_URI": server}
    env.pop("MLFLOW_REGISTRY_URI", None)
    started = time.monotonic()
    remote = music_genre(
        "predict", str(clip), "--json", "--model", f"models:/{name}@champion", cwd=outside, env=env
    )
    took = time.monotonic() - started
    assert remote.returncode == 0, remote.stderr[-2000:]
    here = music_genre(
        "predict", str(clip), "--json", cwd=trained_project.path, env=os.environ.copy()
    )
    assert here.returncode == 0, here.stderr[-2000:]
    answer, expected = (
        json.loads(remote.stdout.splitlines()[-1]),
        json.loads(here.stdout.splitlines()[-1]),
    )
    assert answer["genre"] == expected["genre"]
    print(f"predict --model models:/{name}@champion from the server: {took:.1f} s")

    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    served = subprocess.Popen(
        [sys.executable, "-m", "music_genre", "serve", "--model", f"models:/{name}@champion",
         "--port", str(port)],
        cwd=outside, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until_up(served, f"http://127.0.0.1:{port}/ping", "model server", timeout_s=300)
        records = [
            {"content": base64.b64encode(clip.read_bytes()).decode(), "filename": "clip.mp3"}
        ]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"dataframe_records": records}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as reply:
            rows = json.loads(reply.read())["predictions"]
    finally:
        os.killpg(served.pid, signal.SIGTERM)
        served.wait(timeout=60)
        log.close()
    assert rows[0]["genre"] == expected["genre"], (tmp_path / "serve.log").read_text()[-2000:]

    # the page of a project with no model of its own, answering with the server's champion
    from .conftest import CHROMIUM, make_project_copy, page_server

    if CHROMIUM is None:
        return  # the browser part needs Debian's chromium; predict and serve were checked above
    bare = make_project_copy(tmp_path / "bare_project")
    with page_server(bare, args=("--model", f"models:/{name}@champion"), env=env) as url:
        page = browser_page
        page.goto(url)
        page.wait_for_selector("input[type=file]", state="attached", timeout=120_000)
        page.set_input_files("input[type=file]", [str(clip)])
        page.get_by_text("clip.mp3:").first.wait_for(timeout=240_000)
        main = page.get_by_role("main").inner_text()
        sidebar = page.get_by_role("region", name="Sidebar", exact=True).inner_text()
    answer_line = next(line for line in main.splitlines() if line.startswith("clip.mp3:"))
    assert expected["genre"] in answer_line, answer_line
    assert f"{name} version {version}" in sidebar
