"""Thin nodes over :mod:`music_genre.similarity`."""

from __future__ import annotations

import logging

import pandas as pd

log = logging.getLogger(__name__)


def build_similarity_index(
    features: pd.DataFrame,
    manifest: pd.DataFrame,
    feature_settings: dict,
    similarity_params: dict,
    previous_index,
) -> tuple[object, dict, pd.DataFrame]:
    """The collection's similarity index, rebuilt only for the tracks whose features changed.

    Args:
        features: The features table (``track_id`` + feature columns).
        manifest: The collection's tracks (path, genre, artist, title; album where known).
        feature_settings: The settings the features were extracted with (queries are extracted alike).
        similarity_params: ``similarity``: exact/approximate threshold, duplicate distances.
        previous_index: The newest saved index (None the first time): reused where still valid.

    Returns:
        The index, a report (tracks, columns, exact or approximate, rebuilt/updated/unchanged), and the
        near-duplicate pairs of the collection (the same recording encoded twice).
    """
    from music_genre.similarity.index import build_index
    from music_genre.similarity.neighbours import near_duplicates

    index, report = build_index(
        features, manifest, feature_settings, similarity_params, previous_index
    )
    duplicates = near_duplicates(index)
    report = {**report, "memory_bytes": index.nbytes(), "near_duplicate_pairs": len(duplicates)}
    log.info(
        "Similarity index: %d tracks over %s, %s search, %s (%d added, %d removed); "
        "%d near-duplicate pairs",
        report["tracks"], report["description"], report["kind"], report["action"],
        report["added"], report["removed"], len(duplicates),
    )  # fmt: skip
    return index, report, duplicates
