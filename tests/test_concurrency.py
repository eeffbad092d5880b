"""Two runs at once on one dataset, for real: separate processes, a real SQLite MLflow store and registry, the
project's real catalog, the run end's own ``register_and_publish`` (:mod:`music_genre.modeling.champion`). Every interleaving is forced
through the processes' pipes and the locks themselves; nothing is left to timing.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from music_genre.common import locks
from music_genre.features.feature_cache import Batch, FeatureCache

from .conftest import KedroProject, make_project_copy

pytestmark = pytest.mark.timeout(600)

WORKER = Path(__file__).with_name("promotion_worker.py")
GENRES = ["Electronic", "Folk", "Rock"]
NAME = "music-genre-sample"


def synthetic_table(seed: int, informative: bool) -> pd.DataFrame:
    """Tracks of three genres whose 8 features say the genre (``informative``) or nothing at all."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, per_genre in (("training", 30), ("validation", 8), ("test", 12)):
        for g, genre in enumerate(GENRES):
            for i in range(per_genre):
                centre = np.eye(len(GENRES), 8)[g] * 4.0 if informative else np.zeros(8)
                values = centre + rng.normal(size=8)
                rows.append({"track_id": f"{split}-{genre}-{i}", "genre": genre, "split": split,
                             **{f"f{k}": float(v) for k, v in enumerate(values)}})  # fmt: skip
    return pd.DataFrame(rows)


def train(table: pd.DataFrame, seed: int):
    from music_genre.modeling.training import train_classifier

    return train_classifier(
        table, "logistic_regression", {"C": 1.0, "max_iter": 500}, seed=seed,
        feature_digest="synthetic-8",
    )  # fmt: skip


def mlflow_client(project: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


class Worker:
    """tests/promotion_worker.py in a process of its own: commands on its stdin, events from a pipe of
    their own (its stdout and stderr go to files, read only to explain a failure)."""

    def __init__(self, args: list[str], env: dict, cwd: Path, logs: Path):
        read_end, write_end = os.pipe()
        self.out = open(logs.with_suffix(".out"), "w")
        self.err_path = logs.with_suffix(".err")
        self.err = open(self.err_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), *args, str(write_end)], stdin=subprocess.PIPE,
            stdout=self.out, stderr=self.err, text=True, env=env, cwd=cwd, pass_fds=(write_end,),
        )  # fmt: skip
        os.close(write_end)
        self.events = os.fdopen(read_end)
        self.pid = self.process.pid

    def send(self, word: str) -> None:
        self.process.stdin.write(word + "\n")
        self.process.stdin.flush()

    def expect(self, event: str) -> dict:
        """The worker's next event, which must be ``event``."""
        line = self.events.readline()
        if not line:
            self.process.wait(timeout=60)
            raise AssertionError(f"worker ended before {event!r}: {self.stderr()}")
        message = json.loads(line)
        assert message["event"] == event, message
        return message

    def stderr(self) -> str:
        self.err.flush()
        return self.err_path.read_text()[-3000:]

    def finish(self) -> int:
        code = self.process.wait(timeout=120)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        for handle in (self.events, self.out, self.err):
            handle.close()


