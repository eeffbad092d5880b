"""The batch job's, monitoring's and the daily job's figures where Prometheus reads them: one file per
dataset and job in node_exporter's textfile collector format, written atomically (write, then rename) by the
official ``prometheus_client``.

    data/09_metrics/music_genre_<dataset>_inference.prom           the last batch run (the serving model)
    data/09_metrics/music_genre_<dataset>_inference_fallback.prom  the last re-scoring by the fallback model
    data/09_metrics/music_genre_<dataset>_monitoring.prom          the last monitored batch and its decision
    data/09_metrics/music_genre_<dataset>_daily.prom               the last `music-genre daily`

``prometheus.textfile_dir`` (conf/base/parameters_prometheus.yml) is the folder; point node_exporter's
``--collector.textfile.directory`` at it. Each file holds gauges of the latest run only: a file is replaced
whole, so a figure the run did not produce (no labels: no batch accuracy) disappears instead of going stale.
Every sample is labelled ``dataset``; the same metric never appears with the same labels in two files (the
textfile collector refuses that). The metric names and the alert rules that read them: ops/prometheus/ and
docs/operations.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path

PREFIX = "music_genre"
DEFAULT_DIR = "data/09_metrics"


def textfile_path(settings: Mapping | None, job: str) -> Path | None:
    """``<textfile_dir>/music_genre_<dataset>_<job>.prom``, or None when the export is off (no folder)."""
    settings = dict(settings or {})
    directory = settings.get("textfile_dir", DEFAULT_DIR)
    if not directory:
        return None
    dataset = str(settings.get("dataset") or "unknown")
    return Path(directory) / f"{PREFIX}_{dataset}_{job}.prom"


def _number(value) -> float | None:
    """A finite float (a registry version's "3" too), else None: a figure the run did not produce is left
    out, not written as NaN."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class Figures:
    """Gauges for one textfile: ``add`` a figure (skipped when it has no value), then ``write``."""

    def __init__(self, **labels: str):
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry(auto_describe=True)
        self.labels = {k: "" if v is None else str(v) for k, v in labels.items()}
        self._gauges: dict = {}

    def add(self, name: str, documentation: str, value, **labels) -> None:
        number = _number(value)
        if number is None:
            return
        from prometheus_client import Gauge

        full = f"{PREFIX}_{name}"
        values = {**self.labels, **{k: "" if v is None else str(v) for k, v in labels.items()}}
        if full not in self._gauges:
            self._gauges[full] = Gauge(full, documentation, sorted(values), registry=self.registry)
        self._gauges[full].labels(**values).set(number)

    def write(self, path: Path) -> Path:
        from prometheus_client import write_to_textfile

        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), self.registry)
        return path


def write_batch_metrics(settings: Mapping | None, report: Mapping) -> Path | None:
    """The batch job's report (``inference_report``): the batch's size, what this run scored and failed
    (by reason), the model that scored it. ``role`` is champion, newest or fallback (its own file)."""
    role = str(report.get("model_role") or "newest")
    path = textfile_path(settings, "inference_fallback" if role == "fallback" else "inference")
    if path is None:
        return None
    figures = Figures(dataset=dict(settings or {}).get("dataset"), role=role)
    failed = int(report.get("failed") or 0)
    figures.add("batch_files", "Files in the last scored batch.", report.get("files", 0))
    figures.add(
        "batch_scored_files",
        "Files of the last batch given a genre by the last run.",
        int(report.get("scored") or 0) - failed,
    )
    figures.add(
        "batch_failed_files", "Files of the last batch the last run could not score.", failed
    )
    for reason, count in sorted((report.get("failures_by_reason") or {}).items()):
        figures.add(
            "batch_failures",
            "Files of the last batch the last run could not score, by reason.",
            count,
            reason=reason,
        )
    figures.add(
        "batch_already_scored_files",
        "Files of the last batch skipped: already scored by the same model version.",
        report.get("already_scored", 0),
    )
    model = {"model_name": report.get("model_name"), "model_id": report.get("model_version")}
    figures.add(
        "batch_model_version",
        "Registry version of the model that scored the last batch (absent when unregistered).",
        report.get("registry_version"),
        **model,
    )
    figures.add(
        "batch_info",
        "The last scored batch and the model that scored it (value 1).",
        1,
        batch=report.get("batch"),
        model_version=report.get("registry_version"),
        **model,
    )
    figures.add(
        "batch_last_run_timestamp_seconds",
        "When the batch job last finished (Unix time).",
        time.time(),
    )
    return figures.write(path)


