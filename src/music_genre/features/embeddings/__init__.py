"""Pretrained audio embeddings as a feature family beside FMA's handcrafted columns.

A backend turns mono signals into one vector per patch; the extractor averages (and optionally takes the
spread of) the patches of a clip. The interface is deliberately small, so another pretrained model (say one
loaded with ``transformers`` on a machine that has it) is one class and one :func:`register_backend` call,
with no change to the pipelines::

    class MyBackend:                      # built once per worker process
        name = "my_model"; dim = 768; sample_rate = 16000; min_seconds = 1.0
        def embed(self, signals: list[np.ndarray]) -> list[np.ndarray]: ...   # (patches, dim) per signal

    register_backend("my_model", MyBackend, dim=768)

``msd_musicnn`` (MSD_musicnn's penultimate layer, 200 values a 3 s patch) is built in. Importing this
package costs numpy only; the network and its weights load on first use, once per process.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from music_genre.features.settings import (
    AUTO,
    EMBEDDING_DIMS,
    FEATURE_SETS,
    HANDCRAFTED,
)

from .weights import WeightsError, can_fetch, find_weights

if TYPE_CHECKING:
    import numpy as np

    from music_genre.features.settings import FeatureSettings

log = logging.getLogger(__name__)

# The set `auto` picks when the embedding can be used: the best measured on real clips (0.86 with logistic
# regression, 4-fold x 5 on 40 GTZAN clips; the embedding alone 0.835; docs/benchmarks.md).
AUTO_CHOICE = "handcrafted+embedding"


class EmbeddingBackend(Protocol):
    name: str
    dim: int
    sample_rate: int
    min_seconds: float

    def embed(self, signals: list[np.ndarray]) -> list[np.ndarray]:
        """Per signal (mono, at ``sample_rate``), its patch embeddings as a (patches, dim) array; a signal
        shorter than ``min_seconds`` gives zero patches."""
        ...


_FACTORIES: dict[str, Callable[..., EmbeddingBackend]] = {}


def register_backend(name: str, factory: Callable[..., EmbeddingBackend], dim: int) -> None:
    """Make ``feature_engineering.embedding.name: <name>`` available (``factory(weights=..., device=...)``)."""
    _FACTORIES[name] = factory
    EMBEDDING_DIMS[name] = int(dim)


def _musicnn_factory(weights: str | None = None, device: str = "auto") -> EmbeddingBackend:
    from .backend import MusicnnBackend

    return MusicnnBackend(weights=weights, device=device)


register_backend("msd_musicnn", _musicnn_factory, dim=200)


@functools.lru_cache(maxsize=4)
def load_backend(name: str, weights: str | None = None, device: str = "auto") -> EmbeddingBackend:
    """The backend, built once per process (weights read, network assembled): Ray workers, the CLI and the
    served model each pay it once, not per clip."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown embedding {name!r}; known: {', '.join(sorted(_FACTORIES))}")
    return _FACTORIES[name](weights=weights, device=device)


def resolve_feature_set(requested: str, weights_dir: str | None = None) -> str:
    """``auto`` -> the best set this install can compute: the embedding where its weights are converted or
    can be (numpy and pip are enough: no extra), else ``handcrafted`` with one warning. A named set is
    returned as it is (an embedding set whose weights cannot be made ready fails later, in one line)."""
    if requested != AUTO:
        if requested not in FEATURE_SETS:
            raise ValueError(
                f"unknown feature_set {requested!r}; known: {', '.join(FEATURE_SETS)}, auto"
            )
        return requested
    if embedding_available(weights_dir):
        return AUTO_CHOICE
    log.warning(
        "feature_set auto: handcrafted features; the embedding's weights are not converted and pip, "
        "which fetches them, is not installed (~+15 points on real music)"
    )
    return HANDCRAFTED


def auto_candidates(
    base: dict,
    candidates: dict | list,
    weights_dir: str | None = None,
    can_embed: bool | None = None,
    reason: str | None = None,
) -> tuple[FeatureSettings, dict[str, dict]]:
    """``feature_set: auto``: the candidate sets this install can compute (those with an embedding need
    its weights, converted or convertible: ``can_embed``, found out when None; without, handcrafted only,
    with one warning giving ``reason``), each as full settings, and the settings that extract all of them
    at once (the union of their columns)."""
    from music_genre.features.settings import BOTH, EMBEDDING, FeatureSettings

    if isinstance(candidates, list):  # [{name: ..., <settings>}, ...], as parameters give them
        candidates = {
            str(item["name"]): {k: v for k, v in item.items() if k != "name"} for item in candidates
        }
    if can_embed is None:
        can_embed = embedding_available(weights_dir)
    built = {}
    for name, overrides in (candidates or {HANDCRAFTED: {"feature_set": HANDCRAFTED}}).items():
        settings = FeatureSettings.from_dict({**base, **dict(overrides or {})})
        if settings.uses_embedding and not can_embed:
            continue
        built[name] = settings
    if not can_embed:
        log.warning(
            "feature_set auto: handcrafted features only (~15 points below the embedding on real "
            "music): %s",
            reason
            or "the embedding's weights are not converted and pip, which fetches them, is absent",
        )
    if not built:
        built = {HANDCRAFTED: FeatureSettings.from_dict({**base, "feature_set": HANDCRAFTED})}
    handcrafted = any(s.uses_handcrafted for s in built.values())
    embedded = [s for s in built.values() if s.uses_embedding]
    union = next(iter(built.values()))
    if embedded:
        stats = sorted({stat for s in embedded for stat in s.embedding_stats})
        layers = sorted({layer for s in embedded for layer in s.embedding_layers})
        union = FeatureSettings.from_dict(
            {**base, "feature_set": BOTH if handcrafted else EMBEDDING,
             "embedding_stats": stats, "embedding_layers": layers}
        )  # fmt: skip
    else:
        union = FeatureSettings.from_dict({**base, "feature_set": HANDCRAFTED})
    return union, {name: settings.to_dict() for name, settings in built.items()}


def embedding_available(weights_dir: str | None = None) -> bool:
    """Whether the embedding's weights are converted, or can be here (pip fetches musicnn's wheel; the
    conversion needs numpy only)."""
    return find_weights(weights_dir) is not None or can_fetch()


__all__ = [
    "AUTO_CHOICE",
    "EmbeddingBackend",
    "WeightsError",
    "auto_candidates",
    "embedding_available",
    "load_backend",
    "register_backend",
    "resolve_feature_set",
]
