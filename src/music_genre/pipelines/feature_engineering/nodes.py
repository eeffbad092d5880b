"""Thin nodes over :mod:`music_genre.extraction` and :mod:`music_genre.features`."""

from __future__ import annotations

import logging

import pandas as pd

log = logging.getLogger(__name__)


def extract_features(
    manifest: pd.DataFrame, feature_params: dict
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Extract what the cache lacks (Ray tasks, batch by batch), then read the whole table from it."""
    from music_genre.extraction import collect_features, report_dict, run_extraction  # noqa: PLC0415
    from music_genre.feature_cache import FeatureCache  # noqa: PLC0415
    from music_genre.features import FeatureSettings, feature_names  # noqa: PLC0415

    settings = FeatureSettings.from_dict(feature_params.get("settings") or {})
    cache = FeatureCache(feature_params["cache_dir"], settings.digest())
    report = run_extraction(
        manifest,
        settings.to_dict(),
        cache,
        batch_size=int(feature_params.get("batch_size", 8)),
        max_in_flight=feature_params.get("max_in_flight"),
        max_retries=int(feature_params.get("max_retries", 3)),
        retry_failures=bool(feature_params.get("retry_failures", False)),
        progress=bool(feature_params.get("progress", True)),
        min_duration_s=float(feature_params.get("min_duration_s", 0.0)),
    )
    features, failures = collect_features(manifest, cache, feature_names(settings))
    log.info(
        "Features: %d tracks x %d columns (%d extracted now, %d from cache, %d failed: %s)",
        len(features),
        features.shape[1] - 1,
        report.extracted,
        report.cached,
        len(failures),
        ", ".join(f"{r} {n}" for r, n in failures["reason"].value_counts().items()) or "none",
    )
    for row in failures.itertuples(index=False):
        log.warning(
            "Feature extraction failed for %s (%s): %s", row.track_id, row.reason, row.error
        )
    return features, failures, report_dict(report)