def test_a_run_never_promotes_against_a_stale_champion(tmp_path):
    """Run B compares its model with champion v1 (its first read), then run A promotes v2 while B waits
    for the promotion lock: B must compare again with v2 inside the lock and decide against v2, and the
    champion's local copy must be v2's at every point a run leaves the lock."""
    from music_genre.modeling.champion import register_and_publish
    from music_genre.modeling.promotion import score

    project = make_project_copy(tmp_path / "project")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
           "KEDRO_DISABLE_TELEMETRY": "1"}  # fmt: skip
    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    try:
        table = synthetic_table(0, informative=True)
        weak = train(
            synthetic_table(1, informative=False), seed=1
        )  # the first champion: learned noise
        strong_a, strong_b = train(table, seed=2), train(table, seed=3)
        test = table[table["split"] == "test"]
        scores = {n: score(m, test, ["test"], "accuracy")["value"]
                  for n, m in (("weak", weak), ("a", strong_a), ("b", strong_b))}  # fmt: skip
        # what the rule (challenger >= champion + 0.01) decides follows from these, not from luck
        assert scores["b"] >= scores["weak"] + 0.01, scores  # B beats the stale champion ...
        assert scores["b"] < scores["a"] + 0.01, scores  # ... and not the current one
        files = {}
        for name, model in (("weak", weak), ("a", strong_a), ("b", strong_b), ("table", table)):
            files[name] = tmp_path / f"{name}.pkl"
            files[name].write_bytes(pickle.dumps(model))

        # version 1, the weak model, becomes the first champion through the same code path
        catalog = KedroProject(project).catalog()
        import mlflow

        from music_genre.modeling.registry import log_classifier_model, registration_request

        mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
        mlflow.set_experiment(NAME)
        with mlflow.start_run() as run:
            log_classifier_model(weak, table)
        request = registration_request(
            {"test": {"f1_macro": 1.0}}, {"threshold": 0.0}, dataset="sample",
            feature_digest=weak.feature_digest, model_type=weak.model_type, run_id=run.info.run_id,
            training_fingerprint=weak.version, promotion={}, task="single_label",
        )  # fmt: skip
        request["artifact_path"] = "genre_classifier"
        cwd = Path.cwd()
        os.chdir(project)
        try:
            first = register_and_publish(catalog, request, weak, test, {}, project=project,
                                         dataset="sample")  # fmt: skip
        finally:
            os.chdir(cwd)
        assert first["registered_version"] == 1 and first["alias"] == "champion"

        def start(model: str, role: str) -> Worker:
            args = [str(project), str(files[model]), str(files["table"]), role, "0.01"]
            return Worker(args, env, project, tmp_path / f"worker_{role}")

        a, b = start("a", "holder"), start("b", "waiter")
        try:
            # both runs read the champion and compare with it: v1, the weak one, for both
            decided_a = a.expect("decided")["decision"]
            decided_b = b.expect("decided")["decision"]
            for decided in (decided_a, decided_b):
                assert decided["champion"]["registry_version"] == 1 and decided["promote"] is True
            # A enters the promotion lock and stays there; B goes to register and must wait for it
            a.expect("holding")
            b.send("register")
            waiting = b.expect("waiting")["line"]
            assert f"pid {a.pid}," in waiting and NAME in waiting, waiting
            # A promotes (v2 beats v1) inside the lock; at that moment the copy is v2's
            a.send("go")
            done_a = a.expect("registered")
            assert done_a["result"]["registered_version"] == 2
            assert done_a["result"]["alias"] == "champion"
            assert done_a["alias"] == done_a["copy_version"] == "2"
            assert a.finish() == 0, a.stderr()
            # B got the lock only then: it compared again, with v2, and v2 stays champion (its next
            # event: it said once that it waited)
            done_b = b.expect("registered")
            assert b.finish() == 0, b.stderr()
        finally:
            a.stop()
            b.stop()
        result_b = done_b["result"]
        promotion = result_b["promotion"]
        assert result_b["registered_version"] == 3
        assert promotion["stale_champion"] == "1"  # the first comparison was against v1 ...
        assert promotion["champion"]["registry_version"] == 2  # ... the one applied, against v2
        assert promotion["promote"] is False and result_b["alias"] == "challenger"
        assert promotion["champion"]["score"] == pytest.approx(scores["a"])
        assert promotion["challenger"]["score"] == pytest.approx(scores["b"])
        assert done_b["alias"] == done_b["copy_version"] == "2"

        client = mlflow_client(project)
        aliases = {k: int(v) for k, v in client.get_registered_model(NAME).aliases.items()}
        assert aliases == {"champion": 2, "previous_champion": 1, "challenger": 3}
        # the version's tag and the run's tags say what was applied, not what B first decided
        assert client.get_model_version(NAME, "3").tags["promotion"] == promotion["reason"]
        run_b = client.get_run(result_b["run_id"])
        assert run_b.data.tags["promote"] == "False"
        # the local copy is the champion's: v2 is A's model, the fallback is v1's
        catalog = KedroProject(project).catalog()
        os.chdir(project)
        try:
            info = catalog.load("champion_info")
            copy = catalog.load("champion_genre_classifier")
            fallback = catalog.load("previous_champion")
        finally:
            os.chdir(cwd)
        assert (info["name"], info["version"]) == (NAME, 2)
        assert copy.version == strong_a.version and copy.info["registry"]["version"] == 2
        assert fallback.version == weak.version
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)


HOLD = """
import sys
from music_genre.common.locks import batch_loop_lock
lock = batch_loop_lock(sys.argv[1], "sample")
lock.acquire(wait=False)
print("held", flush=True)
sys.stdin.readline()
"""


