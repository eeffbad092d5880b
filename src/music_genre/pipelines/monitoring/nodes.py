"""Thin nodes over :mod:`music_genre.monitoring`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pandas as pd

from music_genre.common.errors import ExpectedError
from music_genre.modeling.artifact import GenreClassifier
from music_genre.monitoring import batches, drift, verdict

log = logging.getLogger(__name__)


def select_monitored_batch(
    predictions: pd.DataFrame, inference_model: GenreClassifier, monitoring: dict
) -> tuple[str, pd.DataFrame]:
    """The batch to monitor (``monitoring.batch``, else the latest scored) and its rows as the serving
    model scored them (failed files left out; empty for an empty batch)."""
    if predictions.empty:
        raise ExpectedError("no batch predictions yet: run `kedro run --pipelines=inference` first")
    fallback = predictions.get("fallback", pd.Series(False, index=predictions.index))
    mine = predictions[
        (predictions["model_version"] == inference_model.version)
        & ~fallback.fillna(False).astype(bool)
    ]
    wanted = monitoring.get("batch")
    if wanted:
        batch = str(wanted)
    elif mine.empty:
        raise ExpectedError(
            f"the serving model ({inference_model.version}) has scored no batch yet: run "
            "`kedro run --pipelines=inference` first"
        )
    else:
        batch = str(mine.sort_values("predicted_at")["batch"].iloc[-1])
    rows = mine[mine["batch"].astype(str) == batch]
    if rows.empty and batch in batches.scored_batches(predictions):
        raise ExpectedError(
            f"batch {batch} was scored by another model than the serving one "
            f"({inference_model.version}): score it again with "
            f"`kedro run --pipelines=inference --params=inference.batch={batch}`"
        )
    if rows.empty:
        raise ExpectedError(
            f"batch {batch} was never scored: run "
            f"`kedro run --pipelines=inference --params=inference.batch={batch}` first"
        )
    scored = rows[rows["error_reason"].isna()].drop_duplicates("path", keep="last")
    if scored.empty:
        log.warning("Batch %s has no scored tracks: nothing to monitor, no report", batch)
    return batch, scored.reset_index(drop=True)


def build_monitoring_frames(
    batch_rows: pd.DataFrame,
    batch_features: pd.DataFrame,
    reference_table: pd.DataFrame,
    feature_settings: dict,
    inference_model: GenreClassifier,
    new_releases: pd.DataFrame,
    manifest: pd.DataFrame,
    monitoring: dict,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames: features, prediction, confidence, label (where known)."""
    from music_genre.features import FeatureSettings

    if reference_table.empty or not feature_settings:
        raise ExpectedError(
            "no reference data (the training features): run `kedro run` first, then score a batch"
        )
    # The model may read one candidate set of the run's wider table (feature_set auto): the values must be
    # the same (settings), and its columns there; its batches were featurized by the model itself.
    drift.check_features(
        FeatureSettings.from_dict(feature_settings).values_digest(),
        [FeatureSettings.from_dict(inference_model.feature_settings).values_digest()],
    )
    drift.check_columns(reference_table, inference_model)
    reference_digest = inference_model.feature_digest
    configured = list(monitoring.get("reference_splits", ["validation", "test"]))
    splits = drift.unseen_splits(inference_model, configured)
    if (
        splits != configured
    ):  # a model refit on training+validation: its reference is what it never saw
        log.info(
            "Reference: the %s tracks only, which the model never fitted (it was fitted on %s)",
            " and ".join(splits),
            "+".join(sorted(drift.fitted_splits(inference_model))),
        )
    reference = drift.reference_frame(reference_table, inference_model, splits)
    if batch_rows.empty:
        return reference, reference.iloc[0:0].assign(path=pd.Series(dtype=str))
    drift.check_features(reference_digest, batch_rows["feature_digest"].dropna().unique())
    labels = batches.batch_labels(batch_rows, new_releases, manifest, monitoring.get("labels_csv"))
    current = drift.current_frame(batch_rows, batch_features, inference_model, labels)
    return reference, current


