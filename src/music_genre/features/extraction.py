"""Feature extraction over a whole collection: batches of tracks as Ray tasks, results into the cache.

The per-track work is :func:`music_genre.features.extract_file`, the same call the CLI makes; this module
only decides what is missing, fans batches out to Ray (local or a cluster) with retries, writes each
finished batch to the Parquet cache and reports progress. Ray is imported inside functions.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from music_genre.common.errors import ExpectedError
from music_genre.common.progress import ProgressLog
from music_genre.common.ray_runtime import NodeWatch
from music_genre.features.feature_cache import (
    KEY_COLUMNS,
    STATUS_FAILED,
    STATUS_OK,
    Batch,
    FeatureCache,
)

log = logging.getLogger(__name__)

FAILURE_COLUMNS = ["track_id", "path", "reason", "error"]


@dataclass
class ExtractionReport:
    tracks: int
    cached: int
    extracted: int
    failed: int
    seconds: float
    tracks_per_second: float
    workers: int
    settings_digest: str


def ray_cpus() -> int:
    """CPUs of the running Ray, local or a cluster: how many tasks run at once (1 without Ray)."""
    import ray

    return int(ray.cluster_resources().get("CPU", 1)) if ray.is_initialized() else 1


def auto_gpus_per_task(settings: Mapping, workers: int) -> float:
    """GPUs each extraction task asks for when ``gpus_per_task`` is not set: a share of the cluster's GPUs
    (all tasks at once fit) when the embedding is computed and PyTorch is there to use them; 0 otherwise
    (handcrafted features, or no GPU), so no task waits for a GPU it would not use."""
    import importlib.util

    import ray

    from music_genre.features import FeatureSettings

    uses_embedding = FeatureSettings.from_dict(settings).uses_embedding
    gpus = float(ray.cluster_resources().get("GPU", 0)) if ray.is_initialized() else 0.0
    if not uses_embedding or gpus <= 0 or importlib.util.find_spec("torch") is None:
        return 0.0
    share = math.floor(gpus / max(1, workers) * 1000) / 1000  # Ray wants fractions it can add up
    log.info("Embedding on GPU: %d GPU(s), %.3f per extraction task", gpus, share)
    return max(share, 0.001)


def batch_size_for(n_items: int, max_size: int, workers: int, batches_per_worker: int) -> int:
    """Items per Ray task: at most ``max_size``, fewer when few remain, so that every worker gets at
    least ``batches_per_worker`` batches and the last round does not leave most workers idle."""
    return max(1, min(int(max_size), math.ceil(n_items / (batches_per_worker * workers))))


def extract_batch(rows: list[dict], settings: Mapping, min_duration_s: float = 0.0) -> Batch:
    """Extract one batch in this process: one row per track, ``status`` ok or failed with the reason.

    Each file is probed first (the manifest may be older than the file: a file that went missing, was
    cut off or emptied since ingestion is named as such instead of yielding features of a fragment).
    A bad file never raises out of here: the error becomes a row, the batch goes on.
    """
    from music_genre.data.audio import AudioError, probe
    from music_genre.features import FeatureSettings, extract_files, feature_names

    settings = FeatureSettings.from_dict(settings)
    columns = feature_names(settings)
    values = np.full((len(rows), len(columns)), np.nan, dtype=np.float32)
    outcome: list = [None] * len(rows)
    readable = []
    for i, row in enumerate(rows):
        try:
            probe(row["path"], min_duration=min_duration_s)
            readable.append(i)
        except AudioError as err:
            outcome[i] = err
    try:
        results = extract_files([rows[i]["path"] for i in readable], settings)
    except (
        ExpectedError
    ):  # missing or bad embedding weights: the run's problem, never cached as failures
        raise
    except Exception:  # a feature bug on one odd file must not cost the batch: one at a time
        results = [_one(rows[i]["path"], settings) for i in readable]
    for i, result in zip(readable, results, strict=True):
        outcome[i] = result
    meta = []
    for i, row in enumerate(rows):
        record = {key: row[key] for key in KEY_COLUMNS}
        result = outcome[i]
        if isinstance(result, AudioError):
            record.update(status=STATUS_FAILED, reason=result.reason, error=result.message)
        elif isinstance(result, Exception):
            message = " ".join(str(result).split()) or type(result).__name__
            record.update(status=STATUS_FAILED, reason="feature_error", error=message)
        else:
            values[i] = result.to_numpy(dtype=np.float32)
            record.update(status=STATUS_OK, reason=None, error=None)
        meta.append(record)
    return Batch(pd.DataFrame.from_records(meta), values, columns)


def _one(path, settings):
    from music_genre.features import extract_files

    try:
        return extract_files([path], settings)[0]
    except ExpectedError:
        raise
    except Exception as err:
        return err


def _batches(frame: pd.DataFrame, size: int):
    records = frame[["track_id", "fingerprint", "path"]].to_dict("records")
    for start in range(0, len(records), size):
        yield records[start : start + size]


def run_extraction(
    tracks: pd.DataFrame,
    settings: Mapping,
    cache: FeatureCache,
    *,
    batch_size: int = 8,
    max_in_flight: int | None = None,
    max_retries: int = 3,
    retry_failures: bool = False,
    progress: bool = True,
    min_duration_s: float = 0.0,
    gpus_per_task: float | None = None,
) -> ExtractionReport:
    """Extract every track of ``tracks`` (track_id, path, fingerprint) that the cache lacks, on Ray."""
    import ray

    started = time.perf_counter()
    cached = cache.cached_keys(include_failures=not retry_failures)
    keys = list(zip(tracks["track_id"], tracks["fingerprint"], strict=True))
    todo = tracks[[key not in cached for key in keys]]
    workers = ray_cpus()
    log.info(
        "Features (settings %s): %d tracks, %d cached, %d to extract on %d Ray CPUs",
        cache.digest,
        len(tracks),
        len(tracks) - len(todo),
        len(todo),
        workers,
    )
    extracted = failed = 0
    if len(todo):
        if not ray.is_initialized():
            raise RuntimeError(
                "Ray is not running: the project hook starts it for nodes tagged 'ray' "
                "(or call music_genre.common.ray_runtime.start_ray())"
            )
        # A task sees a GPU only when it asks for one (Ray hides the others from it).
        if gpus_per_task is None:
            gpus_per_task = auto_gpus_per_task(settings, workers)
        remote_batch = ray.remote(
            max_retries=max_retries, retry_exceptions=False, num_gpus=gpus_per_task
        )(extract_batch)
        settings_ref = ray.put(dict(settings))
        limit = max_in_flight or max(2, 2 * workers)
        pending: list = []
        size = batch_size_for(len(todo), batch_size, workers, batches_per_worker=4)
        batches = _batches(todo, size)
        bar = ProgressLog(len(todo), "Extracting features", log, enabled=progress)
        nodes = NodeWatch("feature extraction")
        try:
            while True:
                nodes.check()
                while len(pending) < limit:
                    batch = next(batches, None)
                    if batch is None:
                        break
                    pending.append(remote_batch.remote(batch, settings_ref, min_duration_s))
                if not pending:
                    break
                done, pending = ray.wait(pending, num_returns=1)
                try:
                    batch_result = ray.get(done[0])
                except ray.exceptions.RayError as err:
                    # Retries are spent (a worker kept dying): its tracks stay uncached, so the next
                    # run tries them again; this run lists them as not extracted.
                    log.warning("A feature batch failed after %d retries: %s", max_retries, err)
                    continue
                cache.write_batch(batch_result)
                extracted += len(batch_result) - batch_result.failed
                failed += batch_result.failed
                bar.update(len(batch_result))
        finally:
            bar.close()
        nodes.check(force=True)  # a node lost during the last batches
    cache.compact()
    seconds = time.perf_counter() - started
    return ExtractionReport(
        tracks=len(tracks),
        cached=len(tracks) - len(todo),
        extracted=extracted,
        failed=failed,
        seconds=round(seconds, 3),
        tracks_per_second=round((extracted + failed) / seconds, 3) if len(todo) else 0.0,
        workers=workers,
        settings_digest=cache.digest,
    )


def collect_features(
    tracks: pd.DataFrame, cache: FeatureCache, feature_columns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The feature table (track_id + named float32 columns) and the failures table for ``tracks``."""
    rows = cache.load()
    wanted = tracks[["track_id", "fingerprint", "path"]]
    merged = wanted.merge(rows, on=KEY_COLUMNS, how="left")
    ok = merged["status"] == STATUS_OK
    features = merged.loc[ok, ["track_id", *feature_columns]].reset_index(drop=True)
    features[feature_columns] = features[feature_columns].astype(np.float32)
    failures = merged.loc[~ok, ["track_id", "path", "reason", "error"]].copy()
    missing = failures["reason"].isna()
    failures.loc[missing, "reason"] = "not_extracted"
    failures.loc[missing, "error"] = "no cached result (the run stopped before this track finished)"
    return features, failures.reset_index(drop=True)


def report_dict(report: ExtractionReport) -> dict:
    return asdict(report)
