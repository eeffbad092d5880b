"""Thin nodes over :mod:`music_genre.serving.inference` (and Ray for the batch job)."""

from __future__ import annotations

import logging

import pandas as pd

from music_genre.common.errors import ExpectedError
from music_genre.common.progress import ProgressLog
from music_genre.features.extraction import batch_size_for, ray_cpus
from music_genre.modeling.artifact import GenreClassifier
from music_genre.monitoring import batches, checkpoints
from music_genre.serving import inference, wording

log = logging.getLogger(__name__)


def list_inference_inputs(
    manifest: pd.DataFrame,
    new_releases: pd.DataFrame,
    previous_predictions: pd.DataFrame,
    inference_params: dict,
) -> pd.DataFrame:
    """The batch to score: ``inference.input_dir`` (a folder), ``inference.batch`` (a new-release day),
    the oldest new-release batch not scored yet, or the manifest's test split."""
    unfinished = checkpoints.unfinished_batches(inference_params.get("checkpoint_dir"))
    return batches.select_inputs(
        manifest, new_releases, previous_predictions, inference_params, unfinished
    )


def _predict_batch(paths: list[str], classifier: GenreClassifier, windowing: dict, verdict: dict):
    return inference.predict_files_with_features(paths, classifier, windowing, verdict)


def _model_columns(classifier: GenreClassifier) -> dict:
    registry = classifier.info.get("registry") or {}
    return {
        "model_name": registry.get("name") or classifier.model_type,
        "model_version": classifier.version,
        "registry_version": registry.get("version"),
        "model_role": classifier.info.get("serving_role", "newest"),
        "feature_digest": classifier.feature_digest,
    }


