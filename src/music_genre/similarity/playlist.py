"""Playlists over a :class:`~music_genre.similarity.index.SimilarityIndex`: a path through neighbours near
the seeds, a gradual transition from one track to another, clusters of the collection named by their
dominant genres, and M3U8, what media players read.

Rules every path keeps: no track twice (an exact duplicate of a track already in the list counts as that
track), no artist within ``artist_window`` tracks of the same artist and no album within ``album_window``
tracks of the same album, where the collection knows them (parameters ``similarity.playlist``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from .index import SimilarityError, SimilarityIndex
from .neighbours import track_record

PLAYLIST_DEFAULTS = {
    "length": 20,
    "artist_window": 3,  # tracks: no artist again within this many
    "album_window": 5,
    "seed_weight": 0.5,  # how strongly a path stays near its seeds (0: it may drift anywhere)
    "candidates": 50,  # neighbours examined per step
}


def playlist_settings(params: Mapping | None) -> dict:
    return {**PLAYLIST_DEFAULTS, **dict(params or {})}


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)


class _Rules:
    """What the list so far forbids: used tracks (and their exact duplicates), recent artists/albums."""

    def __init__(self, index: SimilarityIndex, settings: Mapping):
        self.index = index
        self.settings = settings
        self.used: list[int] = []
        self.reserved: set[int] = (
            set()
        )  # the transition's target: it ends the list, never on the way
        self.duplicate = float(index.settings.get("duplicate_distance", 1e-6))
        self.vectors = index.vectors()

    def _recent(self, column: str, window: int) -> set:
        if window <= 0:
            return set()
        values = self.index.tracks[column].iloc[self.used[-window:]] if self.used else []
        return {str(v).casefold() for v in values if v is not None and v == v and str(v).strip()}

    def allows(self, row: int) -> bool:
        if row in self.used or row in self.reserved:
            return False
        if (
            self.used
            and float(np.max(self.vectors[self.used] @ self.vectors[row])) >= 1 - self.duplicate
        ):
            return False  # the same features as a track already listed: the same recording
        meta = self.index.tracks.iloc[row]
        for column, key in (("artist", "artist_window"), ("album", "album_window")):
            value = meta.get(column)
            known = value is not None and value == value and str(value).strip()
            if known and str(value).casefold() in self._recent(column, int(self.settings[key])):
                return False
        return True

    def pick(self, target: np.ndarray) -> int | None:
        """The nearest allowed track to ``target``, or None when none is left within reach."""
        count = int(self.settings["candidates"])
        while True:
            rows, _ = self.index.search(target, min(count, len(self.index)))
            for row in rows:
                if self.allows(int(row)):
                    return int(row)
            if count >= len(self.index):
                return None
            count *= 4


def path_playlist(
    index: SimilarityIndex,
    seeds: Sequence[int],
    length: int | None = None,
    target: int | None = None,
    params: Mapping | None = None,
) -> list[dict]:
    """Rows of ``index`` making a playlist of ``length`` tracks, as track records with a ``position``.

    Without ``target``: the seeds first, then each step the allowed track nearest to a blend of the
    previous track and the seeds' centre (``seed_weight``). With ``target``: a gradual transition, each
    step the allowed track nearest to the point that far along the line from the first seed to the
    target, ending on the target."""
    settings = playlist_settings(params)
    length = int(length or settings["length"])
    if not seeds:
        raise SimilarityError("a playlist needs at least one seed track")
    if length < len(seeds) + (target is not None):
        raise SimilarityError(
            f"--length {length} is shorter than the seeds and target it must hold"
        )
    rules = _Rules(index, settings)
    vectors = rules.vectors
    for seed in seeds:
        if seed not in rules.used:
            rules.used.append(int(seed))
    centre = _unit(vectors[list(seeds)].mean(axis=0))
    start = vectors[seeds[0]]
    if target is not None:
        rules.reserved.add(int(target))
    weight = float(settings["seed_weight"])
    while len(rules.used) < length - (target is not None):
        if target is None:
            aim = _unit((1 - weight) * vectors[rules.used[-1]] + weight * centre)
        else:
            along = len(rules.used) / (length - 1)
            aim = _unit((1 - along) * start + along * vectors[target])
        row = rules.pick(aim)
        if row is None:  # the collection ran out of tracks the rules allow
            break
        rules.used.append(row)
    if target is not None and target not in rules.used:
        rules.used.append(int(target))
    return [{"position": i + 1, **track_record(index, row,
             float(1.0 - vectors[row] @ vectors[rules.used[i - 1]]) if i else 0.0)}
            for i, row in enumerate(rules.used)]  # fmt: skip


def cluster_playlists(index: SimilarityIndex, clusters: int, seed: int = 0) -> list[dict]:
    """k-means of the collection's unit vectors into ``clusters`` groups, each ``{"name", "genres",
    "tracks"}``: named by its dominant genres (those holding at least a quarter of it, else its most
    common one), tracks ordered from the centre out."""
    from sklearn.cluster import KMeans

    if clusters < 1 or clusters > len(index):
        raise SimilarityError(f"--clusters {clusters}: pick 1 to {len(index)} for this collection")
    vectors = index.vectors()
    model = KMeans(n_clusters=clusters, n_init=4, random_state=seed).fit(vectors)
    result = []
    for label in range(clusters):
        rows = np.flatnonzero(model.labels_ == label)
        order = rows[
            np.argsort(np.linalg.norm(vectors[rows] - model.cluster_centers_[label], axis=1))
        ]
        genres = Counter(g for g in index.tracks["genre"].iloc[order] if g is not None and g == g)
        total = sum(genres.values())
        dominant = [g for g, n in genres.most_common() if total and n / total >= 0.25][:3]
        dominant = dominant or [g for g, _ in genres.most_common(1)]
        result.append(
            {
                "name": " + ".join(map(str, dominant)) or f"cluster {label + 1}",
                "genres": {str(g): n for g, n in genres.most_common()},
                "tracks": [track_record(index, row) for row in order],
            }
        )
    result.sort(key=lambda c: -len(c["tracks"]))
    return result


def m3u8(tracks: Sequence[Mapping], title: str | None = None) -> str:
    """An extended M3U playlist (UTF-8): ``#EXTM3U``, then per track ``#EXTINF:-1,Artist - Title`` (the
    file's name when neither is known) and its path."""
    lines = ["#EXTM3U"]
    if title:
        lines.append(f"#PLAYLIST:{title}")
    for track in tracks:
        label = " - ".join(str(track[k]) for k in ("artist", "title") if track.get(k))
        path = str(track["path"])
        lines += [f"#EXTINF:-1,{label or path.replace(chr(92), '/').rsplit('/', 1)[-1]}", path]
    return "\n".join(lines) + "\n"


def playlist_file_name(number: int, name: str) -> str:
    """``03-rock-metal.m3u8``: a safe file name for a cluster's playlist."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "cluster"
    return f"{number:02d}-{slug}.m3u8"
