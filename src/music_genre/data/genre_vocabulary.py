"""A library's own genres, from the genre tags its files carry.

Spellings are merged by a key (case, spaces, punctuation and "&"/"and" ignored: "Hip-Hop", "hip hop",
"HIPHOP" are one genre). A genre carried by at least ``min_files`` files is a class. A rarer one rolls up
FMA's genre tree (163 genres with their parents, shipped as ``fma_genres.csv``; a small synonyms table
adds the usual names FMA's tree lacks, such as "Heavy Metal" or "R&B") to its nearest ancestor that is a
class: "Death-Metal" -> "Metal", "Rap" -> "Hip-Hop", "Opera" -> "Classical". Where no ancestor is a class
yet, the rare tags that share a top-level genre make it one together when they reach ``min_files``. A
user's mapping (raw tag -> genre, or -> ignore) wins over all of it.

:func:`build_vocabulary` says, for every raw tag, how many files carry it and what it became;
:func:`resolve_genres` gives each file its classes in the order its tags name them.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

VOCABULARY_COLUMNS = ["raw_tag", "key", "files", "became", "how"]
# how a raw tag ended: a class of its own, rolled up the tree, mapped by the user, ignored by the user,
# too rare with no ancestor that is a class, or a spelling nothing knows and too rare to be a class
CLASS, ROLLUP, MAPPED, IGNORED, RARE = "class", "rollup", "mapped", "ignored", "rare"
NOT_MUSIC = "not_music"  # spoken word, sound effects: never a class; such files are never tagged
# FMA's genres (by key) that are not music: its Spoken tree (Musical Theater aside) and Sound Effects.
NOT_MUSIC_KEYS = frozenset(
    {"spoken", "comedy", "radio", "spokenweird", "poetry", "banter", "spokenword", "radiotheater",
     "talkradio", "interview", "soundpoetry", "radioart", "soundeffects"}
)  # fmt: skip
IGNORE = "ignore"

# Usual genre names that FMA's tree has no node for (or spells otherwise), by key -> FMA title.
SYNONYMS = {
    "heavymetal": "Metal",
    "hardrock": "Rock",
    "classicrock": "Rock",
    "alternative": "Rock",
    "alternativerock": "Rock",
    "altrock": "Rock",
    "grunge": "Rock",
    "indie": "Indie-Rock",
    "punkrock": "Punk",
    "rnb": "Soul-RnB",
    "randb": "Soul-RnB",
    "rhythmandblues": "Soul-RnB",
    "soul": "Soul-RnB",
    "electronica": "Electronic",
    "edm": "Electronic",
    "electro": "Electronic",
    "dnb": "Drum & Bass",
    "drumnbass": "Drum & Bass",
    "trap": "Hip-Hop",
    "hiphoprap": "Hip-Hop",
    "reggae": "Reggae - Dub",
    "dancehall": "Reggae - Dancehall",
    "dub": "Reggae - Dub",
    "swing": "Big Band/Swing",
    "bigband": "Big Band/Swing",
    "soundtracks": "Soundtrack",
    "score": "Soundtrack",
    "filmscore": "Soundtrack",
    "classic": "Classical",
    "baroque": "Classical",
    "orchestral": "Classical",
    "symphonic": "Symphony",
    "audiobook": "Spoken",
    "podcast": "Spoken",
    "speech": "Spoken",
    "spokenword": "Spoken Word",
    "country and western": "Country & Western",
    "bluesrock": "Blues",
    "smoothjazz": "Jazz",
    "fusion": "Jazz",
    "housemusic": "House",
    "deephouse": "House",
    "trance": "Electronic",
    "synthpop": "Synth Pop",
    "christmasmusic": "Christmas",
}
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def genre_key(tag: str) -> str:
    """The spelling-free key of a genre tag: lower case, "&" read as "and", every space and punctuation
    mark dropped ("Hip-Hop", "hip hop", "HIPHOP" -> ``hiphop``; "R&B", "R and B" -> ``randb``)."""
    text = str(tag).lower().replace("&", " and ").replace("'n'", " and ").replace(" n ", " and ")
    return _NON_ALNUM.sub("", text)


@dataclass(frozen=True)
class GenreTree:
    """FMA's genre tree by key: each genre's display title and its parent's key (None at the top)."""

    titles: dict[str, str]
    parents: dict[str, str | None]

    def ancestors(self, key: str) -> list[str]:
        """``key``'s parent, grandparent, ... up to its top-level genre (empty for a top-level one)."""
        chain, seen = [], {key}
        parent = self.parents.get(key)
        while parent and parent not in seen:
            chain.append(parent)
            seen.add(parent)
            parent = self.parents.get(parent)
        return chain

    def node_for(self, key: str) -> str | None:
        """The tree's key for a genre key: itself, or its synonym's node, else None."""
        if key in self.titles:
            return key
        synonym = SYNONYMS.get(key)
        return genre_key(synonym) if synonym and genre_key(synonym) in self.titles else None


