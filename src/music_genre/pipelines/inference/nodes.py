"""Thin nodes over :mod:`music_genre.inference` (and Ray for the batch job)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from music_genre import audio, inference
from music_genre.extraction import batch_size_for, ray_cpus
from music_genre.model import GenreClassifier

log = logging.getLogger(__name__)


def list_inference_inputs(manifest: pd.DataFrame, inference_params: dict) -> pd.DataFrame:
    """The files to score: every audio file under ``inference.input_dir``, or the manifest's test split."""
    input_dir = inference_params.get("input_dir")
    if input_dir:
        files, errors = inference.collect_audio_paths([input_dir])
        if errors and not files:
            raise FileNotFoundError(f"inference.input_dir {input_dir}: {errors[0].message}")
        inputs = pd.DataFrame(
            {
                "path": [str(p) for p in files],
                "track_id": [inference.track_id_for(p) for p in files],
            }
        )
    elif manifest.empty:
        raise FileNotFoundError(
            "no manifest to take the test split from: run `kedro run --pipelines=data_ingestion` first, "
            "or score a folder with --params=inference.input_dir=/abs/path"
        )
    else:
        test = manifest[manifest["split"] == "test"]
        inputs = test[["path", "track_id"]].reset_index(drop=True)
    inputs["fingerprint"] = [
        audio.fingerprint(path) if Path(path).is_file() else "missing" for path in inputs["path"]
    ]
    return inputs


def _predict_batch(paths: list[str], classifier: GenreClassifier, windowing: dict) -> pd.DataFrame:
    return inference.predict_files(paths, classifier, windowing)


def score_new_files(
    inputs: pd.DataFrame,
    genre_classifier: GenreClassifier,
    previous_predictions: pd.DataFrame,
    inference_params: dict,
) -> tuple[pd.DataFrame, dict]:
    """Score, on Ray, the files this model version has not scored yet (a daily job tags only what is
    new), and append them to the predictions table; the report says what this run did."""
    import ray  # noqa: PLC0415

    version = genre_classifier.version
    done = set()
    if not previous_predictions.empty:
        mine = previous_predictions[previous_predictions["model_version"] == version]
        done = set(zip(mine["path"], mine["fingerprint"], strict=True))
    todo = inputs[
        [(p, f) not in done for p, f in zip(inputs["path"], inputs["fingerprint"], strict=True)]
    ]
    log.info(
        "Inference with model %s: %d files, %d already scored by it, %d to score",
        version,
        len(inputs),
        len(inputs) - len(todo),
        len(todo),
    )
    report = {
        "files": len(inputs),
        "already_scored": len(inputs) - len(todo),
        "scored": 0,
        "failed": 0,
        "model_version": version,
    }
    if todo.empty:
        return previous_predictions, report
    windowing = inference.windowing_settings(inference_params)
    remote = ray.remote(max_retries=3)(_predict_batch)
    model_ref = ray.put(genre_classifier)
    size = batch_size_for(
        len(todo), inference_params.get("batch_size", 4), ray_cpus(), batches_per_worker=2
    )
    paths = todo["path"].tolist()
    futures = [
        remote.remote(paths[start : start + size], model_ref, windowing)
        for start in range(0, len(paths), size)
    ]
    scored = pd.concat(ray.get(futures), ignore_index=True)
    scored["track_id"] = todo["track_id"].to_numpy()
    scored["fingerprint"] = todo["fingerprint"].to_numpy()
    scored["model_version"] = version
    scored["predicted_at"] = pd.Timestamp.now(tz="UTC")
    failed = scored["error_reason"].notna()
    for row in scored[failed].itertuples(index=False):
        log.warning("Could not score %s (%s): %s", row.path, row.error_reason, row.error)
    log.info("Scored %d files (%d could not be scored)", len(scored), int(failed.sum()))
    genres = scored.loc[~failed, "genre"].value_counts()
    report.update(
        scored=len(scored),
        failed=int(failed.sum()),
        failure_reasons=", ".join(
            f"{r} {n}" for r, n in scored.loc[failed, "error_reason"].value_counts().items()
        ),
        genres=", ".join(f"{g} {n}" for g, n in genres.items()),
    )
    if previous_predictions.empty:
        return scored, report
    return pd.concat([previous_predictions, scored], ignore_index=True), report


def predict_audio_paths(
    audio_paths: pd.DataFrame, served_genre_classifier: GenreClassifier, inference_params: dict
) -> pd.DataFrame:
    """The served model: a frame with a ``path`` column in, one prediction row per path out, computed
    in-process (no Ray inside a model server) with the extractor training used. A bad path is a row
    with its error, never a failed request."""
    if "path" not in audio_paths.columns:
        raise ValueError("the input needs a 'path' column of audio file paths")
    windowing = inference.windowing_settings(inference_params)
    paths = audio_paths["path"].astype(str).tolist()
    predictions = inference.predict_files(paths, served_genre_classifier, windowing)
    predictions["windows"] = predictions["windows"].astype("Int64")
    # Missing values as None, so the server's JSON says null (strict JSON has no NaN).
    return predictions.astype(object).where(predictions.notna(), None)