def score_new_files(
    inputs: pd.DataFrame,
    inference_model: GenreClassifier,
    fallback_model: GenreClassifier | None,
    previous_predictions: pd.DataFrame,
    previous_batch_features: pd.DataFrame,
    inference_params: dict,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Score, on Ray, the batch's files that this model version has not scored yet, and append them
    (with the features they were judged on) to the predictions: a daily job tags only what is new, and
    a run killed half-way resumes from its checkpoint instead of starting over."""
    classifier = inference_model
    fallback_reason = inference_params.get("fallback_reason")
    if inference_params.get("use_fallback"):
        if fallback_model is None:
            raise ExpectedError(
                "inference.use_fallback is true but there is no fallback model yet (it is the "
                "previous champion: one exists once a challenger has been promoted)"
            )
        classifier = fallback_model
        classifier.info["serving_role"] = "fallback"
    version = classifier.version
    batch = str(inputs["batch"].iloc[0]) if not inputs.empty else None
    done = set()
    if not previous_predictions.empty:
        mine = previous_predictions[
            (previous_predictions["model_version"] == version)
            & (
                previous_predictions.get("model_role", "newest")
                == classifier.info.get("serving_role", "newest")
            )
        ]
        done = set(zip(mine["path"], mine["fingerprint"], strict=True))
    todo = inputs[
        [(p, f) not in done for p, f in zip(inputs["path"], inputs["fingerprint"], strict=True)]
    ]
    report = {
        "batch": batch,
        "files": len(inputs),
        "already_scored": len(inputs) - len(todo),
        "scored": 0,
        "resumed": 0,
        "failed": 0,
        **_model_columns(classifier),
    }
    if inputs.empty:
        return previous_predictions, previous_batch_features, report
    log.info(
        "Batch %s, model %s (%s): %d files, %d already scored by it, %d to score",
        batch,
        version,
        report["model_role"],
        len(inputs),
        len(inputs) - len(todo),
        len(todo),
    )
    if todo.empty:
        return previous_predictions, previous_batch_features, report
    store = checkpoints.BatchProgress(inference_params.get("checkpoint_dir"), batch, version)
    resumed, resumed_features = store.load()
    if not resumed.empty:
        log.info(
            "Resuming batch %s: %d files were scored before the last run stopped",
            batch,
            len(resumed),
        )
        todo = todo[~todo["path"].isin(set(resumed["path"]))]
    parts, feature_parts = [resumed], [resumed_features]
    if not todo.empty:
        scored, features = _score_on_ray(todo["path"].tolist(), classifier, inference_params, store)
        parts.append(scored)
        feature_parts.append(features)
    scored = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    # a batch of files that all failed has no feature rows
    found = [f for f in feature_parts if not f.empty]
    features = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    meta = inputs.drop_duplicates("path").set_index("path")
    scored["track_id"] = scored["path"].map(meta["track_id"])
    scored["fingerprint"] = scored["path"].map(meta["fingerprint"])
    scored["batch"] = batch
    for key, value in _model_columns(classifier).items():
        scored[key] = value
    scored["fallback"] = classifier.info.get("serving_role") == "fallback"
    scored["fallback_reason"] = fallback_reason if scored["fallback"].any() else None
    scored["predicted_at"] = pd.Timestamp.now(tz="UTC")
    if not features.empty:
        features.insert(1, "fingerprint", features["path"].map(meta["fingerprint"]))
        features.insert(2, "batch", batch)
        features.insert(3, "feature_digest", classifier.feature_digest)
    failed = scored["error_reason"].notna()
    for reason, group in scored[failed].groupby("error_reason", sort=False):  # a line per reason
        more = f" and {len(group) - 3} more" if len(group) > 3 else ""
        log.warning(
            "Could not score %d file%s (%s: %s): %s%s",
            len(group),
            "s" if len(group) != 1 else "",
            reason,
            " ".join(str(group["error"].iloc[0]).split()),
            ", ".join(group["path"].head(3).astype(str)),
            more,
        )
    log.info("Scored %d files (%d could not be scored)", len(scored), int(failed.sum()))
    genres = scored.loc[~failed, "genre"].value_counts()
    verdicts = verdict_counts(scored.loc[~failed])
    report.update(
        scored=len(scored),
        resumed=len(resumed),
        failed=int(failed.sum()),
        failure_reasons=", ".join(
            f"{r} {n}" for r, n in scored.loc[failed, "error_reason"].value_counts().items()
        ),
        failures_by_reason={
            str(r): int(n) for r, n in scored.loc[failed, "error_reason"].value_counts().items()
        },
        genres=", ".join(f"{g} {n}" for g, n in genres.items()),
        verdicts=verdicts,
        confident_genres=", ".join(
            f"{g} {n}"
            for g, n in scored.loc[~failed & (scored.get("verdict") == wording.CONFIDENT), "genre"]
            .value_counts()
            .items()
        ),
    )
    predictions = _append(previous_predictions, scored)
    all_features = _append(
        previous_batch_features, features, key=["path", "fingerprint", "feature_digest"]
    )
    store.clear()  # the caller saves both tables next; a kill before that rescores from the tables
    return predictions, all_features, report


def verdict_counts(scored: pd.DataFrame) -> dict[str, int]:
    """How many answers of each verdict (confident, leaning, uncertain, unfamiliar, tagged), in that
    order, zeros included: the run summary counts confident answers apart from the rest."""
    column = scored["verdict"] if "verdict" in scored.columns else pd.Series(dtype=object)
    counts = column.value_counts()
    return {kind: int(counts.get(kind, 0)) for kind in wording.VERDICTS}


def export_batch_metrics(inference_report: dict, prometheus: dict) -> None:
    """The run's figures where Prometheus reads them (``prometheus.textfile_dir``: node_exporter's textfile
    format; :mod:`music_genre.monitoring.prometheus_textfile`)."""
    from music_genre.monitoring import prometheus_textfile

    path = prometheus_textfile.write_batch_metrics(prometheus, inference_report)
    if path is not None:
        log.debug("Batch metrics for Prometheus written to %s", path)


def _append(
    previous: pd.DataFrame, new: pd.DataFrame, key: list[str] | None = None
) -> pd.DataFrame:
    if previous.empty:
        return _nullable_flags(new.reset_index(drop=True))
    if key and not new.empty:
        keys = set(map(tuple, new[key].astype(str).to_numpy()))
        stale = [tuple(row) in keys for row in previous[key].astype(str).to_numpy()]
        previous = previous[[not s for s in stale]]
    return _nullable_flags(pd.concat([previous, new], ignore_index=True))


# yes/no columns that a failed or an old row leaves empty (and that an older table may hold as 0.0/1.0):
# pandas' nullable boolean, which Parquet stores as a boolean with nulls; a plain object column mixing
# True, 0.0 and NaN fails to save
FLAG_COLUMNS = ("unfamiliar", "fallback")


def _flag(value) -> bool | None:
    return None if value is None or pd.isna(value) else bool(value)


def _nullable_flags(frame: pd.DataFrame) -> pd.DataFrame:
    for column in FLAG_COLUMNS:
        if column in frame.columns and frame[column].dtype != "boolean":
            frame[column] = pd.array([_flag(v) for v in frame[column]], dtype="boolean")
    return frame


def _score_on_ray(
    paths: list[str], classifier, inference_params: dict, store
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score in Ray tasks; every finished task's rows go to the checkpoint at once."""
    import ray

    windowing = inference.windowing_settings(inference_params)
    verdict = wording.verdict_settings(inference_params)
    remote = ray.remote(max_retries=3)(_predict_batch)
    model_ref = ray.put(classifier)
    size = batch_size_for(
        len(paths), inference_params["batch_size"], ray_cpus(), batches_per_worker=2
    )
    pending = [
        remote.remote(paths[start : start + size], model_ref, windowing, verdict)
        for start in range(0, len(paths), size)
    ]
    parts, feature_parts = [], []
    with ProgressLog(len(paths), "Scoring the batch", log, unit="files") as bar:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            predictions, features = ray.get(ready[0])
            store.add(predictions, features)
            parts.append(predictions)
            feature_parts.append(features)
            bar.update(len(predictions))
    return pd.concat(parts, ignore_index=True), pd.concat(feature_parts, ignore_index=True)