def write_monitoring_metrics(
    settings: Mapping | None, metrics: Mapping, decision: Mapping, monitoring: Mapping | None
) -> Path | None:
    """The monitored batch's figures (``monitoring_metrics``), its decision (``monitoring_decision``) and
    the thresholds it was judged by (``monitoring``'s), so an alert compares the two series."""
    path = textfile_path(settings, "monitoring")
    if path is None:
        return None
    monitoring = dict(monitoring or {})
    thresholds = dict(decision.get("thresholds") or monitoring.get("thresholds") or {})
    figures = Figures(dataset=dict(settings or {}).get("dataset"))
    add = figures.add
    add("monitoring_tracks", "Tracks of the last monitored batch.", metrics.get("n_tracks", 0))
    add(
        "monitoring_labelled_tracks",
        "Tracks of the last monitored batch with a known genre.",
        metrics.get("n_labelled", 0),
    )
    add(
        "monitoring_drift_share",
        "Share of the drift columns that drifted in the last monitored batch.",
        metrics.get("drift_share"),
    )
    add(
        "monitoring_drift_share_threshold",
        "The share of drifted columns at which a batch counts as drifted (monitoring.drift.drift_share).",
        (monitoring.get("drift") or {}).get("drift_share", 0.5),
    )
    add(
        "monitoring_drifted_columns",
        "Drift columns that drifted in the last monitored batch.",
        metrics.get("n_drifted_columns"),
    )
    add(
        "monitoring_drift",
        "1 when the last monitored batch drifted (the decision), else 0.",
        bool(decision.get("drift")),
    )
    add(
        "monitoring_retrain",
        "1 when monitoring decided to retrain on the last batch, else 0.",
        bool(decision.get("retrain")),
    )
    add(
        "monitoring_mean_confidence",
        "Mean confidence of the model on the last monitored batch.",
        metrics.get("mean_confidence"),
    )
    add(
        "monitoring_reference_mean_confidence",
        "Mean confidence of the model on the reference tracks.",
        metrics.get("reference_mean_confidence"),
    )
    add(
        "monitoring_unfamiliar_share",
        "Share of the last batch unlike the music the model was trained on (models with the check).",
        metrics.get("unfamiliar_share"),
    )
    add(
        "monitoring_batch_accuracy",
        "Accuracy on the last monitored batch's labelled tracks (absent without labels).",
        metrics.get("batch_accuracy"),
    )
    add(
        "monitoring_reference_accuracy",
        "Accuracy on the reference tracks.",
        metrics.get("reference_accuracy"),
    )
    add(
        "monitoring_min_batch_accuracy",
        "Batch accuracy under which monitoring retrains (monitoring.thresholds.min_batch_accuracy).",
        thresholds.get("min_batch_accuracy"),
    )
    add(
        "monitoring_min_labelled_tracks",
        "Labelled tracks a batch needs before its accuracy counts (monitoring.thresholds).",
        thresholds.get("min_labelled_tracks"),
    )
    add(
        "monitoring_info",
        "The last monitored batch and the model monitored (value 1).",
        1,
        batch=metrics.get("batch"),
        model_id=metrics.get("model_version"),
        model_version=metrics.get("registry_version"),
    )
    add(
        "monitoring_last_run_timestamp_seconds",
        "When monitoring last finished (Unix time).",
        time.time(),
    )
    return figures.write(path)


LAST_SUCCESS = f"{PREFIX}_daily_last_success_timestamp_seconds"
LAST_FAILURE = f"{PREFIX}_daily_last_failure_timestamp_seconds"


def _previous(path: Path, name: str) -> float | None:
    """A sample of the job's previous file (read with prometheus_client's own parser), or None."""
    if not path.is_file():
        return None
    from prometheus_client.parser import text_string_to_metric_families

    try:
        for family in text_string_to_metric_families(path.read_text()):
            for sample in family.samples:
                if sample.name == name:
                    return float(sample.value)
    except ValueError:  # a hand-damaged file: start afresh
        return None
    return None


def write_daily_metrics(
    settings: Mapping | None,
    *,
    ok: bool,
    started: float,
    scored: int | None = None,
    decision: Mapping | None = None,
    retrained: bool = False,
    champion: Mapping | None = None,
) -> Path | None:
    """``music-genre daily``'s outcome: when it last succeeded (kept from the previous file when this run
    failed), when it last failed, what it scored and decided, and the champion it leaves serving."""
    path = textfile_path(settings, "daily")
    if path is None:
        return None
    now = time.time()
    figures = Figures(dataset=dict(settings or {}).get("dataset"))
    add = figures.add
    add(
        "daily_last_success_timestamp_seconds",
        "When `music-genre daily` last succeeded (Unix time).",
        now if ok else _previous(path, LAST_SUCCESS),
    )
    add(
        "daily_last_failure_timestamp_seconds",
        "When `music-genre daily` last failed (Unix time).",
        _previous(path, LAST_FAILURE) if ok else now,
    )
    add("daily_success", "1 when the last `music-genre daily` succeeded, else 0.", ok)
    add("daily_duration_seconds", "How long the last `music-genre daily` ran.", now - started)
    if ok:
        add("daily_scored_files", "Files the last `music-genre daily` scored.", scored or 0)
        add(
            "daily_retrain_decision",
            "1 when the last `music-genre daily` was told to retrain by monitoring, else 0.",
            bool((decision or {}).get("retrain")),
        )
        add(
            "daily_retrained",
            "1 when the last `music-genre daily` trained a challenger, else 0.",
            retrained,
        )
    if champion:
        add(
            "champion_version",
            "Registry version of the champion the daily job leaves serving.",
            champion.get("version"),
            model_name=champion.get("name"),
        )
    return figures.write(path)
