"""Thin node over :mod:`music_genre.features.embeddings.weights`."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def prepare_embedding_weights(feature_params: dict) -> dict:
    """Make msd_musicnn's converted weights and their ONNX graph ready in the models layer (nothing to do
    when they are).

    Args:
        feature_params: ``feature_engineering``; reads its ``embedding`` block (``weights_dir``, ``wheel``,
            ``checkpoint``, ``index_url``, ``fetch_missing``).

    Returns:
        A report: the weights' path and source hash, array and parameter counts, and the CPU engine (ONNX
        Runtime on the graph beside the weights, or numpy where it cannot load)."""
    from music_genre.features.embeddings.backend import MusicnnBackend
    from music_genre.features.embeddings.weights import (
        WHEEL_SHA256,
        ensure_weights_from,
        load_weights,
    )

    path = ensure_weights_from(feature_params.get("embedding"))
    arrays = load_weights(path)
    # builds a missing or stale ONNX graph beside the weights
    backend = MusicnnBackend(weights=str(path), device="cpu")
    log.info("msd_musicnn weights ready: %s (%d arrays, %s)", path, len(arrays), backend.engine)
    return {
        "embedding": "msd_musicnn",
        "path": str(path),
        "source_wheel_sha256": WHEEL_SHA256,
        "arrays": len(arrays),
        "parameters": int(sum(a.size for a in arrays.values())),
        "cpu_engine": backend.engine,
    }
