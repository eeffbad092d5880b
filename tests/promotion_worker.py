"""One run's end, as a process of its own, for tests/test_concurrency.py: log a trained model to MLflow,
compare it with the champion (``decide_promotion``, the modeling pipeline's node: the run's first read of
the champion), then register it and move the aliases with the run end's own ``register_and_publish``
(:mod:`music_genre.modeling.champion`), at the moment the test says. The test sequences two of these through their
stdin and stdout (one JSON object a line), so the interleaving is forced, never left to timing.

    python tests/promotion_worker.py PROJECT CLASSIFIER.pkl TABLE.pkl ROLE MARGIN EVENTS_FD

Events go to the file descriptor EVENTS_FD (a pipe the test reads), one JSON object a line: ``decided``,
``holding``, ``waiting`` (the line the project logs when it waits for the lock), ``registered``.

ROLE ``holder``: after deciding, take the dataset's promotion lock, say ``holding`` and wait for ``go``
before registering (inside the lock, so a second run must wait); ``waiter``: after deciding, wait for
``register``, then register (waiting for the lock if it is taken).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import sys
from pathlib import Path

EVENTS = None  # the pipe to the test


def say(**event) -> None:
    EVENTS.write(json.dumps(event, default=str) + "\n")
    EVENTS.flush()


class WaitingLine(logging.Handler):
    """Passes the project's "waits for another run's promotion" log line on to the test as an event."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "Waiting for another run's promotion" in message:
            say(event="waiting", line=message)


def expect(word: str) -> None:
    line = sys.stdin.readline().strip()
    if line != word:
        raise SystemExit(f"expected {word!r} on stdin, got {line!r}")


def main() -> None:
    global EVENTS
    project, classifier_file, table_file, role, margin, events_fd = sys.argv[1:7]
    EVENTS = os.fdopen(int(events_fd), "w")
    project = Path(project)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    os.chdir(project)

    import mlflow
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from music_genre.common.locks import promotion_lock
    from music_genre.modeling.champion import register_and_publish
    from music_genre.modeling.registry import log_classifier_model
    from music_genre.pipelines.modeling.nodes import decide_promotion, request_registration

    bootstrap_project(project)
    catalog = KedroSession.create(project_path=project).load_context().catalog
    # after Kedro's logging set-up, which replaces the handlers of the loggers it configures
    logging.getLogger("music_genre").addHandler(WaitingLine())
    classifier = pickle.loads(Path(classifier_file).read_bytes())
    table = pickle.loads(Path(table_file).read_bytes())
    modeling = {
        "promotion": {"splits": ["test"], "metric": "accuracy", "margin": float(margin)},
        "registration": {"threshold": 0.0, "require_better_than_chance": False},
    }

    mlflow.set_experiment("music-genre-sample")
    with mlflow.start_run() as run:  # what log_model_to_mlflow_node does in the run
        logged = log_classifier_model(classifier, table)
    # the run's first read of the champion: its local copy, as decide_promotion_node loads it
    decision = decide_promotion(
        classifier,
        catalog.load("champion_genre_classifier"),
        catalog.load("champion_info"),
        table,
        modeling,
    )
    say(event="decided", decision=decision, run_id=run.info.run_id, pid=os.getpid())

    metrics = {
        "splits": {"test": {"f1_macro": 1.0, "accuracy": 1.0, "n_tracks": 1}},
        "model_type": classifier.model_type,
        "feature_digest": classifier.feature_digest,
        "training_fingerprint": classifier.version,  # each model its own version in the registry
        "better_than_chance": True,
        "task": "single_label",
    }
    request = request_registration(
        metrics, {**logged, "logged": True}, decision, modeling, {"name": "sample"}
    )
    request["artifact_path"] = "genre_classifier"  # the model logged above
    lock = promotion_lock(project, "sample")
    if role == "holder":
        lock.acquire(wait=True)
        say(event="holding")
        expect("go")
    else:
        expect("register")
    result = register_and_publish(
        catalog,
        request,
        classifier,
        table[table["split"] == "test"],
        modeling["promotion"],
        project=project,
        dataset="sample",
    )
    # still inside the lock for the holder: what the alias and the local copy say at this moment
    client = mlflow.MlflowClient()
    alias = str(client.get_model_version_by_alias("music-genre-sample", "champion").version)
    copy = catalog.load("champion_info")
    say(event="registered", result=result, alias=alias, copy_version=str(copy.get("version")))
    if role == "holder":
        lock.release()


if __name__ == "__main__":
    main()
