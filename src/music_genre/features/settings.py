"""What the extractor computes, as one frozen value built from plain parameters.

Pure Python on purpose (no numpy): Kedro builds it from ``parameters.yml`` and the CLI builds it for
``--help`` without paying for the numerical stack.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

# FMA's eleven families, in features.csv's (sorted) column order.
FMA_FAMILIES: tuple[str, ...] = (
    "chroma_cens",
    "chroma_cqt",
    "chroma_stft",
    "mfcc",
    "rmse",
    "spectral_bandwidth",
    "spectral_centroid",
    "spectral_contrast",
    "spectral_rolloff",
    "tonnetz",
    "zcr",
)
TEMPO = "tempo"
FAMILIES: tuple[str, ...] = (*FMA_FAMILIES, TEMPO)
# FMA's seven statistics over the frames, in features.csv's (sorted) order.
STATISTICS: tuple[str, ...] = ("kurtosis", "max", "mean", "median", "min", "skew", "std")

# Families that need the constant-Q transform (computed once, shared by all three).
CQT_FAMILIES = frozenset({"chroma_cens", "chroma_cqt", "tonnetz"})

# Named feature sets: FMA's handcrafted columns, a pretrained network's embedding, or both side by side.
HANDCRAFTED = "handcrafted"
EMBEDDING = "embedding"
BOTH = "handcrafted+embedding"
AUTO = "auto"
FEATURE_SETS: tuple[str, ...] = (HANDCRAFTED, EMBEDDING, BOTH)
EMBEDDING_STATISTICS: tuple[str, ...] = ("mean", "std")  # over a clip's 3 s patches
# Which layer of the network a column comes from: the penultimate (dense) layer, the backend's embedding,
# or the mid-end's pooled channels under it (musicnn's 753 'mean_pool' channels, one network pass for both).
PENULTIMATE = "penultimate"
EMBEDDING_LAYERS: tuple[str, ...] = (PENULTIMATE, "midend")

# Pretrained backends by name: what the column names need, known without importing any numerics.
# (music_genre.features.embeddings registers the code that computes them.)
EMBEDDING_DIMS: dict[str, int] = {"msd_musicnn": 200}
# Layers other than the penultimate one, per backend (a backend without any offers the penultimate only).
EMBEDDING_LAYER_DIMS: dict[str, dict[str, int]] = {"msd_musicnn": {"midend": 753}}

# Bump when a change in the code changes feature values: it is part of the digest, so feature caches
# written by older code are never served as if they were current.
ALGORITHM_VERSION = 1


@dataclass(frozen=True)
class FeatureSettings:
    """Settings of the feature extractor; every field is a plain value (YAML/JSON friendly).

    ``sample_rate`` None keeps each file's native rate (what FMA's ``features.py`` did); ``offset`` and
    ``duration`` (seconds) pick a window of the file at decode time. ``tuning`` is in fractions of a CQT
    bin: 0.0 (A440) is fixed and free; None estimates it per clip as FMA did (librosa.estimate_tuning on
    the shared STFT: ~+45 ms per 30 s clip, plus a CQT kernel build, cached, per new tuning value).
    ``contrast_fmin`` and ``rolloff_percent`` are librosa's (and FMA's) 200 Hz and 0.85.
    """

    sample_rate: int | None = 22050
    offset: float = 0.0
    duration: float | None = None
    n_fft: int = 2048
    hop_length: int = 512
    families: tuple[str, ...] = FAMILIES
    n_mfcc: int = 20
    n_mels: int = 128
    n_chroma: int = 12
    cqt_bins_per_octave: int = 12
    cqt_octaves: int = 7
    contrast_bands: int = 6
    contrast_fmin: float = 200.0
    rolloff_percent: float = 0.85
    tuning: float | None = 0.0
    feature_set: str = HANDCRAFTED
    embedding: str = "msd_musicnn"
    embedding_stats: tuple[str, ...] = ("mean",)
    embedding_layers: tuple[str, ...] = (PENULTIMATE,)
    embedding_weights: str | None = None  # where the converted weights are; not part of the digest

    def __post_init__(self) -> None:
        # Frozen: normalise in place, once, so that equal settings compare (and hash) equal.
        set_ = object.__setattr__
        set_(
            self,
            "sample_rate",
            None if self.sample_rate is None else _positive_int("sample_rate", self.sample_rate),
        )
        set_(self, "offset", float(self.offset))
        set_(self, "duration", None if self.duration is None else float(self.duration))
        set_(self, "tuning", None if self.tuning is None else float(self.tuning))
        set_(self, "contrast_fmin", float(self.contrast_fmin))
        set_(self, "rolloff_percent", float(self.rolloff_percent))
        for name in (
            "n_fft",
            "hop_length",
            "n_mfcc",
            "n_mels",
            "n_chroma",
            "cqt_bins_per_octave",
            "cqt_octaves",
            "contrast_bands",
        ):
            set_(self, name, _positive_int(name, getattr(self, name)))
        set_(self, "families", _canonical_families(self.families))
        if self.feature_set == AUTO:
            raise ValueError(
                "feature_set 'auto' is resolved by the feature_engineering pipeline "
                "(music_genre.features.embeddings.resolve_feature_set) before settings are built"
            )
        if self.feature_set not in FEATURE_SETS:
            raise ValueError(
                f"unknown feature_set {self.feature_set!r}; known: {', '.join(FEATURE_SETS)}, auto"
            )
        if self.embedding not in EMBEDDING_DIMS:
            raise ValueError(
                f"unknown embedding {self.embedding!r}; known: {', '.join(EMBEDDING_DIMS)}"
            )
        stats = (
            [self.embedding_stats]
            if isinstance(self.embedding_stats, str)
            else self.embedding_stats
        )
        unknown_stats = sorted(set(stats) - set(EMBEDDING_STATISTICS))
        if unknown_stats or not stats:
            raise ValueError(
                f"embedding_stats must name some of {', '.join(EMBEDDING_STATISTICS)}, got {list(stats)}"
            )
        set_(self, "embedding_stats", tuple(s for s in EMBEDDING_STATISTICS if s in set(stats)))
        layers = (
            [self.embedding_layers]
            if isinstance(self.embedding_layers, str)
            else list(self.embedding_layers)
        )
        offered = (PENULTIMATE, *EMBEDDING_LAYER_DIMS.get(self.embedding, {}))
        unknown_layers = sorted(set(layers) - set(offered))
        if unknown_layers or not layers:
            raise ValueError(
                f"embedding_layers must name some of {', '.join(offered)} for {self.embedding}, "
                f"got {layers}"
            )
        set_(self, "embedding_layers", tuple(name for name in EMBEDDING_LAYERS if name in layers))
        if self.embedding_weights is not None:
            set_(self, "embedding_weights", str(self.embedding_weights))
        if self.offset < 0:
            raise ValueError(f"offset must be >= 0 seconds, got {self.offset}")
        if self.duration is not None and self.duration <= 0:
            raise ValueError(f"duration must be > 0 seconds or None, got {self.duration}")
        if self.hop_length > self.n_fft:
            raise ValueError(f"hop_length ({self.hop_length}) must not exceed n_fft ({self.n_fft})")
        if self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc ({self.n_mfcc}) must not exceed n_mels ({self.n_mels})")
        if self.cqt_bins_per_octave % self.n_chroma:
            raise ValueError(
                f"cqt_bins_per_octave ({self.cqt_bins_per_octave}) must be a multiple of n_chroma "
                f"({self.n_chroma}) to fold the CQT into chroma"
            )
        if not 0.0 < self.rolloff_percent < 1.0:
            raise ValueError(f"rolloff_percent must lie in (0, 1), got {self.rolloff_percent}")
        if self.contrast_fmin <= 0:
            raise ValueError(f"contrast_fmin must be > 0 Hz, got {self.contrast_fmin}")
        if self.tuning is not None and not -0.5 <= self.tuning < 0.5:
            raise ValueError(
                f"tuning must lie in [-0.5, 0.5) of a bin, or be None, got {self.tuning}"
            )

    @classmethod
    def from_dict(
        cls, mapping: Mapping[str, Any] | None = None, **overrides: Any
    ) -> FeatureSettings:
        """Build from plain parameters (e.g. Kedro's); unknown keys are an error, not silently ignored."""
        values = {**dict(mapping or {}), **overrides}
        known = [f.name for f in fields(cls) if f.init]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(
                f"unknown feature setting(s): {', '.join(unknown)}; valid settings: {', '.join(known)}"
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (families as a list), so ``from_dict(to_dict())`` round-trips via YAML/JSON."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        out["families"] = list(self.families)
        out["embedding_stats"] = list(self.embedding_stats)
        out["embedding_layers"] = list(self.embedding_layers)
        return out

    @property
    def uses_handcrafted(self) -> bool:
        return self.feature_set in (HANDCRAFTED, BOTH)

    @property
    def uses_embedding(self) -> bool:
        return self.feature_set in (EMBEDDING, BOTH)

    def replace(self, **changes: Any) -> FeatureSettings:
        return dataclasses.replace(self, **changes)

    def digest(self) -> str:
        """A short, stable hex key of everything that decides a feature row's columns and values.

        Every field counts (the window, the rate and the families change the values or the columns), after
        normalisation: family order, list-vs-tuple, 22050 vs 22050.0 give the same key. The code's
        ``ALGORITHM_VERSION`` is folded in, so a cache written by older code is not reused.
        """
        import hashlib  # keeps `import music_genre.features` light
        import json

        values = self.to_dict()
        del values["embedding_weights"]  # where the weights are does not change a value
        # Without an embedding its fields are left out, so handcrafted caches keep the key they had before
        # feature sets existed.
        if not self.uses_embedding:
            for name in ("feature_set", "embedding", "embedding_stats"):
                del values[name]
        if not self.uses_embedding or self.embedding_layers == (PENULTIMATE,):
            del values[
                "embedding_layers"
            ]  # the penultimate layer alone: the key it had before layers
        payload = json.dumps(
            {"algorithm": ALGORITHM_VERSION, **values},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.blake2b(payload.encode(), digest_size=6).hexdigest()

    def values_digest(self) -> str:
        """A key of what decides a column's values, not which columns there are: settings with equal keys
        give equal values in every column both have. A model trained on one candidate set of ``feature_set:
        auto`` reads its columns from the run's wider table, and monitoring and retraining check this key."""
        return self.replace(
            feature_set=BOTH,
            embedding_stats=EMBEDDING_STATISTICS,
            embedding_layers=(PENULTIMATE, *EMBEDDING_LAYER_DIMS.get(self.embedding, {})),
            embedding_weights=None,
        ).digest()

    def family_sizes(self) -> dict[str, int]:
        """How many rows (coefficients) each selected family has, in column order."""
        sizes = {
            "chroma_cens": self.n_chroma,
            "chroma_cqt": self.n_chroma,
            "chroma_stft": self.n_chroma,
            "mfcc": self.n_mfcc,
            "rmse": 1,
            "spectral_bandwidth": 1,
            "spectral_centroid": 1,
            "spectral_contrast": self.contrast_bands + 1,
            "spectral_rolloff": 1,
            "tonnetz": 6,
            "zcr": 1,
        }
        return {name: sizes[name] for name in self.families if name != TEMPO}

    @property
    def cqt_bins(self) -> int:
        return self.cqt_bins_per_octave * self.cqt_octaves


def resolve_settings(
    settings: FeatureSettings | Mapping[str, Any] | None = None, **overrides: Any
) -> FeatureSettings:
    """Accept a FeatureSettings, a mapping of parameters, or nothing (defaults), plus keyword overrides."""
    if isinstance(settings, FeatureSettings):
        return settings.replace(**overrides) if overrides else settings
    return FeatureSettings.from_dict(settings, **overrides)


def feature_names(
    settings: FeatureSettings | Mapping[str, Any] | None = None, **overrides: Any
) -> list[str]:
    """Column names, in FMA's ``features.csv`` order: families sorted, then statistics sorted
    (kurtosis, max, mean, median, min, skew, std), then the 01-based coefficient number, e.g.
    ``chroma_cens_kurtosis_01`` ... ``zcr_std_01``; ``tempo`` (BPM) comes last when selected.
    519 names with the defaults (518 FMA columns + tempo). With an embedding, its columns follow (or stand
    alone): ``msd_musicnn_mean_001`` ... ``msd_musicnn_mean_200`` (then ``_std_`` when asked for), then the
    mid-end's when its layer is asked for: ``msd_musicnn_midend_mean_001`` ... ``_753``."""
    settings = resolve_settings(settings, **overrides)
    names: list[str] = []
    if settings.uses_handcrafted:
        names = [
            f"{family}_{statistic}_{number:02d}"
            for family, size in settings.family_sizes().items()
            for statistic in STATISTICS
            for number in range(1, size + 1)
        ]
        if TEMPO in settings.families:
            names.append(TEMPO)
    if settings.uses_embedding:
        names += embedding_names(settings)
    return names


def embedding_names(settings: FeatureSettings) -> list[str]:
    names = []
    for layer in settings.embedding_layers:
        prefix = settings.embedding if layer == PENULTIMATE else f"{settings.embedding}_{layer}"
        names += [
            f"{prefix}_{statistic}_{number:03d}"
            for statistic in settings.embedding_stats
            for number in range(1, embedding_layer_dim(settings.embedding, layer) + 1)
        ]
    return names


def embedding_layer_dim(embedding: str, layer: str) -> int:
    if layer == PENULTIMATE:
        return EMBEDDING_DIMS[embedding]
    return EMBEDDING_LAYER_DIMS[embedding][layer]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not float(value).is_integer() or int(value) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _canonical_families(families: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(families, str):
        families = [families]
    chosen = set(families)
    unknown = sorted(chosen - set(FAMILIES))
    if unknown:
        raise ValueError(
            f"unknown feature famil(ies): {', '.join(unknown)}; known: {', '.join(FAMILIES)}"
        )
    if not chosen:
        raise ValueError("families must name at least one feature family")
    return tuple(name for name in FAMILIES if name in chosen)
