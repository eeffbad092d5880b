"""Answers over a :class:`~music_genre.similarity.index.SimilarityIndex`: a query's neighbours (the query
itself and its exact duplicates named, not counted), and the collection's near-duplicates.

A neighbour is a dict ``{"rank", "track_id", "path", "title", "artist", "album", "genre", "distance",
"similarity"}``: ``distance`` is the cosine distance (0 = the same sound), ``similarity`` is
``1 - distance / 2`` in [0, 1] (1 = the same), the shape OpenSubsonic's ``sonicSimilarity`` extension asks for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .index import SimilarityIndex

# an ANN may return a few more than asked for as duplicates of the query: ask for this many extra
_EXTRA = 8


def similarity_of(distance: float) -> float:
    """Cosine distance (0..2) as a similarity in [0, 1], 1 = the same."""
    return float(np.clip(1.0 - float(distance) / 2.0, 0.0, 1.0))


def track_record(index: SimilarityIndex, row: int, distance: float | None = None) -> dict:
    """One indexed track as a JSON-ready dict (metadata unknown: None)."""
    meta = index.tracks.iloc[int(row)]
    record = {"track_id": str(meta["track_id"])}
    for column in ("path", "title", "artist", "album", "genre"):
        value = meta.get(column)
        record[column] = (
            None if value is None or (isinstance(value, float) and value != value) else str(value)
        )
    if distance is not None:
        record["distance"] = round(float(distance), 6)
        record["similarity"] = round(similarity_of(distance), 6)
    return record


def neighbours(
    index: SimilarityIndex, vector: np.ndarray, top: int, self_row: int | None = None
) -> dict:
    """The ``top`` nearest tracks to a unit ``vector``: ``{"self": record | None, "duplicates": [...],
    "neighbours": [...]}``. ``self_row`` (the query is a track of the collection) is left out as
    ``self``; tracks at most ``duplicate_distance`` away are ``duplicates``, not neighbours."""
    threshold = float(index.settings.get("duplicate_distance", 1e-6))
    answer: dict = {"self": None, "duplicates": [], "neighbours": []}
    asked = top + _EXTRA + (1 if self_row is not None else 0)
    while True:
        rows, distances = index.search(vector, asked)
        answer = {"self": None, "duplicates": [], "neighbours": []}
        for row, distance in zip(rows, distances, strict=True):
            if self_row is not None and int(row) == int(self_row):
                answer["self"] = track_record(index, row, distance)
            elif distance <= threshold:
                answer["duplicates"].append(track_record(index, row, distance))
            elif len(answer["neighbours"]) < top:
                record = track_record(index, row, distance)
                answer["neighbours"].append({"rank": len(answer["neighbours"]) + 1, **record})
        if len(answer["neighbours"]) >= top or asked >= len(index):
            return answer
        asked = min(len(index), asked * 2)  # many duplicates: look further


def near_duplicates(index: SimilarityIndex, max_distance: float | None = None) -> pd.DataFrame:
    """Pairs of tracks at most ``max_distance`` apart (default the index's ``near_duplicate_distance``):
    the same recording encoded twice. Columns ``track_id``, ``path``, ``other_track_id``, ``other_path``,
    ``distance``, ``group`` (tracks linked by such pairs share a group), closest pairs first."""
    limit = float(
        index.settings.get("near_duplicate_distance", 0.02)
        if max_distance is None
        else max_distance
    )
    pairs = list(_close_pairs(index, limit))
    parent = list(range(len(index)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, _ in pairs:
        parent[root(a)] = root(b)
    groups: dict[int, int] = {}
    records = []
    for a, b, distance in sorted(pairs, key=lambda p: p[2]):
        group = groups.setdefault(root(a), len(groups) + 1)
        first, second = track_record(index, a), track_record(index, b)
        records.append({"track_id": first["track_id"], "path": first["path"],
                        "other_track_id": second["track_id"], "other_path": second["path"],
                        "distance": round(distance, 6), "group": group})  # fmt: skip
    columns = ["track_id", "path", "other_track_id", "other_path", "distance", "group"]
    return pd.DataFrame.from_records(records, columns=columns)


def _close_pairs(index: SimilarityIndex, limit: float, block: int = 1024):
    """(row, other row > row, distance) of every pair at most ``limit`` apart: blocks of rows against all
    (exact), or each row's 16 nearest from the graph, searched a block at a time (approximate)."""
    vectors = index.vectors() if index.kind == "exact" else index.backend.vectors
    for start in range(0, len(vectors), block):
        chunk = np.asarray(vectors[start : start + block], dtype=np.float32)
        if index.kind == "exact":
            distances = 1.0 - chunk @ vectors.T
            rows, others = np.nonzero(distances <= limit)
            found = distances[rows, others]
        else:
            matches = index.backend.graph.search(chunk, min(16, len(vectors)), threads=1)
            keys = np.asarray(matches.keys, dtype=np.int64).reshape(len(chunk), -1)
            dists = np.asarray(matches.distances, dtype=np.float32).reshape(len(chunk), -1)
            rows, columns = np.nonzero((dists <= limit) & (keys >= 0))
            others, found = keys[rows, columns], dists[rows, columns]
        rows = rows + start
        for row, other, distance in zip(rows, others, found, strict=True):
            if int(other) > int(row):
                yield int(row), int(other), max(0.0, float(distance))