def predict_audio_paths(
    audio_paths: pd.DataFrame,
    served_genre_classifier: GenreClassifier,
    inference_params: dict,
    serving_params: dict,
) -> pd.DataFrame:
    """The served model: rows with a ``path`` (read only under ``serving.allowed_roots``) or a base64
    ``content`` (with an optional ``filename``) in, one prediction row each out, computed in-process (no
    Ray inside a model server) with the extractor training used. A refused or bad row is a row with its
    error, never a failed request."""
    from music_genre.serving import served_inputs as guard

    columns = set(audio_paths.columns)
    if not columns & {"path", "content"}:
        raise ValueError("each row needs a 'path' (a file on the server) or a base64 'content'")
    windowing = inference.windowing_settings(inference_params)
    verdict = wording.verdict_settings(inference_params)
    roots = guard.allowed_roots(serving_params)
    limit = guard.max_bytes(serving_params)
    rows = []
    with guard.PrivateUploads() as uploads:
        for record in audio_paths.to_dict("records"):
            # a column a row leaves out arrives as NaN (rows of one request need not share columns)
            content, path, filename = (
                value if isinstance(value, str) and value else None
                for value in (record.get("content"), record.get("path"), record.get("filename"))
            )
            shown = filename or path or "upload"
            if content:
                data = guard.decode_content(content, limit)
                if isinstance(data, guard.Refusal):
                    rows.append(_refused(shown, data))
                    continue
                target = uploads.write(data, guard.suffix_for(data, filename))
            else:
                checked = guard.check_path(path or "", roots)
                if isinstance(checked, guard.Refusal):
                    rows.append(_refused(shown, checked))
                    continue
                target = checked
            row = inference.predict_files([target], served_genre_classifier, windowing, verdict)
            row["path"] = shown
            rows.append(row)
    columns_out = inference.prediction_columns(served_genre_classifier)
    # every column, even when every row was refused
    predictions = (
        pd.concat(rows, ignore_index=True).reindex(columns=columns_out)
        if rows
        else pd.DataFrame(columns=columns_out)
    )
    predictions["windows"] = predictions["windows"].astype("Int64")
    # Missing values as None, so the server's JSON says null (strict JSON has no NaN).
    return predictions.astype(object).where(predictions.notna(), None)


def _refused(path: str, refusal) -> pd.DataFrame:
    return pd.DataFrame(
        [{"path": path, "track_id": None, "error_reason": refusal.reason, "error": refusal.message}]
    )