def _not_music(key: str, tree: GenreTree | None) -> bool:
    node = tree.node_for(key) if tree else key
    return node in NOT_MUSIC_KEYS if node else key in NOT_MUSIC_KEYS


def load_genre_tree(genres_csv: str | os.PathLike | None = None) -> GenreTree:
    """FMA's tree from a genres.csv (``genre_id``, ``parent``, ``title``; FMA's own file has more columns),
    by default the copy shipped in this package."""
    if genres_csv is None:
        text = resources.files("music_genre.data").joinpath("fma_genres.csv").read_text("utf-8")
    else:
        text = Path(genres_csv).read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    by_id = {row["genre_id"]: row for row in rows}
    titles, parents = {}, {}
    for row in rows:
        key = genre_key(row["title"])
        titles[key] = row["title"]
        parent = by_id.get(row["parent"])
        parents[key] = genre_key(parent["title"]) if parent else None
    return GenreTree(titles, parents)


def load_mapping(path: str | os.PathLike | None) -> dict[str, str | None]:
    """A user's mapping file (YAML ``raw tag: genre`` or ``raw tag: ignore``), by key -> genre, or None
    for a tag to ignore. No file: no mapping.

    Raises:
        ValueError: the file is not a mapping of tags to genre names.
    """
    if not path:
        return {}
    import yaml

    loaded = yaml.safe_load(Path(path).read_text("utf-8")) or {}
    if not isinstance(loaded, Mapping):
        raise ValueError(
            f"{path}: a genre mapping is `raw tag: genre` (or `raw tag: ignore`) lines"
        )
    mapping = {}
    for raw, genre in loaded.items():
        ignored = genre is None or str(genre).strip().lower() == IGNORE
        mapping[genre_key(str(raw))] = None if ignored else str(genre).strip()
    return mapping


@dataclass
class Vocabulary:
    """What every raw tag became: ``table`` (one row per raw spelling, the columns of
    ``VOCABULARY_COLUMNS``), the classes, and key -> class (None: no usable genre)."""

    classes: list[str]
    resolved: dict[str, str | None]
    table: list[dict] = field(default_factory=list)
    tree: GenreTree | None = None

    def is_not_music(self, tags: Sequence[str]) -> bool:
        """Whether a file's tags say it is not music (spoken word, a podcast, sound effects), and
        none of them names a class."""
        return not self.genres_of(tags) and any(_not_music(genre_key(t), self.tree) for t in tags)

    def genres_of(self, tags: Sequence[str]) -> list[str]:
        """A file's classes in the order its tags name them, each once."""
        out: list[str] = []
        for tag in tags:
            genre = self.resolved.get(genre_key(tag))
            if genre and genre not in out:
                out.append(genre)
        return out


