"""A similarity index of a collection: its tracks' features standardised, scaled to unit length and searched
by cosine distance (``1 - cos``: 0 = the same sound, 2 = opposite).

The columns are the collection's musicnn embedding where its features hold one (``<name>_mean_NNN``, 200
values), else every handcrafted column (the built-in sample's features: FMA's 518 statistics and tempo);
:attr:`SimilarityIndex.description` says which, and every output repeats it.

One code path: exact search (one matrix-vector product, numpy) while the collection has fewer than
``exact_below`` tracks; above it, an approximate HNSW graph (usearch, chosen by ``benchmarks/similarity_ann.py``
at fma_large size), with its vectors in half precision. Both answer :meth:`SimilarityIndex.search`.

Rebuilt only for what changed: each track is keyed by its id and a digest of its feature values. A run whose
keys match the previous index keeps it as it is; a run that adds, removes or changes at most
``refit_fraction`` of the tracks keeps the previous standardisation and only adds and removes vectors; more
than that refits it all. Plain library code: no Kedro, no Ray.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from music_genre.common.errors import ExpectedError

METADATA_COLUMNS = ("path", "genre", "artist", "title", "album")
DEFAULTS = {
    "exact_below": 200_000,  # tracks: exact search under this, approximate from it (benchmarks/)
    "refit_fraction": 0.2,  # more tracks changed than this: standardise again and rebuild everything
    "connectivity": 16,  # HNSW graph degree (approximate index only)
    "expansion_add": 128,
    "expansion_search": 64,
    "duplicate_distance": 1e-6,  # at most this far: the same features, an exact duplicate
    "near_duplicate_distance": 0.02,  # at most this far: the same recording encoded twice (report)
}


# the settings the saved vectors and graph depend on (the others are read at query time)
GRAPH_KEYS = ("connectivity", "expansion_add", "expansion_search")


class SimilarityError(ExpectedError, ValueError):
    """The index cannot be built or asked (no features, a query of the wrong shape); one line says why."""


def similarity_settings(params: Mapping | None) -> dict:
    """The ``similarity`` parameters over :data:`DEFAULTS` (unknown keys kept for the other steps)."""
    return {**DEFAULTS, **dict(params or {})}


def index_columns(
    columns: Sequence[str], embedding: str | None = "msd_musicnn"
) -> tuple[list, str]:
    """The columns the index searches and their description: the embedding's mean values when present,
    else every feature column (``track_id`` left out)."""
    names = [c for c in columns if c != "track_id"]
    prefix = f"{embedding}_mean_" if embedding else None
    chosen = [c for c in names if prefix and c.startswith(prefix)]
    if chosen:
        return chosen, f"the {embedding} embedding ({len(chosen)} values), standardised, cosine"
    if not names:
        raise SimilarityError("the features table has no feature columns: nothing to index")
    return names, (
        f"handcrafted features ({len(names)} values, no embedding in this environment), "
        "standardised, cosine"
    )


def row_digests(values: np.ndarray) -> np.ndarray:
    """A short digest of each row's float32 values: what says a track's features changed."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    return np.array([hashlib.blake2b(row.tobytes(), digest_size=8).hexdigest() for row in values])


