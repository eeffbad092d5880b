"""Which genres a track carries, for the multi-label task.

A track's tags come from FMA's ``track.genres_all`` (the artist's genres plus every ancestor), kept in the
manifest as titles joined by ``|``. The label set is chosen once, from the training split, and every later
step (thresholds, metrics, serving) uses it in that order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from music_genre.common.errors import ExpectedError
from music_genre.data.labels import SEPARATOR, TAGS_COLUMN, join_tags, split_tags

__all__ = [
    "ALL_GENRES",
    "SEPARATOR",
    "TAGS_COLUMN",
    "TOP_LEVEL",
    "NoTagsError",
    "check_has_tags",
    "choose_labels",
    "join_tags",
    "split_tags",
    "tag_lists",
    "tag_matrix",
]

log = logging.getLogger(__name__)

TOP_LEVEL, ALL_GENRES = "top_level", "all"


class NoTagsError(ExpectedError, ValueError):
    """The multi-label task was asked of tracks that carry no genre lists."""


def check_has_tags(table: pd.DataFrame) -> None:
    """One clear line where multi-label is asked of tracks without genre lists (a folder collection)."""
    if TAGS_COLUMN not in table.columns or table[TAGS_COLUMN].map(split_tags).map(len).eq(0).all():
        raise NoTagsError(
            "modeling.task=multi_label needs each track's genres (FMA's track.genres_all), and these "
            "tracks have none: a folder-per-genre collection has one genre per track, so use "
            "modeling.task=single_label (rerun data_ingestion if the manifest predates genres_all)"
        )


def choose_labels(table: pd.DataFrame, settings: Mapping) -> list[str]:
    """The genres the model predicts: FMA's top-level genres (``labels: top_level``) or every genre
    (``all``), kept where the training split holds at least ``min_training_tracks`` tracks with the tag
    and at least as many without it (a label every track carries teaches nothing)."""
    from music_genre.data.fma import TOP_LEVEL_GENRES

    check_has_tags(table)
    which = str(settings.get("labels", TOP_LEVEL))
    if which not in (TOP_LEVEL, ALL_GENRES):
        raise ExpectedError(f"modeling.multi_label.labels {which!r}: choose top_level or all")
    minimum = int(settings.get("min_training_tracks", 5))
    train = table.loc[table["split"] == "training", TAGS_COLUMN].map(split_tags)
    counts = pd.Series([tag for tags in train for tag in tags], dtype=object).value_counts()
    if which == TOP_LEVEL:
        counts = counts[counts.index.isin(list(TOP_LEVEL_GENRES.values()))]
    kept = sorted(g for g, n in counts.items() if n >= minimum and len(train) - n >= minimum)
    dropped = sorted(set(counts.index) - set(kept))
    if dropped:
        log.info(
            "Multi-label: %d genres left out (fewer than %d training tracks with or without them): %s",
            len(dropped),
            minimum,
            ", ".join(dropped[:12]) + (" ..." if len(dropped) > 12 else ""),
        )
    if len(kept) < 2:
        raise ExpectedError(
            f"multi-label needs at least 2 genres with {minimum}+ training tracks each; found "
            f"{len(kept)} ({which}): lower modeling.multi_label.min_training_tracks or add tracks"
        )
    return kept


def tag_matrix(table: pd.DataFrame, labels: Sequence[str]) -> np.ndarray:
    """Boolean (tracks, labels): whether each track carries each label."""
    index = {label: j for j, label in enumerate(labels)}
    out = np.zeros((len(table), len(labels)), dtype=bool)
    for i, tags in enumerate(table[TAGS_COLUMN].map(split_tags)):
        for tag in tags:
            if tag in index:
                out[i, index[tag]] = True
    return out


def tag_lists(matrix: np.ndarray, labels: Sequence[str]) -> list[list[str]]:
    labels = list(labels)
    return [[labels[j] for j in np.flatnonzero(row)] for row in np.asarray(matrix, dtype=bool)]
