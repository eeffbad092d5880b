"""The daily job: score the next batch, monitor it, fall back on drift, retrain when monitoring says so.

``music-genre daily`` (what cron or Airflow runs) calls :func:`run_daily` with two callables: one runs a
Kedro pipeline with runtime parameters, one loads a catalog entry. Each pipeline is its own Kedro session
and MLflow run. A day is one batch, not a date: each run takes the next batch nobody scored yet (two runs
in one calendar day do two batches); a batch already scored and monitored by the serving model is not
scored, monitored or retrained on again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from music_genre.monitoring.verdict import verdict_lines

log = logging.getLogger(__name__)

RunPipeline = Callable[[str, dict], None]
Load = Callable[[str], Any]


@dataclass
class DailyOutcome:
    """What the day did, for its one block (each pipeline's own lines and block went to info.log)."""

    batch: str | None
    steps: list[str] = field(default_factory=list)  # what happened besides scoring and monitoring
    scored: int = 0
    scoring: str | None = None  # "3 files scored by model ... (champion), 0 failed"
    decision: dict | None = None
    registration: dict | None = None
    champion: str | None = None  # the champion after the day: what serves the next batch
    retention: str | None = None  # what retention removed after the day (retention.line())

    def lines(self) -> list[tuple[str, str]]:
        rows = [("Batch", self.batch or "none: every batch is scored")]
        if self.scoring:
            rows.append(("Scored", self.scoring))
        if self.decision:
            # the verdicts in the words of decision.json, the monitoring log and its report page
            drift_line, retrain_line = verdict_lines(self.decision)
            rows += [("Decision", drift_line), ("", retrain_line)]
        rows += [("Step", step) for step in self.steps]
        if self.registration:
            reg = self.registration
            if reg.get("registered_version") is None:
                rows.append(("Challenger", f"not registered: {reg.get('reason')}"))
            else:
                rows.append(
                    (
                        "Challenger",
                        f"{reg['model_name']} version {reg['registered_version']} is the "
                        f"{reg['alias']} ({(reg.get('promotion') or {}).get('reason', '')})",
                    )
                )
        if self.champion:
            rows.append(("Champion", self.champion))
        if self.retention:
            rows.append(("Retention", self.retention))
        return rows


def champion_text(info: Mapping | None) -> str | None:
    """``music-genre-sample version 2 (serves the next batch)`` from a champion_info record."""
    if not info or info.get("version") is None:
        return None
    return f"{info.get('name')} version {info['version']} (serves the next batch)"


def _already_monitored(history: pd.DataFrame, batch: str, model_version: str) -> bool:
    if history is None or history.empty:
        return False
    done = history[
        (history["batch"].astype(str) == str(batch))
        & (history["model_version"].astype(str) == str(model_version))
    ]
    return not done.empty


def run_daily(
    run_pipeline: RunPipeline,
    load: Load,
    *,
    batch: str | None = None,
    input_dir: str | None = None,
    labels_csv: str | None = None,
    retrain: bool = True,
    monitoring: Mapping | None = None,
) -> DailyOutcome:
    """One day of the loop; returns what it did."""
    monitoring = dict(monitoring or {})
    params: dict = {}
    if batch:
        params["inference.batch"] = batch
    if input_dir:
        params["inference.input_dir"] = input_dir
    run_pipeline("inference", params)
    report = load("inference_report")
    outcome = DailyOutcome(batch=report.get("batch"))
    if not report.get("files"):
        outcome.steps.append("nothing new to score")
        return outcome
    outcome.scored = int(report.get("scored", 0))
    failed = int(report.get("failed", 0))
    outcome.scoring = (
        f"{report['scored']} files scored now, {report['already_scored']} already scored, by model "
        f"{report['model_version']} ({report.get('model_role')}); {failed} could not be scored"
        + (f" ({report['failure_reasons']})" if failed and report.get("failure_reasons") else "")
    )
    if any((report.get("verdicts") or {}).values()):
        outcome.scoring += f"; answers: {verdict_line(report['verdicts'])}"
    if (
        report.get("scored", 0) == 0
        and not labels_csv
        and _already_monitored(
            load("previous_monitoring_history"), outcome.batch, report["model_version"]
        )
    ):
        outcome.steps.append("already monitored for this batch and model: nothing to do")
        return outcome
    run_pipeline(
        "monitoring",
        {
            "monitoring.batch": outcome.batch,
            **({"monitoring.labels_csv": labels_csv} if labels_csv else {}),
        },
    )
    decision = load("monitoring_decision")
    outcome.decision = decision
    if decision.get("drift") and monitoring.get("fallback_on_drift", True):
        if load("fallback_model") is None:
            outcome.steps.append("drift, but no fallback model yet (no previous champion)")
        else:
            run_pipeline(
                "inference",
                {
                    "inference.batch": outcome.batch,
                    **({"inference.input_dir": input_dir} if input_dir else {}),
                    "inference.use_fallback": True,
                    "inference.fallback_reason": verdict_lines(decision)[0],  # the drift verdict
                },
            )
            outcome.steps.append("the batch re-scored by the fallback model (drift)")
    if decision.get("retrain") and retrain:
        run_pipeline("retraining", {})
        outcome.registration = load("model_registration")
    elif decision.get("retrain"):
        outcome.steps.append("retraining asked for, skipped (--no-retrain)")
    return outcome


def verdict_line(verdicts: Mapping[str, int]) -> str:
    """``3 confident, 5 leaning, 14 uncertain, 2 unfamiliar``: a batch's answers by verdict (the batch
    job's ``inference_report["verdicts"]``); a kind beyond the first three that no answer had is left
    out."""
    return ", ".join(
        f"{int(n)} {kind}" for i, (kind, n) in enumerate(verdicts.items()) if i < 3 or int(n)
    )