def hold_loop_lock(project: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(project)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_batch_loop_run_is_refused_in_one_line_and_a_killed_one_blocks_nothing(tmp_path):
    project = make_project_copy(tmp_path / "project")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    holder = hold_loop_lock(project)
    try:
        # in this process: refused at once, naming the holder
        lock = locks.batch_loop_lock(project, "sample")
        with pytest.raises(locks.LockBusyError) as refused:
            lock.acquire(wait=False)
        assert f"another run (pid {holder.pid}, started " in str(refused.value)
        assert "sample's batch loop" in str(refused.value)

        # the daily command: one error line, exit 1, before any pipeline ran
        day = subprocess.run(
            [sys.executable, "-m", "music_genre", "daily"], cwd=project, env=env,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert day.returncode == 1, day.stderr[-2000:]
        errors = [line for line in day.stderr.splitlines() if line.startswith("error:")]
        assert errors == [f"error: {refused.value}"], day.stderr[-2000:]
        assert not (project / "data/07_model_output/sample/predictions.parquet").exists()

        # `kedro run --pipelines=monitoring`: refused by the project hook before its first node, with
        # no MLflow run opened for it
        run = subprocess.run(
            [sys.executable, "-m", "kedro", "run", "--pipelines=monitoring"], cwd=project, env=env,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
        assert f"error: another run (pid {holder.pid}, started " in run.stderr
        assert "Running node" not in run.stdout + run.stderr
        client = mlflow_client(project)
        experiment = client.get_experiment_by_name(NAME)
        assert experiment is None or not client.search_runs([experiment.experiment_id])

        # the holder is killed: the kernel frees its lock, and the next run takes it
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        with lock.hold(wait=False) as waited:
            assert waited is False
            assert locks.holder_of(lock.path)["pid"] == os.getpid()
    finally:
        if holder.poll() is None:
            holder.kill()


def test_a_lock_is_reentrant_in_one_process_and_freed_at_the_last_release(tmp_path):
    """``music-genre daily`` holds the loop lock and runs pipelines that take it again in its process."""
    lock = locks.batch_loop_lock(tmp_path, "sample")
    again = locks.batch_loop_lock(tmp_path, "sample")
    lock.acquire(wait=False)
    again.acquire(wait=False)
    again.release()
    check = subprocess.run(
        [sys.executable, "-c", HOLD, str(tmp_path)], input="", capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert check.returncode == 1 and "LockBusyError" in check.stderr  # still held by this process
    lock.release()
    check = subprocess.run(
        [sys.executable, "-c", HOLD, str(tmp_path)], input="", capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert check.returncode == 0 and check.stdout.strip() == "held", check.stderr[-2000:]


def test_the_feature_cache_reads_through_another_runs_compaction(tmp_path):
    """Run A reads the cache while run B compacts it (B writes the merged part, then deletes the parts it
    merged): A's read, which lost a part under it, reads the listing again and finds every row once."""
    columns = ["a", "b"]
    writer = FeatureCache(tmp_path, "digest")
    for i in range(4):
        meta = pd.DataFrame({"track_id": [f"t{i}"], "fingerprint": ["x"], "status": ["ok"],
                             "reason": [None], "error": [None]})  # fmt: skip
        writer.write_batch(Batch(meta, np.array([[i, i]]), columns))
    reader, compactor = FeatureCache(tmp_path, "digest"), FeatureCache(tmp_path, "digest")
    calls = []

    def read_while_compacting(part):
        from music_genre.features.feature_cache import read_part

        if not calls:  # the first part is listed; B compacts before A reads it
            compactor.compact(min_parts=2)
        calls.append(part)
        return read_part(part)

    parts, frames = reader._read_parts(read_while_compacting)
    assert len(parts) == 1  # the listing read again: B's merged part
    rows = pd.concat(frames)
    assert sorted(rows["track_id"]) == ["t0", "t1", "t2", "t3"]
    assert reader.load()["a"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_the_champion_copy_is_replaced_whole(tmp_path):
    """The champion's local copy is renamed into place: a reader never finds a partly written file,
    and no temporary file is left beside it."""
    from music_genre.data.datasets import OptionalJSONDataset, OptionalPickleDataset

    model = OptionalPickleDataset(filepath=str(tmp_path / "champion" / "genre_classifier.pkl"))
    info = OptionalJSONDataset(filepath=str(tmp_path / "champion" / "champion.json"))
    model.save({"version": 1})
    info.save({"version": 1})
    model.save({"version": 2})
    assert model.load() == {"version": 2} and info.load() == {"version": 1}
    assert sorted(p.name for p in (tmp_path / "champion").iterdir()) == [
        "champion.json",
        "genre_classifier.pkl",
    ]
