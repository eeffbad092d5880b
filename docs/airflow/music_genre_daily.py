"""Airflow DAG for music-genre's daily loop (Airflow 3's task SDK).

Copy this file into Airflow's dags folder and set PROJECT and ENV. Each step is one `kedro run` (one Kedro
session, one MLflow run), exactly what `music-genre daily` runs in one process: score the next batch,
monitor it, re-score it with the fallback model when it drifted, retrain when the decision says so. The
branches read the decision monitoring wrote, data/08_reporting/<dataset>/monitoring/decision.json.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import dag, task

PROJECT = Path("/srv/music-genre")  # the Kedro project (its .venv holds music-genre)
ENV = "fma_small"  # the dataset environment
DATASET = "fma_small"  # its globals' dataset_name
TASK = "single_label"  # the task it serves (its serving.task): retraining trains and promotes that task
KEDRO = str(PROJECT / ".venv" / "bin" / "kedro")


def kedro_run(pipeline: str, params: str = "") -> None:
    command = [KEDRO, "run", f"--env={ENV}", f"--pipelines={pipeline}"]
    if params:
        command.append(f"--params={params}")
    subprocess.run(command, cwd=PROJECT, check=True)


def decision() -> dict:
    path = PROJECT / "data" / "08_reporting" / DATASET / "monitoring" / "decision.json"
    return json.loads(path.read_text())


@dag(
    dag_id="music_genre_daily",
    schedule="0 6 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # one day after the other: a batch is scored before the next one
    default_args={"retries": 1, "retry_delay": timedelta(minutes=10)},
)
def music_genre_daily():
    @task
    def score_next_batch() -> str:
        kedro_run("inference")  # a killed try resumes from its checkpoint
        report = json.loads(
            (PROJECT / "data" / "08_reporting" / DATASET / "inference_report.json").read_text()
        )
        return report.get("batch") or ""

    @task.short_circuit
    def has_a_batch(batch: str) -> bool:
        return bool(batch)

    @task
    def monitor(batch: str) -> str:
        kedro_run("monitoring", f"monitoring.batch={batch}")
        return batch

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def drifted(batch: str) -> bool:
        fallback = PROJECT / "data" / "06_models" / DATASET / "fallback" / "genre_classifier.pkl"
        return bool(decision()["drift"]) and fallback.is_file()  # a previous champion exists

    @task
    def rescore_with_fallback(batch: str) -> None:
        kedro_run("inference", f"inference.batch={batch},inference.use_fallback=true")

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def needs_retraining(batch: str) -> bool:
        return bool(decision()["retrain"])

    @task
    def retrain() -> None:
        # registers the challenger; promotes it only if it beats the champion (of the served task)
        kedro_run("retraining", f"modeling.task={TASK}")

    batch = score_next_batch()
    monitored = monitor(batch)
    has_a_batch(batch) >> monitored
    drifted(monitored) >> rescore_with_fallback(monitored)
    needs_retraining(monitored) >> retrain()


music_genre_daily()
