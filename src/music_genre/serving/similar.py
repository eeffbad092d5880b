"""Songs like this one, for the CLI (``music-genre similar`` / ``playlist``), the served model's routes and
the page: one code path from a query to its neighbours.

A query is a track of the collection (its track id, or its path) or any audio file, extracted on the fly
exactly as ``predict`` extracts a file (:func:`music_genre.serving.inference.window_features`: a long song's
windows averaged) with the feature settings the index was built from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from music_genre.common.errors import ExpectedError

INDEX_DATASET = "similarity_index"


class QueryError(ExpectedError, ValueError):
    """A query that is neither a track of the collection nor a readable audio file."""

    def __init__(self, query: str, reason: str, message: str):
        super().__init__(f"{query}: {message}")
        self.query, self.reason, self.message = query, reason, message


@dataclass
class Query:
    label: str  # what the person asked (their path or track id)
    vector: np.ndarray
    row: int | None  # the query's own row when it is a track of the collection


def load_index(project: Path, env: str | None):
    """The environment's newest similarity index; an ExpectedError naming the run that builds it."""
    from kedro.io import DataCatalog

    from music_genre.modeling.store import _absolute, project_config

    loader = project_config(project, env)
    catalog = DataCatalog.from_config(
        _absolute({INDEX_DATASET: loader["catalog"][INDEX_DATASET]}, project)
    )
    index = catalog.load(INDEX_DATASET)
    if index is None:
        flag = f" --env={env}" if env else ""
        raise ExpectedError(
            f"no similarity index for environment '{env or 'local'}' in {project}: build it with "
            f"`kedro run{flag}` (or `kedro run{flag} --pipelines=similarity` once features exist)"
        )
    index.project = project  # relative collection paths are the project's
    return index


def similarity_params(project: Path | None, env: str | None) -> dict:
    """The ``similarity`` parameters (top, playlist rules) and the ``inference`` windowing."""
    from music_genre.serving.inference import windowing_settings

    if project is None:
        return {"similarity": {}, "windowing": windowing_settings(None)}
    from music_genre.modeling.store import project_config

    parameters = project_config(project, env)["parameters"]
    return {
        "similarity": dict(parameters.get("similarity") or {}),
        "windowing": windowing_settings(parameters.get("inference")),
    }


def _indexed_paths(index) -> dict[str, int]:
    cached = getattr(index, "_path_rows", None)
    if cached is None:
        base = Path(getattr(index, "project", None) or Path.cwd())
        cached = {}
        for row, path in enumerate(index.tracks["path"]):
            if path:
                cached.setdefault(os.path.normpath(base / str(path)), row)
        index._path_rows = cached
    return cached


def collection_row(index, query: str) -> int | None:
    """The row of a query naming a track of the collection (track id or path), else None."""
    row = index.position(str(query))
    if row is not None:
        return row
    return _indexed_paths(index).get(os.path.normpath(Path(query).absolute()))


def file_vector(index, path: str | os.PathLike, windowing: Mapping | None = None) -> np.ndarray:
    """An audio file's unit vector, extracted as ``predict`` extracts it (windows averaged) with the
    index's feature settings. Raises QueryError for a file that cannot be read."""
    from music_genre.data import audio
    from music_genre.features import FeatureSettings
    from music_genre.serving.inference import window_features, windowing_settings

    settings = FeatureSettings.from_dict(index.feature_settings or {"feature_set": "handcrafted"})
    try:
        features, _ = window_features(path, settings, windowing_settings(windowing))
    except audio.AudioError as err:
        raise QueryError(str(path), err.reason, err.message) from err
    return index.query_vector(features[index.columns].astype("float64").mean(axis=0))


def resolve(index, query: str, windowing: Mapping | None = None) -> Query:
    """A query string as a vector: a track of the collection, else a file extracted on the fly."""
    row = collection_row(index, query)
    if row is not None:
        return Query(str(query), index.vectors()[row].astype(np.float32), row)
    if not Path(query).is_file():
        raise QueryError(
            str(query),
            "not_found",
            "neither an audio file nor a track id or path of the collection",
        )
    return Query(str(query), file_vector(index, query, windowing), None)


def similar(index, query: Query, top: int) -> dict:
    """``{"query", "index", "self", "duplicates", "neighbours"}`` for one resolved query."""
    from music_genre.similarity.neighbours import neighbours

    answer = neighbours(index, query.vector, int(top), self_row=query.row)
    return {"query": query.label, "index": index.description, **answer}


def sonic_similar_tracks(index, query: Query, count: int) -> list[dict]:
    """OpenSubsonic ``getSonicSimilarTracks``' shape: ``[{"entry": {id, path, title, artist, album,
    genre}, "similarity"}]``, most similar first (the query and its exact duplicates left out)."""
    answer = similar(index, query, count)
    return [{"entry": _entry(n), "similarity": n["similarity"]} for n in answer["neighbours"]]


def sonic_path(index, start: Query, end: Query, count: int, params: Mapping | None = None) -> list:
    """OpenSubsonic ``findSonicPath``' shape: the tracks from ``start`` to ``end`` (both of the
    collection), each with its similarity to the one before it (1 for the first)."""
    from music_genre.similarity.playlist import path_playlist

    if start.row is None or end.row is None:
        raise QueryError(
            start.label if start.row is None else end.label,
            "not_in_collection",
            "a path runs between two tracks of the collection (give their ids or paths)",
        )
    tracks = path_playlist(index, [start.row], length=count, target=end.row, params=params)
    return [{"entry": _entry(t), "similarity": t["similarity"]} for t in tracks]


def _entry(track: Mapping) -> dict:
    return {"id": track["track_id"], **{k: track.get(k) for k in ("path", "title", "artist",
            "album", "genre")}}  # fmt: skip


def collection_map(index, limit: int = 5000, seed: int = 0):
    """A 2D map of the collection (PCA of the unit vectors; at most ``limit`` tracks, drawn evenly):
    a table of x, y, track_id, path, title, artist, genre."""
    import pandas as pd

    vectors = index.vectors()
    rows = np.arange(len(vectors))
    if len(rows) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))
    centred = vectors[rows] - vectors[rows].mean(axis=0)
    if len(rows) >= 2:
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        xy = centred @ components[:2].T
    else:
        xy = np.zeros((len(rows), 2))
    if xy.shape[1] < 2:
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    table = index.tracks.iloc[rows][["track_id", "path", "title", "artist", "genre"]].copy()
    table.insert(0, "y", xy[:, 1])
    table.insert(0, "x", xy[:, 0])
    return pd.DataFrame(table).reset_index(drop=True)