def build_vocabulary(
    files_tags: Iterable[Sequence[str]],
    min_files: int,
    mapping: Mapping[str, str | None] | None = None,
    tree: GenreTree | None = None,
) -> Vocabulary:
    """The library's genres from every file's raw genre tags.

    Args:
        files_tags: per file, its raw genre values (as :func:`music_genre.data.tag_io.split_genres` gives).
        min_files: how many files a genre needs to be a class of its own.
        mapping: key -> genre (the user's, wins), or key -> None (ignore the tag).
        tree: FMA's genre tree (default: the shipped one).

    Returns:
        The vocabulary.
    """
    if int(min_files) < 1:
        raise ValueError(f"min_files must be at least 1, got {min_files}")
    tree = tree or load_genre_tree()
    mapping = {genre_key(raw): genre for raw, genre in (mapping or {}).items()}
    spellings: Counter[str] = Counter()  # raw spelling -> files
    key_files: Counter[str] = Counter()  # key (after the user's mapping) -> files
    spelled: dict[str, Counter[str]] = {}  # key -> its spellings, for a display name
    for tags in files_tags:
        keys_here = set()
        for raw in dict.fromkeys(tags):
            spellings[raw] += 1
            key = genre_key(raw)
            if not key:
                continue
            if key in mapping:
                if mapping[key] is None:
                    continue
                target = mapping[key]
                key = genre_key(target)
                spelled.setdefault(key, Counter())[target] += 1  # the user's spelling names it
            else:
                if key not in tree.titles and key in SYNONYMS:  # "Heavy Metal" is Metal's spelling
                    key = tree.node_for(key) or key
                spelled.setdefault(key, Counter())[raw] += 1
            keys_here.add(key)
        key_files.update(keys_here)

    def title(key: str) -> str:
        names = spelled.get(key)
        # FMA's spelling, unless only synonyms brought the files ("Reggae" stays "Reggae", not "Reggae - Dub")
        if key in tree.titles and (not names or any(genre_key(n) == key for n in names)):
            return tree.titles[key]
        if names:  # most files first, then the first in alphabetical order
            return sorted(names.items(), key=lambda item: (-item[1], item[0]))[0][0]
        return key

    user_genres = {genre_key(g) for g in mapping.values() if g}
    not_music = {key for key in key_files if _not_music(key, tree) and key not in user_genres}
    for key in not_music:
        del key_files[key]
    classes = {key for key, n in key_files.items() if n >= int(min_files) or key in user_genres}
    node_of = {key: tree.node_for(key) for key in key_files}
    class_at_node = {node_of[key]: key for key in sorted(classes) if node_of[key]}

    def nearest_class(key: str) -> str | None:
        node = node_of.get(key)
        if node is None:
            return None
        for candidate in [node, *tree.ancestors(node)]:
            if candidate in class_at_node and class_at_node[candidate] != key:
                return class_at_node[candidate]
        return None

    # rare tags with no class above them: the deepest ancestor their files reach min_files under together
    # becomes a class ("Death-Metal" 2 + "Black-Metal" 3 files make "Metal" at min_files 5)
    waiting = {
        k: n
        for k, n in key_files.items()
        if k not in classes and node_of[k] and not nearest_class(k)
    }
    while waiting:
        pooled: Counter[str] = Counter()
        for key, n in waiting.items():
            for node in [node_of[key], *tree.ancestors(node_of[key])]:
                pooled[node] += n
        ready = [n_ for n_, n in pooled.items() if n >= int(min_files) and n_ not in NOT_MUSIC_KEYS]
        if not ready:
            break
        deepest = max(ready, key=lambda node: (len(tree.ancestors(node)), node))
        classes.add(deepest)
        class_at_node[deepest] = deepest
        waiting = {k: n for k, n in waiting.items() if not nearest_class(k)}
    resolved: dict[str, str | None] = {}
    how: dict[str, str] = {}
    for key in key_files:
        if key in classes:
            resolved[key], how[key] = title(key), CLASS
        else:
            target = nearest_class(key)
            resolved[key] = title(target) if target else None
            how[key] = ROLLUP if target else RARE
    table = []
    for raw, n in sorted(spellings.items(), key=lambda item: (-item[1], item[0])):
        key = genre_key(raw)
        if key in mapping:
            became = mapping[key]
            rule = IGNORED if became is None else MAPPED
            if became is not None:
                became = resolved.get(genre_key(became), became)
        else:
            key = tree.node_for(key) if key not in tree.titles and key in SYNONYMS else key
            became, rule = resolved.get(key), how.get(key, RARE)
            if key in not_music:
                rule = NOT_MUSIC
        table.append({"raw_tag": raw, "key": key, "files": int(n), "became": became, "how": rule})
    for key in SYNONYMS:  # a synonym resolves like its node
        node = tree.node_for(key)
        if node in resolved and key not in key_files and key not in mapping:
            resolved[key] = resolved[node]
    for key, became in mapping.items():  # every spelling of a mapped tag resolves like the tag
        resolved[key] = None if became is None else resolved.get(genre_key(became), became)
    return Vocabulary(sorted({title(k) for k in classes}), resolved, table, tree)
