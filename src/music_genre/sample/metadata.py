"""The sample's metadata: ``tracks.csv`` and ``genres.csv`` in FMA's formats, and the summary of both.

Why a module of its own: the metadata is drawn first, from its own seeded generator, and decides
everything the audio then follows (which tracks exist, their genres and genre mixes, their splits and
subsets, which ones carry a planted fault). Artists own albums of consecutive track ids, dates follow the
ids as uploads did on FMA, and the split is artist-filtered (about 80/10/10 per genre).

Multi-genre tracks (``multi_genre_share`` of the single-genre count) mix two genres' sounds and list both in
``genres`` / ``genres_all`` with an empty ``genre_top``, as on FMA: single-label runs exclude them, while a
multi-label classifier needs them to learn from and to be scored on, so they cycle through every pair of
genres and reach all three splits (about 70/15/15). Imports only :mod:`music_genre.data` (FMA's formats).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from music_genre.data import fma

from .faults import _choose_faults, _short_seconds

_MAX_TRACK_ID = 155_000  # real FMA ids run from 2 to about 155,000

# A few real FMA sub-genres (genre_id, parent, title, top_level), copied from FMA's genres.csv so the sample's
# genres / genres_all lists use real ids and real parent chains.
SUB_GENRES: tuple[tuple[int, int, str, int], ...] = (
    (1, 38, "Avant-Garde", 38),
    (11, 14, "Disco", 14),
    (18, 1235, "Soundtrack", 1235),
    (19, 14, "Funk", 14),
    (25, 12, "Punk", 12),
    (31, 12, "Metal", 12),
    (32, 38, "Noise", 38),
    (33, 17, "Psych-Folk", 17),
    (42, 15, "Ambient Electronic", 15),
    (46, 2, "Latin America", 2),
    (47, 38, "Drone", 38),
    (49, 17, "Free-Folk", 17),
    (58, 12, "Psych-Rock", 12),
    (63, 9, "Bluegrass", 9),
    (66, 12, "Indie-Rock", 12),
    (74, 4, "Free-Jazz", 4),
    (76, 10, "Experimental Pop", 10),
    (77, 2, "French", 2),
    (79, 2, "Reggae - Dub", 2),
    (100, 21, "Alternative Hip-Hop", 21),
    (103, 17, "Singer-Songwriter", 17),
    (107, 1235, "Ambient", 1235),
    (137, 9, "Americana", 9),
    (181, 15, "Techno", 15),
    (182, 15, "House", 15),
    (187, 5, "20th Century Classical", 5),
    (188, 20, "Poetry", 20),
    (236, 15, "IDM", 15),
    (250, 38, "Improv", 38),
    (267, 1235, "New Age", 1235),
    (286, 15, "Trip-Hop", 15),
    (311, 13, "Lounge", 13),
    (362, 10, "Synth Pop", 10),
    (378, 20, "Spoken Word", 20),
    (401, 181, "Bigbeat", 15),
    (442, 5, "Chamber Music", 5),
    (539, 21, "Rap", 21),
    (567, 3, "Gospel", 3),
    (811, 21, "Hip-Hop Beats", 21),
    (906, 4, "Modern Jazz", 4),
)

_GENRE_IDS = {title: genre_id for genre_id, title in fma.TOP_LEVEL_GENRES.items()}


_NAME_WORDS = (
    "Amber Arc Atlas Aurora Basalt Bloom Cedar Cinder Cobalt Comet Coral Crane Delta Drift Dune Ember "
    "Fable Fern Flint Fox Glacier Harbor Hollow Indigo Iris Ivory Juniper Kestrel Lantern Linen Lotus "
    "Lumen Maple Marrow Meadow Mercury Mesa Mirror Moss Nectar Nova Oak Onyx Orbit Orchid Paper Pebble "
    "Pilot Prism Quartz Raven Reef River Rust Saffron Salt Signal Silver Slate Solstice Sparrow Static "
    "Stone Tide Timber Velvet Vessel Violet Willow Winter Wren Zephyr"
).split()
_TITLE_WORDS = (
    "after all alone around at before between blue broken city cold dance dark dawn days dream "
    "electric empty end fading fire for glass gold heart hidden home in last light lost midnight "
    "moon morning night no of on one open paper rain red river road run shadow silent sky slow "
    "song summer sun the through time under waiting water waves where white wild wind without"
).split()
_PLACES = (
    ("Brooklyn, NY", 40.6782, -73.9442),
    ("Chicago, IL", 41.8781, -87.6298),
    ("Portland, OR", 45.5051, -122.675),
    ("Austin, TX", 30.2672, -97.7431),
    ("Montreal, Quebec", 45.5017, -73.5673),
    ("London, UK", 51.5074, -0.1278),
    ("Berlin, Germany", 52.52, 13.405),
    ("Paris, France", 48.8566, 2.3522),
    ("Mexico City", 19.4326, -99.1332),
    ("São Paulo, Brazil", -23.5505, -46.6333),
    ("Lagos, Nigeria", 6.5244, 3.3792),
    ("Tokyo, Japan", 35.6762, 139.6503),
    ("Melbourne, Australia", -37.8136, 144.9631),
    ("Istanbul, Turkey", 41.0082, 28.9784),
    ("Philadelphia, PA", 39.9526, -75.1652),
    ("Lisbon, Portugal", 38.7223, -9.1393),
)
_LICENSES = (
    "Attribution-NonCommercial-ShareAlike 3.0 International",
    "Attribution-Noncommercial-Share Alike 3.0 United States",
    "Attribution-NonCommercial-NoDerivatives (aka Music Sharing) 3.0 International",
    "Attribution 3.0 International",
    "Creative Commons Attribution-NonCommercial-NoDerivatives 4.0",
    "Attribution-ShareAlike 3.0 International",
)
_ALBUM_TYPES = ("Album", "Album", "Album", "Single Track", "Live Performance")
_FMA_START = pd.Timestamp("2008-11-26 01:40:00")
_FMA_END = pd.Timestamp("2017-03-30 12:00:00")


def _date_for_id(track_id: int, rng: np.random.Generator, days_before: float = 0.0) -> str:
    """FMA ids grow with upload time: map an id to a plausible upload date (text, like FMA)."""
    frac = min(max(track_id / _MAX_TRACK_ID, 0.0), 1.0)
    when = _FMA_START + (_FMA_END - _FMA_START) * frac
    when -= pd.Timedelta(days=days_before, seconds=int(rng.integers(0, 86_400)))
    when = max(when, _FMA_START)
    return when.strftime("%Y-%m-%d %H:%M:%S")


def _words(rng: np.random.Generator, pool, low: int, high: int) -> str:
    count = int(rng.integers(low, high + 1))
    return " ".join(pool[int(i)] for i in rng.choice(len(pool), size=count, replace=False))


def _partition(count: int, rng: np.random.Generator) -> list[int]:
    """Split ``count`` tracks into artists of 2-5 tracks each (one artist when fewer than 2)."""
    sizes, left = [], count
    while left > 0:
        if left <= 5:
            sizes.append(left)
            break
        size = int(rng.integers(2, min(5, left - 2) + 1))
        sizes.append(size)
        left -= size
    return sizes


def _split_counts(n: int, genre_index: int) -> dict[str, int]:
    """Per-genre split sizes, about 80/10/10; each non-empty evaluation split holds at least 2 tracks."""
    if n >= 10:
        held = max(2, int(0.1 * n + 0.5))
        return {"training": n - 2 * held, "validation": held, "test": held}
    if n >= 4:  # too few for both: alternate validation and test between genres
        held_split = "validation" if genre_index % 2 == 0 else "test"
        counts = {"training": n - 2, "validation": 0, "test": 0}
        counts[held_split] = 2
        return counts
    return {"training": n, "validation": 0, "test": 0}


def _multi_genre_split_counts(count: int) -> dict[str, int]:
    """Multi-genre tracks per split, about 70/15/15; from 3 on, validation and test get at least one each.

    A multi-label model tunes its thresholds on validation and is scored on test, so both need some.
    """
    held = max(1, int(0.15 * count + 0.5)) if count >= 3 else 0
    return {"training": count - 2 * held, "validation": held, "test": held}


def _allocate(split_sizes: dict[str, int], total: int, available: dict[str, int]) -> dict[str, int]:
    """Spread ``total`` picks over splits in proportion to their sizes, the remainder going to training."""
    n = sum(split_sizes.values())
    out = {}
    for split in ("validation", "test"):
        share = int(split_sizes[split] * total / n + 0.5) if n else 0
        out[split] = min(share, available[split])
    out["training"] = min(total - out["validation"] - out["test"], available["training"])
    return out


def _build_metadata(params: dict):
    """The tracks table (FMA columns), the planted faults by kind, and each track's genre mix for audio."""
    rng = np.random.default_rng([params["seed"], 1])
    genres = params["genres"]
    n = params["tracks_per_genre"]
    subs_of = {}
    for genre_id, _parent, _title, top in SUB_GENRES:
        subs_of.setdefault(top, []).append(genre_id)
    used_ids: set[int] = set()
    used_artists: set[int] = set()
    used_albums: set[int] = set()

    def unique_id(used: set[int], high: int) -> int:
        while True:
            value = int(rng.integers(1, high))
            if value not in used:
                used.add(value)
                return value

    rows: dict[int, dict] = {}
    mixes: dict[int, tuple[str, ...]] = {}
    name_used: set[str] = set()

    def new_ids(count: int) -> list[int]:
        while True:  # an album's tracks get consecutive ids (small gaps), like uploads on FMA
            base = int(rng.integers(2, _MAX_TRACK_ID - 3 * count))
            ids = (base + np.cumsum(rng.integers(1, 3, size=count)) - 1).tolist()
            if not used_ids.intersection(ids):
                used_ids.update(ids)
                return [int(i) for i in ids]

    def artist_name() -> str:
        while True:
            style = rng.integers(0, 4)
            words = _words(rng, _NAME_WORDS, 1, 2)
            name = {0: f"The {words}s", 1: words, 2: f"DJ {words}", 3: f"{words} Collective"}[
                int(style)
            ]
            if name not in name_used:
                name_used.add(name)
                return name

    def add_artist(count: int, split: str, genre_lists, genre_top, mix) -> list[int]:
        artist_id = unique_id(used_artists, 24_000)
        album_id = unique_id(used_albums, 22_000)
        ids = new_ids(count)
        place, lat, lon = _PLACES[int(rng.integers(len(_PLACES)))]
        name = artist_name()
        has_location = rng.random() < 0.7
        album_date = _date_for_id(ids[0], rng, days_before=float(rng.uniform(0, 2)))
        begin = int(rng.integers(1990, 2016))
        artist = {
            ("artist", "active_year_begin"): f"{begin}-01-01 00:00:00"
            if rng.random() < 0.3
            else None,
            ("artist", "active_year_end"): None,
            ("artist", "associated_labels"): None,
            ("artist", "bio"): f"<p>{name} make music in {place}.</p>"
            if rng.random() < 0.6
            else None,
            ("artist", "comments"): int(rng.poisson(0.5)),
            ("artist", "date_created"): _date_for_id(
                ids[0], rng, days_before=float(rng.uniform(2, 200))
            ),
            ("artist", "favorites"): int(rng.poisson(5)),
            ("artist", "id"): artist_id,
            ("artist", "latitude"): lat if has_location else np.nan,
            ("artist", "location"): place if has_location else None,
            ("artist", "longitude"): lon if has_location else np.nan,
            ("artist", "members"): None,
            ("artist", "name"): name,
            ("artist", "related_projects"): None,
            ("artist", "tags"): [name.lower()] if rng.random() < 0.5 else [],
            ("artist", "website"): (
                f"http://www.{name.lower().replace(' ', '')}.com" if rng.random() < 0.5 else None
            ),
            ("artist", "wikipedia_page"): None,
        }
        album = {
            ("album", "comments"): int(rng.poisson(0.3)),
            ("album", "date_created"): album_date,
            ("album", "date_released"): album_date[:10] + " 00:00:00"
            if rng.random() < 0.7
            else None,
            ("album", "engineer"): None,
            ("album", "favorites"): int(rng.poisson(1.5)),
            ("album", "id"): album_id,
            ("album", "information"): "<p></p>" if rng.random() < 0.5 else None,
            ("album", "listens"): int(rng.lognormal(8, 1.2)),
            ("album", "producer"): None,
            ("album", "tags"): [],
            ("album", "title"): _words(rng, _TITLE_WORDS, 1, 3).title(),
            ("album", "tracks"): count + int(rng.integers(0, 9)),
            ("album", "type"): _ALBUM_TYPES[int(rng.integers(len(_ALBUM_TYPES)))],
        }
        license_ = _LICENSES[int(rng.integers(len(_LICENSES)))]
        for number, (track_id, genre_list) in enumerate(
            zip(ids, genre_lists, strict=True), start=1
        ):
            genres_all = _genres_all(genre_list)
            rows[track_id] = {
                **album,
                **artist,
                ("set", "split"): split,
                ("set", "subset"): None,
                ("track", "bit_rate"): params["bit_rate_kbps"] * 1000,
                ("track", "comments"): int(rng.poisson(0.2)),
                ("track", "composer"): None,
                ("track", "date_created"): _date_for_id(track_id, rng),
                ("track", "date_recorded"): (
                    album_date[:10] + " 00:00:00" if rng.random() < 0.1 else None
                ),
                ("track", "duration"): int(
                    max(params["clip_seconds"] + 5, rng.lognormal(np.log(230), 0.35))
                ),
                ("track", "favorites"): int(rng.poisson(2)),
                ("track", "genre_top"): genre_top,
                ("track", "genres"): genre_list,
                ("track", "genres_all"): genres_all,
                ("track", "information"): None,
                ("track", "interest"): int(rng.lognormal(7.5, 1.0)),
                ("track", "language_code"): "en" if rng.random() < 0.3 else None,
                ("track", "license"): license_,
                ("track", "listens"): int(rng.lognormal(7, 1.1)),
                ("track", "lyricist"): None,
                ("track", "number"): number,
                ("track", "publisher"): None,
                ("track", "tags"): [],
                ("track", "title"): _words(rng, _TITLE_WORDS, 1, 4).capitalize(),
            }
            mixes[track_id] = mix
        return ids

    def genre_list_for(genre_id: int) -> list[int]:
        subs = subs_of.get(genre_id, [])
        roll = rng.random()
        if not subs or roll < 0.4:
            return [genre_id]
        if roll < 0.8 or len(subs) < 2:
            return [int(rng.choice(subs))]
        return sorted(int(g) for g in rng.choice(subs, size=2, replace=False))

    subset_of: dict[int, str] = {}
    for index, genre in enumerate(genres):
        genre_id = _GENRE_IDS[genre]
        split_sizes = _split_counts(n, index)
        by_split: dict[str, list[int]] = {}
        for split in fma.SPLITS:
            by_split[split] = []
            for size in _partition(split_sizes[split], rng):
                lists = [genre_list_for(genre_id) for _ in range(size)]
                by_split[split] += add_artist(size, split, lists, genre, (genre,))
        # Subsets: about half small, a quarter medium, the rest large, the same counts in every genre.
        left = {split: list(rng.permutation(ids)) for split, ids in by_split.items()}
        for subset, total in (("small", max(1, n // 2)), ("medium", n // 4)):
            picks = _allocate(split_sizes, total, {s: len(v) for s, v in left.items()})
            for split, count in picks.items():
                for track_id in left[split][:count]:
                    subset_of[int(track_id)] = subset
                left[split] = left[split][count:]
        for ids in left.values():
            for track_id in ids:
                subset_of[int(track_id)] = "large"

    # Multi-genre tracks (several top-level genres, empty genre_top): their audio mixes the two genres and
    # genres / genres_all list both; in the large subset only, like FMA. The first len(genres) // 2 are the
    # format-1 sample's (training, adjacent genres paired), drawn before the faults as they were then, so
    # that the single-genre tracks and the planted faults stay those of format 1 and single-label runs do
    # not change. The rest cycle through every pair of genres in a seeded order (so each genre shows up in
    # several pairs), spread about 70/15/15 over the splits, in small one-artist albums.
    n_multi = round(params["multi_genre_share"] * n * len(genres)) if len(genres) >= 2 else 0
    per_split = _multi_genre_split_counts(n_multi)
    n_first = min(len(genres) // 2, per_split["training"])
    per_split["training"] -= n_first

    def add_mixed(pairs: list[tuple[str, str]], split: str) -> None:
        """Multi-genre tracks of ``split``, one per pair, in albums of one artist each."""
        for size in _partition(len(pairs), rng):
            chunk, pairs = pairs[:size], pairs[size:]
            lists = [
                sorted({genre_list_for(_GENRE_IDS[a])[0], genre_list_for(_GENRE_IDS[b])[0]})
                for a, b in chunk
            ]
            for track_id, pair in zip(
                add_artist(size, split, lists, None, None), chunk, strict=True
            ):
                subset_of[track_id] = "large"
                mixes[track_id] = tuple(pair)

    add_mixed([(genres[2 * i], genres[2 * i + 1]) for i in range(n_first)], "training")

    faults: dict[str, list[int]] = {}
    if params["plant_faults"]:
        candidates = {
            track_id: row[("track", "genre_top")]
            for track_id, row in rows.items()
            if subset_of[track_id] == "small" and row[("set", "split")] == "training"
        }
        faults = _choose_faults(candidates, genres, rng)

    all_pairs = list(combinations(genres, 2))
    pair_order = [all_pairs[int(i)] for i in rng.permutation(len(all_pairs))]
    n_rest = sum(per_split.values())
    pairs = [pair_order[k % len(pair_order)] for k in range(n_rest)] if pair_order else []
    for split, count in per_split.items():
        chosen_pairs, pairs = pairs[:count], pairs[count:]
        add_mixed(chosen_pairs, split)

    tracks = pd.DataFrame.from_dict(rows, orient="index")
    tracks.columns = pd.MultiIndex.from_tuples(tracks.columns)
    tracks = tracks.sort_index()
    tracks[("set", "subset")] = [subset_of[int(i)] for i in tracks.index]
    tracks = tracks.reindex(columns=pd.MultiIndex.from_tuples(fma.TRACKS_COLUMNS))
    tracks.index.name = "track_id"
    return tracks, faults, mixes


def _ancestors(genre_id: int) -> list[int]:
    parents = {g: p for g, p, _t, _top in SUB_GENRES}
    chain = [genre_id]
    while parents.get(chain[-1], 0):
        chain.append(parents[chain[-1]])
    return chain


def _genres_all(genre_list: list[int]) -> list[int]:
    return sorted({a for g in genre_list for a in _ancestors(g)})


def _genres_table(tracks: pd.DataFrame, genres: list[str]) -> pd.DataFrame:
    """genres.csv: all 16 top-level genres plus the sub-genre table, ``#tracks`` counted over genres_all."""
    counts: dict[int, int] = {}
    for genre_list in tracks[("track", "genres_all")]:
        for g in genre_list:
            counts[g] = counts.get(g, 0) + 1
    rows = [(gid, 0, title, gid) for gid, title in fma.TOP_LEVEL_GENRES.items()]
    rows += [(gid, parent, title, top) for gid, parent, title, top in SUB_GENRES]
    table = pd.DataFrame(rows, columns=["genre_id", "parent", "title", "top_level"])
    table["#tracks"] = table["genre_id"].map(lambda g: counts.get(g, 0)).astype(int)
    return table.sort_values("genre_id").reset_index(drop=True)[fma.GENRES_COLUMNS]


def _summary(tracks: pd.DataFrame, faults: dict, files: dict, mixes: dict, params: dict) -> dict:
    top = tracks[("track", "genre_top")]
    return {
        "tracks": int(len(tracks)),
        "audio_files": int(len(files)),
        "genre_top": {g: int((top == g).sum()) for g in params["genres"]},
        "no_genre_top": [int(i) for i in tracks.index[top.isna()]],
        # track id -> the two genres its audio mixes (JSON keys are text)
        "multi_genre": {
            str(int(i)): list(mixes[i]) for i in tracks.index if len(mixes.get(i, ())) > 1
        },
        "subsets": {s: int((tracks[("set", "subset")] == s).sum()) for s in fma.SUBSETS},
        "splits": {s: int((tracks[("set", "split")] == s).sum()) for s in fma.SPLITS},
        "faults": {kind: [int(i) for i in ids] for kind, ids in faults.items()},
        "short_clip_seconds": _short_seconds(params["clip_seconds"]) if faults else None,
    }
