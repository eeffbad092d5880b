"""Thin node over :mod:`music_genre.features.embeddings.weights`."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def prepare_embedding_weights(feature_params: dict) -> dict:
    """Make msd_musicnn's converted weights ready in the models layer (nothing to do when they are):
    musicnn 0.1.0's wheel from ``embedding.wheel`` or the package index, SHA-256 checked, converted and
    verified against musicnn's own graph. Needs the ``embeddings`` extra the first time."""
    from music_genre.features.embeddings.weights import (  # noqa: PLC0415
        WHEEL_SHA256,
        ensure_weights_from,
        load_weights,
    )

    path = ensure_weights_from(feature_params.get("embedding"))
    arrays = load_weights(path)
    log.info("msd_musicnn weights ready: %s (%d arrays)", path, len(arrays))
    return {
        "embedding": "msd_musicnn",
        "path": str(path),
        "source_wheel_sha256": WHEEL_SHA256,
        "arrays": len(arrays),
        "parameters": int(sum(a.size for a in arrays.values())),
    }