def report_drift(
    batch: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    inference_model: GenreClassifier,
    monitoring: dict,
    dataset: dict | None = None,
) -> tuple[dict, dict]:
    """The Evidently page (one file per batch; none for an empty batch) and the batch's figures. The page
    is stored once, in the report folder; the MLflow run's tag ``monitoring_report`` names its path."""
    base = {
        "batch": batch,
        "model_version": inference_model.version,
        "registry_version": (inference_model.info.get("registry") or {}).get("version"),
        "monitored_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if current.empty:
        return {}, {**base, "n_tracks": 0, "empty": True}
    params = monitoring.get("drift") or {}
    reference, current, columns, how = drift.drift_columns(
        inference_model, reference, current, params
    )
    labels_known = drift.quality_section_possible(current, inference_model.classes)
    from music_genre.common.progress import heartbeat

    # one computation with nothing to count: a line every 30 s in a log while it runs
    with heartbeat(
        f"Drift report on {len(current)} batch and {len(reference)} reference tracks", log
    ):
        html, entries = drift.evidently_report(
            reference,
            current,
            columns,
            labels_known,
            params,
            title=f"music-genre monitoring: batch {batch}, model {inference_model.version}",
        )
    metrics = drift.summarize_metrics(
        entries, reference, current, columns, inference_model.classes, params
    )
    metrics = {**base, **metrics, "drift_measured_on": how, "empty": False}
    html = drift.with_note(html, drift.unfamiliar_line(metrics))
    # the verdicts at the top, in the words decide_on_batch writes and logs (the same figures, the same rule)
    html = drift.with_verdict(html, verdict.verdict_lines(drift.decide(metrics, monitoring)))
    from music_genre.modeling.registry import tag_active_run

    # stored once, in the report folder (the catalog's monitoring_report); the MLflow run names it
    from music_genre.monitoring.retention import monitoring_page

    tag_active_run(monitoring_report=monitoring_page(str((dataset or {}).get("name", "")), batch))
    log.info(batch_figures_line(metrics))
    return {f"report_{batch}": html}, metrics


def batch_figures_line(metrics: dict) -> str:
    """The log's line of a monitored batch's figures (``report_drift``'s metrics)."""
    line = (
        f"Batch {metrics['batch']}: {metrics['n_tracks']} tracks, {metrics['n_drifted_columns']} of "
        f"{metrics['n_drift_columns']} columns drifted ({metrics['drift_measured_on']}), mean confidence "
        f"{metrics['mean_confidence']:.2f} (reference {metrics['reference_mean_confidence']:.2f})"
    )
    accuracy, labelled = metrics["batch_accuracy"], metrics["n_labelled"]
    if accuracy is not None:
        line += f", accuracy {accuracy:.2f} on {labelled} labelled tracks"
    return line


def decide_on_batch(monitoring_metrics: dict, monitoring: dict) -> dict:
    """Retrain? Drift? Why, and with which thresholds; also logged to the MLflow run."""
    from music_genre.modeling.registry import log_metrics_at, tag_active_run

    batch = monitoring_metrics["batch"]
    decision = drift.decide(monitoring_metrics, monitoring)
    decision = {"batch": batch, "model_version": monitoring_metrics["model_version"], **decision}
    warning = verdict.weak_warning(decision)
    if warning:
        log.warning(warning)
    lines = verdict.verdict_lines(decision)
    for line in lines:
        log.info(line)
    tag_active_run(
        music_genre_stage="monitoring",
        batch=batch,
        retrain=decision["retrain"],
        drift=decision["drift"],
        decision="\n".join(lines),
        weak_drift_check=decision["weak"],
    )
    if not monitoring_metrics.get("empty"):
        log_metrics_at(
            {
                "monitoring.drift_share": monitoring_metrics["drift_share"],
                "monitoring.n_drifted_columns": monitoring_metrics["n_drifted_columns"],
                "monitoring.mean_confidence": monitoring_metrics["mean_confidence"],
                "monitoring.n_tracks": monitoring_metrics["n_tracks"],
                "monitoring.batch_accuracy": monitoring_metrics["batch_accuracy"],
                "monitoring.unfamiliar_share": monitoring_metrics.get("unfamiliar_share"),
                "monitoring.retrain": float(decision["retrain"]),
                "monitoring.drift": float(decision["drift"]),
            },
            batch,
        )
    return decision


def export_monitoring_metrics(
    monitoring_metrics: dict, monitoring_decision: dict, monitoring: dict, prometheus: dict
) -> None:
    """The batch's figures, its decision and the thresholds where Prometheus reads them
    (``prometheus.textfile_dir``: :mod:`music_genre.monitoring.prometheus_textfile`)."""
    from music_genre.monitoring import prometheus_textfile

    path = prometheus_textfile.write_monitoring_metrics(
        prometheus, monitoring_metrics, monitoring_decision, monitoring
    )
    if path is not None:
        log.debug("Monitoring metrics for Prometheus written to %s", path)


def record_batch_labels(
    current: pd.DataFrame, batch: str, previous_batch_labels: pd.DataFrame
) -> pd.DataFrame:
    """Keep the batch's known labels: retraining trains on them (a path labelled again keeps the new
    label)."""
    labelled = current[current[drift.TARGET].notna()] if not current.empty else current
    labels = pd.DataFrame(
        {
            "path": labelled.get("path", pd.Series(dtype=str)).astype(str),
            "batch": batch,
            "genre": labelled.get(drift.TARGET, pd.Series(dtype=str)).astype(str),
        }
    )
    kept = previous_batch_labels
    if not kept.empty:
        kept = kept[~kept["path"].isin(set(labels["path"]))]
    return (pd.concat([kept, labels], ignore_index=True) if not kept.empty else labels).reset_index(
        drop=True
    )


def record_history(
    monitoring_metrics: dict, monitoring_decision: dict, previous_monitoring_history: pd.DataFrame
) -> pd.DataFrame:
    """One row per monitored batch: its figures and the decision, over time."""
    row = {
        key: monitoring_metrics.get(key)
        for key in (
            "batch",
            "model_version",
            "registry_version",
            "monitored_at",
            "n_tracks",
            "n_labelled",
            "drift_share",
            "mean_confidence",
            "batch_accuracy",
            "unfamiliar_share",
        )
    }
    row.update(retrain=monitoring_decision["retrain"], drift=monitoring_decision["drift"])
    row["registry_version"] = (
        None if row["registry_version"] is None else str(row["registry_version"])
    )
    # typed, so the history's Parquet column stays float with the check or without it
    row["unfamiliar_share"] = (
        float("nan") if row["unfamiliar_share"] is None else float(row["unfamiliar_share"])
    )
    history = pd.DataFrame([row])
    if previous_monitoring_history.empty:
        return history
    return pd.concat([previous_monitoring_history, history], ignore_index=True)