def unit_rows(values: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(n, d)`` rows standardised by ``mean``/``scale`` and scaled to unit length (float32); a row with
    no spread at all stays zero (its distance to everything is 1)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(mean):
        raise SimilarityError(f"expected rows of {len(mean)} values, got shape {values.shape}")
    z = (values - mean) / scale
    z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    return (z / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class _Exact:
    """Every vector in one float32 matrix; a query is one product with it."""

    kind = "exact"

    def __init__(self, dim: int):
        self.vectors = np.empty((0, dim), dtype=np.float32)

    def add(self, vectors: np.ndarray) -> None:
        self.vectors = np.concatenate([self.vectors, vectors.astype(np.float32)])

    def keep(self, rows: np.ndarray) -> None:
        self.vectors = self.vectors[rows]

    def search(self, query: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        similarity = self.vectors @ query
        count = min(count, len(similarity))
        top = np.argpartition(-similarity, count - 1)[:count]
        top = top[np.argsort(-similarity[top], kind="stable")]
        return top, 1.0 - similarity[top]

    def matrix(self) -> np.ndarray:
        return self.vectors

    def nbytes(self) -> int:
        return int(self.vectors.nbytes)


class _Approximate:
    """usearch's HNSW graph (cosine, half-precision vectors) keyed by row number, plus the row numbers'
    own half-precision copy for the whole-collection steps (map, clusters, duplicates)."""

    kind = "approximate"

    def __init__(self, dim: int, settings: Mapping):
        self.dim = dim
        self.settings = {
            k: int(settings[k]) for k in ("connectivity", "expansion_add", "expansion_search")
        }
        self.vectors = np.empty((0, dim), dtype=np.float16)
        self.graph = self._new_graph()

    def _new_graph(self):
        from usearch.index import Index

        return Index(ndim=self.dim, metric="cos", dtype="f16", **self.settings)

    def add(self, vectors: np.ndarray) -> None:
        start = len(self.vectors)
        self.graph.add(
            np.arange(start, start + len(vectors)), vectors.astype(np.float32), threads=1
        )
        self.vectors = np.concatenate([self.vectors, vectors.astype(np.float16)])

    def keep(self, rows: np.ndarray) -> None:
        if np.array_equal(rows, np.arange(len(self.vectors))):
            return  # only additions: the graph grows in place
        # rows are renumbered: the graph is rebuilt from the kept vectors (removals are rare)
        kept = self.vectors[rows]
        self.vectors = np.empty((0, self.dim), dtype=np.float16)
        self.graph = self._new_graph()
        if len(kept):
            self.add(kept.astype(np.float32))

    def search(self, query: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        found = self.graph.search(
            query.astype(np.float32), min(count, len(self.vectors)), threads=1
        )
        return np.asarray(found.keys, dtype=np.int64), np.asarray(found.distances, dtype=np.float32)

    def matrix(self) -> np.ndarray:
        return self.vectors.astype(np.float32)

    def nbytes(self) -> int:
        return int(self.vectors.nbytes + self.graph.memory_usage)

    def __getstate__(self):
        return {"dim": self.dim, "settings": self.settings, "vectors": self.vectors,
                "graph": bytes(self.graph.save())}  # fmt: skip

    def __setstate__(self, state):
        from usearch.index import Index

        self.dim, self.settings, self.vectors = state["dim"], state["settings"], state["vectors"]
        self.graph = Index.restore(state["graph"])


@dataclass
class SimilarityIndex:
    """Tracks (``track_id`` and :data:`METADATA_COLUMNS`), their unit vectors and how to make a query's."""

    columns: list[str]
    description: str
    mean: np.ndarray
    scale: np.ndarray
    tracks: pd.DataFrame
    digests: np.ndarray
    backend: _Exact | _Approximate
    feature_settings: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.tracks)

    @property
    def kind(self) -> str:
        return self.backend.kind

    def vectors(self) -> np.ndarray:
        """(tracks, d) float32 unit vectors, in :attr:`tracks`' order."""
        return self.backend.matrix()

    def query_vector(self, features: pd.Series | Mapping | np.ndarray) -> np.ndarray:
        """A file's features (a row named by :attr:`columns`, or their values in order) as a unit vector."""
        if isinstance(features, pd.Series | Mapping):
            missing = [c for c in self.columns if c not in features]
            if missing:
                raise SimilarityError(
                    f"the query lacks {len(missing)} of the index's columns (e.g. {missing[0]}): it was "
                    "extracted with other feature settings"
                )
            features = np.array([features[c] for c in self.columns], dtype=np.float64)
        return unit_rows(np.asarray(features, dtype=np.float64)[None, :], self.mean, self.scale)[0]

    def search(self, query: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Row positions and cosine distances of the ``count`` nearest tracks to a unit vector, nearest
        first (ties in row order for exact search)."""
        query = np.asarray(query, dtype=np.float32)
        if query.shape != (len(self.columns),):
            raise SimilarityError(f"a query is {len(self.columns)} values, got shape {query.shape}")
        if count < 1 or not len(self):
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        rows, distances = self.backend.search(query, count)
        return rows.astype(np.int64), np.clip(distances, 0.0, 2.0).astype(np.float32)

    def nbytes(self) -> int:
        """Memory of the searchable part (vectors, graph), the figure compared with the raw embedding."""
        return self.backend.nbytes()

    def position(self, track_id: str) -> int | None:
        matches = np.flatnonzero(self.tracks["track_id"].astype(str).to_numpy() == str(track_id))
        return int(matches[0]) if len(matches) else None


def _metadata(features: pd.DataFrame, tracks: pd.DataFrame | None) -> pd.DataFrame:
    ids = features["track_id"].astype(str)
    table = pd.DataFrame({"track_id": ids})
    if tracks is not None and len(tracks):
        meta = tracks.assign(track_id=tracks["track_id"].astype(str)).drop_duplicates("track_id")
        keep = [c for c in METADATA_COLUMNS if c in meta.columns]
        table = table.merge(meta[["track_id", *keep]], on="track_id", how="left")
    for column in METADATA_COLUMNS:
        if column not in table.columns:
            table[column] = None
        table[column] = table[column].astype(object).where(table[column].notna(), None)
    return table.reset_index(drop=True)


def build_index(
    features: pd.DataFrame,
    tracks: pd.DataFrame | None,
    feature_settings: Mapping | None,
    params: Mapping | None = None,
    previous: SimilarityIndex | None = None,
) -> tuple[SimilarityIndex, dict]:
    """The index of ``features`` (``track_id`` + feature columns) with ``tracks``' metadata (path, genre,
    artist, title, album where known), and a report of what was done: ``rebuilt`` (all), ``updated``
    (vectors added and removed), or ``unchanged``. ``previous`` is reused where its columns, settings and
    search kind still hold."""
    settings = similarity_settings(params)
    feature_settings = dict(feature_settings or {})
    if features is None or "track_id" not in features.columns:
        raise SimilarityError(
            "the features table has no track_id column: run feature_engineering first"
        )
    embedding = feature_settings.get("embedding") if _uses_embedding(feature_settings) else None
    columns, description = index_columns(list(features.columns), embedding)
    features = features.drop_duplicates("track_id", keep="last").reset_index(drop=True)
    values = features[columns].to_numpy(dtype=np.float32)
    finite = np.isfinite(values).all(axis=1)
    features, values = features[finite].reset_index(drop=True), values[finite]
    digests = row_digests(values)
    ids = features["track_id"].astype(str).to_numpy()
    metadata = _metadata(features, tracks)
    kind = "exact" if len(features) < int(settings["exact_below"]) else "approximate"
    report = {"tracks": int(len(features)), "columns": len(columns), "kind": kind,
              "description": description, "dropped_non_finite": int((~finite).sum())}  # fmt: skip
    if _reusable(previous, columns, feature_settings, settings, kind):
        previous.settings = settings  # thresholds read at query time: this run's
        old = dict(zip(previous.tracks["track_id"].astype(str), previous.digests, strict=True))
        new = dict(zip(ids, digests, strict=True))
        same = [i for i, d in new.items() if old.get(i) == d]
        changed = len(new) - len(same) + len(old) - len(same)
        if not changed:
            previous.tracks = metadata.set_index("track_id").loc[previous.tracks["track_id"]]
            previous.tracks = previous.tracks.reset_index()
            return previous, {**report, "action": "unchanged", "added": 0, "removed": 0}
        if changed <= float(settings["refit_fraction"]) * max(len(old), 1):
            return _updated(previous, ids, digests, values, metadata, same, report)
    mean = values.mean(axis=0, dtype=np.float64) if len(values) else np.zeros(len(columns))
    scale = values.std(axis=0, dtype=np.float64) if len(values) else np.ones(len(columns))
    scale = np.where(scale > 1e-12, scale, 1.0)
    backend = _Exact(len(columns)) if kind == "exact" else _Approximate(len(columns), settings)
    backend.add(unit_rows(values, mean, scale))
    index = SimilarityIndex(columns, description, mean, scale, metadata, digests, backend,
                            feature_settings, settings)  # fmt: skip
    return index, {**report, "action": "rebuilt", "added": int(len(ids)), "removed": 0}


def _uses_embedding(feature_settings: Mapping) -> bool:
    return "embedding" in str(feature_settings.get("feature_set", ""))


def _reusable(previous, columns, feature_settings, settings, kind) -> bool:
    return (
        isinstance(previous, SimilarityIndex)
        and previous.columns == columns
        and previous.feature_settings == feature_settings
        and previous.kind == kind
        and all(previous.settings.get(k) == settings[k] for k in GRAPH_KEYS)
    )


def _updated(
    previous, ids, digests, values, metadata, same, report
) -> tuple[SimilarityIndex, dict]:
    """The previous index less its removed and changed tracks, plus the new and changed ones, under the
    previous standardisation."""
    keep_ids = set(same)
    old_ids = previous.tracks["track_id"].astype(str).to_numpy()
    kept_rows = np.flatnonzero([i in keep_ids for i in old_ids])
    removed = len(old_ids) - len(kept_rows)
    previous.backend.keep(kept_rows)
    new_rows = np.flatnonzero([i not in keep_ids for i in ids])
    previous.backend.add(unit_rows(values[new_rows], previous.mean, previous.scale))
    order = [*old_ids[kept_rows], *ids[new_rows]]
    previous.tracks = metadata.set_index("track_id").loc[order].reset_index()
    by_id = dict(zip(ids, digests, strict=True))
    previous.digests = np.array([by_id[i] for i in order])
    action = {"action": "updated", "added": int(len(new_rows)), "removed": int(removed)}
    return previous, {**report, **action}
