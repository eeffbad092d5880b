"""The daily job: score the next batch, monitor it, fall back on drift, retrain when monitoring says so.

``music-genre daily`` (what cron or Airflow runs) calls :func:`run_daily` with two callables: one runs a
Kedro pipeline with runtime parameters, one loads a catalog entry. Each pipeline is its own Kedro session
and MLflow run. Rerunning a day is a no-op: a batch already scored and monitored by the serving model is
not scored, monitored or retrained on again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

RunPipeline = Callable[[str, dict], None]
Load = Callable[[str], Any]


@dataclass
class DailyOutcome:
    batch: str | None
    steps: list[str] = field(default_factory=list)
    scored: int = 0
    decision: dict | None = None
    registration: dict | None = None

    def lines(self) -> list[tuple[str, str]]:
        rows = [("Batch", self.batch or "none: every batch is scored")]
        for step in self.steps:
            rows.append(("Step", step))
            if self.decision and step.startswith("monitoring: report"):
                rows.append(
                    (
                        "Decision",
                        f"retrain {self.decision['retrain']}, drift {self.decision['drift']}: "
                        + "; ".join(self.decision["reasons"]),
                    )
                )
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
        return rows


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
    outcome.steps.append(
        f"inference: {report['scored']} scored, {report['already_scored']} already scored by "
        f"model {report['model_version']} ({report.get('model_role')})"
    )
    if (
        report.get("scored", 0) == 0
        and not labels_csv
        and _already_monitored(
            load("previous_monitoring_history"), outcome.batch, report["model_version"]
        )
    ):
        outcome.steps.append("monitoring: already done for this batch and model: nothing to do")
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
    outcome.steps.append("monitoring: report, metrics and decision written")
    if decision.get("drift") and monitoring.get("fallback_on_drift", True):
        if load("fallback_model") is None:
            outcome.steps.append(
                "fallback: drift, but no fallback model yet (no previous champion)"
            )
        else:
            run_pipeline(
                "inference",
                {
                    "inference.batch": outcome.batch,
                    **({"inference.input_dir": input_dir} if input_dir else {}),
                    "inference.use_fallback": True,
                    "inference.fallback_reason": "drift: " + "; ".join(decision["reasons"])[:500],
                },
            )
            outcome.steps.append("fallback: the batch re-scored by the fallback model (drift)")
    if decision.get("retrain") and retrain:
        run_pipeline("retraining", {})
        outcome.registration = load("model_registration")
        outcome.steps.append("retraining: challenger trained and compared with the champion")
    elif decision.get("retrain"):
        outcome.steps.append("retraining: asked for, skipped (--no-retrain)")
    return outcome
