"""MSD_musicnn's own tag layer: a general-purpose tagger that answers for any song with no training.

musicnn was trained on the Million Song Dataset's 50 most common Last.fm tags (genres and styles such as
rock, electronic, jazz, Hip-Hop, metal, punk, House, ambient, folk, soul, country, but also decades, moods
and instruments). The layer is kept at conversion (:func:`~music_genre.features.embeddings.weights.
load_tag_layer`); a song's tags are musicnn's taggram averaged over its 3 s patches, each patch's tag
probability ``sigmoid(penultimate @ kernel + bias)``, as musicnn's ``top_tags`` computes them.

:data:`GENRE_TAGS` maps the tags that name a genre onto GTZAN's genres where one exists (the measure in
docs/benchmarks.md); the others (decades, moods, ``female vocalists``...) map to none.
"""

from __future__ import annotations

import os

import numpy as np

from music_genre.common.errors import ExpectedError

# MSD tags that name a genre -> GTZAN's genre (None where GTZAN has no such genre, e.g. electronic)
GENRE_TAGS = {
    "rock": "rock", "alternative rock": "rock", "classic rock": "rock", "indie rock": "rock",
    "hard rock": "rock", "Progressive rock": "rock", "pop": "pop", "indie pop": "pop",
    "jazz": "jazz", "metal": "metal", "heavy metal": "metal", "blues": "blues",
    "country": "country", "Hip-Hop": "hiphop", "soul": None, "rnb": None, "funk": None,
    "dance": "disco", "electronic": None, "electronica": None, "electro": None, "House": None,
    "punk": None, "folk": None, "ambient": None, "chillout": None, "alternative": None, "indie": None,
    "experimental": None, "easy listening": None,
}  # fmt: skip
DESCRIPTION = (
    "general-purpose tagger: MSD_musicnn's 50 Last.fm tags (genres, moods, decades, instruments), "
    "pretrained on the Million Song Dataset, not trained on your music"
)


class PretrainedTagger:
    """The network and its tag layer, loaded once. ``tag_file(path)`` -> the 50 tags' probabilities."""

    def __init__(self, weights: str | os.PathLike | None = None):
        from .backend import MusicnnBackend
        from .weights import load_tag_layer

        self.backend = MusicnnBackend(None if weights is None else str(weights), device="cpu")
        self.kernel, self.bias, self.tags = load_tag_layer(self.backend.weights_path)

    def tag_patches(self, penultimate: np.ndarray) -> np.ndarray:
        """(patches, 200) penultimate vectors -> (50,) tag probabilities averaged over the patches."""
        penultimate = np.asarray(penultimate, dtype=np.float32)
        if (
            penultimate.ndim != 2
            or penultimate.shape[1] != self.kernel.shape[0]
            or not len(penultimate)
        ):
            raise ExpectedError(
                f"expected (patches, {self.kernel.shape[0]}), got {penultimate.shape}"
            )
        logits = penultimate @ self.kernel + self.bias
        return (1.0 / (1.0 + np.exp(-logits))).mean(axis=0)

    def tag_signal(self, signal: np.ndarray) -> np.ndarray:
        """A 16 kHz mono signal's tag probabilities (at least one 3 s patch)."""
        (patches,) = self.backend.embed([np.asarray(signal, dtype=np.float32)])
        if not len(patches):
            raise ExpectedError("too short for musicnn: under one 3 s patch")
        return self.tag_patches(patches)

    def tag_file(self, path: str | os.PathLike) -> np.ndarray:
        """A file's tag probabilities (decoded as the embedding decodes it: mono, 16 kHz); the header is
        checked first, as the genre models' path checks it, so a bad file gets the same one-line reason."""
        from music_genre.data import audio

        audio.probe(path, min_duration=3.0)  # one 3 s patch at least
        return self.tag_signal(audio.load(path, sample_rate=self.backend.sample_rate))

    def top(self, probabilities: np.ndarray, count: int) -> list[tuple[str, float]]:
        order = np.argsort(-np.asarray(probabilities), kind="stable")[:count]
        return [(self.tags[i], float(probabilities[i])) for i in order]


def genre_answer(probabilities: np.ndarray, tags: list[str]) -> tuple[str | None, str | None]:
    """The most probable tag that names a GTZAN genre, and that genre; ``(None, None)`` when no tag
    with a GTZAN genre is among them (never here: every song gets some probability on each tag)."""
    mapped = [(p, t) for p, t in zip(probabilities, tags, strict=True) if GENRE_TAGS.get(t)]
    if not mapped:
        return None, None
    _, tag = max(mapped)
    return tag, GENRE_TAGS[tag]


def top_genre_tag(probabilities: np.ndarray, tags: list[str]) -> tuple[str | None, str | None]:
    """The most probable tag among those that name a genre at all, and its GTZAN genre (None where GTZAN
    has none: such a song is counted as not covered)."""
    genre_tags = [(p, t) for p, t in zip(probabilities, tags, strict=True) if t in GENRE_TAGS]
    if not genre_tags:
        return None, None
    _, tag = max(genre_tags)
    return tag, GENRE_TAGS[tag]
