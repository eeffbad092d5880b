"""Is a file music the model knows? A distance from the model's training tracks, and a threshold.

A classifier answers every input with some genre: white noise "rock 99%", speech "hiphop 99%". Its
probabilities say which genre is nearest, never how near. This module measures how near: how far a file's
features lie from the tracks the model was trained on, on the scale of how far real, unseen music of the
training collection lies.

The method, and why:

- **Standardise** the model's feature columns on the training tracks (mean 0, unit variance; a column that
  does not vary keeps unit scale), so a column in Hz and one in [0, 1] weigh the same, as they do for the
  scaled models.
- **PCA** (numpy's SVD) to ``min(components, n_training - 1)`` axes: the directions music varies in. The
  distance between two tracks in that space is their distance over the features that carry the
  collection's variance, not over hundreds of noisy, correlated columns. (Adding back what the axes
  leave out, the residual, as one more coordinate was measured worse: with few training tracks every
  unseen track has a large residual, and it flagged 6 of 120 held-out GTZAN clips where this flags 1;
  benchmarks/familiarity.py and docs/benchmarks.md.)
- **Score** = the mean distance to the ``k`` nearest training tracks in that space (``k`` = ``neighbours``,
  fewer for a tiny collection). A k-nearest-neighbour distance follows a collection made of several
  clusters (genres) where one Mahalanobis ellipsoid would cover the empty space between them, and it
  needs no covariance estimate (a few dozen tracks cannot estimate one in 500 dimensions).
- **Threshold**: the score that about ``flag_share`` of real held-out music exceeds, taken from the
  *validation* tracks (the model never fitted them, so their scores are what unseen music of this
  collection scores). With fewer than ``min_calibration`` validation tracks the quantile is padded with
  leave-one-out scores of training tracks (each scored by statistics refitted without it: also unseen
  music, judged against one track fewer). The quantile is the conformal one, the
  ``ceil((m + 1) (1 - flag_share))``-th smallest of ``m`` scores, so a new track from the same
  distribution is flagged with probability at most ``flag_share`` (on average over calibration sets,
  by exchangeability). When ``m`` is too small for that rank to exist the largest score is used, and the
  rate is about ``1 / (m + 1)`` instead.

``familiarity`` = score / threshold: 1.0 is the threshold, above it the file is ``unfamiliar``; real music
of the collection lies mostly below 1 (median 0.76 on held-out GTZAN clips), white noise near 3, a sine
sweep above 10. Everything the model stores is plain data (a
dict of lists and floats): a saved model never depends on where a class lives. No Kedro, no Ray.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from music_genre.common.run_logging import DETAIL

log = logging.getLogger(__name__)

FORMAT = 1  # the layout of the stored dict; familiarity_scores refuses another
DEFAULTS = {
    "enabled": True,
    "flag_share": 0.03,  # of real held-out music, flagged unfamiliar
    "neighbours": 5,  # k of the k-nearest-neighbour distance
    "components": 32,  # PCA axes (at most n_training - 1)
    "max_reference": 5000,  # training tracks kept as neighbours (a random sample beyond this)
    "min_calibration": 30,  # pad the validation scores with leave-one-out ones up to this many
    # synthesized non-music against the collection's music (modeling/outlier_exposure.py)
    "outlier_exposure": {
        "enabled": True,
        "per_family": 6,
        "seconds": 20.0,
        "min_probability": 0.5,
        "mp3_share": 0.5,
    },  # fmt: skip
}


def settings(params: Mapping | None) -> dict:
    """``modeling.familiarity`` with the defaults filled in."""
    return {**DEFAULTS, **dict(params or {})}


def fit_familiarity(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    columns: Sequence[str],
    flag_share: float = DEFAULTS["flag_share"],
    seed: int = 0,
    *,
    neighbours: int = DEFAULTS["neighbours"],
    components: int = DEFAULTS["components"],
    max_reference: int = DEFAULTS["max_reference"],
    min_calibration: int = DEFAULTS["min_calibration"],
    negatives: pd.DataFrame | None = None,
    min_probability: float = 0.5,
) -> dict:
    """The familiarity statistics of a model trained on ``train`` (validated on ``valid``), as plain data.

    ``columns``: the model's feature columns. Rows with a non-finite value are left out. ``negatives``:
    feature rows of synthesized non-music (with a ``family`` column), for outlier exposure (None: the
    distance check alone). Raises ValueError when fewer than two training tracks remain (no distance
    scale to learn)."""
    if not 0.0 < float(flag_share) < 1.0:
        raise ValueError(f"flag_share must lie between 0 and 1, got {flag_share!r}")
    columns = [str(c) for c in columns]
    rng = np.random.default_rng(seed)
    x_train = _finite_rows(train, columns)
    x_valid = _finite_rows(valid, columns)
    if len(x_train) < 2:
        raise ValueError(f"{len(x_train)} usable training tracks: at least 2 are needed")
    if len(x_train) > max_reference:  # neighbours of a large collection: a random sample is enough
        x_train = x_train[np.sort(rng.choice(len(x_train), int(max_reference), replace=False))]
    k = max(1, min(int(neighbours), len(x_train) - 1))
    space = _fit_space(x_train, int(components))
    calibration = list(_score(space, x_valid, k))
    padded = min(len(x_train), max(0, int(min_calibration) - len(calibration)))
    if padded and len(x_train) >= 3:  # a track left out must leave two to measure a scale
        k_loo = max(1, min(k, len(x_train) - 2))
        for i in np.sort(rng.choice(len(x_train), padded, replace=False)):
            rest = np.delete(x_train, i, axis=0)
            calibration.append(
                float(_score(_fit_space(rest, int(components)), x_train[i : i + 1], k_loo)[0])
            )
    else:
        padded = 0
    threshold = conformal_quantile(np.asarray(calibration), 1.0 - float(flag_share))
    outlier = None
    if negatives is not None and len(negatives):
        from music_genre.modeling import outlier_exposure

        x_neg = _finite_rows(negatives, columns)

        def project(x):
            return ((x - space["mean"]) / space["scale"]) @ space["basis"].T

        outlier = outlier_exposure.fit(
            space["reference"],
            project(x_neg),
            project(x_valid),
            flag_share,
            min_probability,
            conformal_quantile,
        )
        outlier["families"] = sorted(set(negatives["family"]))
        outlier["n_negatives"] = len(x_neg)
    return {
        "format": FORMAT,
        "method": "knn_pca",
        "columns": columns,
        **{key: value.tolist() for key, value in space.items()},
        "neighbours": k,
        "threshold": float(threshold),
        "flag_share": float(flag_share),
        "n_training": len(x_train),
        "n_validation": len(x_valid),
        "n_loo_padding": int(padded),
        "calibration_flagged": float(np.mean(np.asarray(calibration) > threshold)),
        **({"outlier": outlier} if outlier else {}),
    }


def fit_for_model(
    classifier, table: pd.DataFrame, modeling: Mapping, choice: Mapping | None = None
) -> dict | None:
    """The statistics of a freshly trained model (``modeling.familiarity``; ``None`` when disabled or
    when the table cannot give them: the model then predicts without the check, as an old one does).
    Training rows are the reference, validation rows set the threshold; the model's own feature columns
    (whatever the task and the chosen feature set)."""
    params = settings(modeling.get("familiarity"))
    if not params["enabled"]:
        return None
    train = table[table["split"] == "training"]
    valid = table[table["split"] == "validation"]
    seed = int((choice or {}).get("seed", (modeling.get("model") or {}).get("seed", 42)))
    exposure = {**DEFAULTS["outlier_exposure"], **dict(params.get("outlier_exposure") or {})}
    negatives = None
    if exposure["enabled"]:
        negatives = synthesized_negatives(classifier.feature_settings, exposure, seed)
    try:
        stats = fit_familiarity(
            train,
            valid,
            classifier.feature_columns,
            float(params["flag_share"]),
            seed,
            neighbours=int(params["neighbours"]),
            components=int(params["components"]),
            max_reference=int(params["max_reference"]),
            min_calibration=int(params["min_calibration"]),
            negatives=negatives,
            min_probability=float(exposure["min_probability"]),
        )
    except ValueError as err:
        log.warning("No familiarity check in this model: %s", err)
        return None
    log.info(
        "Familiarity: %d training tracks as neighbours, threshold from %d validation and %d "
        "leave-one-out scores (flag_share %.3f)",
        stats["n_training"],
        stats["n_validation"],
        stats["n_loo_padding"],
        stats["flag_share"],
        extra=DETAIL,
    )
    return stats


def synthesized_negatives(
    feature_settings: Mapping, exposure: Mapping, seed: int, families=None
) -> pd.DataFrame:
    """Feature rows (the model's feature settings) of synthesized non-music, a ``family`` column each."""
    from music_genre.features import FeatureSettings, extract_signal
    from music_genre.modeling import outlier_exposure

    settings_ = FeatureSettings.from_dict(feature_settings)
    negatives = outlier_exposure.negative_features(
        lambda signal, rate: extract_signal(signal, rate, settings_),
        families or outlier_exposure.FAMILIES,
        int(exposure["per_family"]),
        float(exposure["seconds"]),
        seed,
        float(exposure.get("mp3_share", outlier_exposure.DEFAULTS["mp3_share"])),
    )
    log.info("Outlier exposure: %d synthesized non-music inputs in %d families",
             len(negatives), negatives["family"].nunique() if len(negatives) else 0,
             extra=DETAIL)  # fmt: skip
    return negatives


def familiarity_scores(stats: Mapping, features: pd.DataFrame) -> np.ndarray:
    """Each row's distance ratio: its mean distance to its nearest training tracks over the threshold
    (> 1: unfamiliar). NaN for a row with a missing or non-finite feature."""
    if int(stats.get("format", 0)) != FORMAT:
        raise ValueError(
            f"familiarity statistics of format {stats.get('format')!r}: expected {FORMAT}"
        )
    columns = list(stats["columns"])
    values = features.reindex(columns=columns).to_numpy(dtype=np.float64)
    out = np.full(len(values), np.nan)
    ok = np.isfinite(values).all(axis=1)
    if ok.any():
        space = {key: np.asarray(stats[key]) for key in ("mean", "scale", "basis", "reference")}
        scores = _score(space, values[ok], int(stats["neighbours"]))
        out[ok] = scores / max(float(stats["threshold"]), 1e-12)
        if stats.get("outlier"):  # outlier exposure: the larger of the two ratios
            from music_genre.modeling import outlier_exposure

            projected = ((values[ok] - space["mean"]) / space["scale"]) @ space["basis"].T
            out[ok] = np.maximum(out[ok], outlier_exposure.ratio(stats["outlier"], projected))
    return out


def is_unfamiliar(familiarity: float | np.ndarray) -> bool | np.ndarray:
    """The flag: beyond the threshold (a NaN score, from a model without statistics, is never flagged)."""
    value = np.asarray(familiarity, dtype=np.float64)
    flagged = np.where(np.isnan(value), False, value > 1.0)
    return bool(flagged) if flagged.ndim == 0 else flagged


def has_familiarity(classifier) -> bool:
    """Whether a model carries familiarity statistics (models trained before this check do not)."""
    stats = (getattr(classifier, "info", None) or {}).get("familiarity")
    return isinstance(stats, Mapping) and int(stats.get("format", 0)) == FORMAT


def classifier_familiarity(classifier, features: pd.DataFrame) -> np.ndarray:
    """:func:`familiarity_scores` of a model's statistics; all NaN for a model without them."""
    if not has_familiarity(classifier):
        return np.full(len(features), np.nan)
    return familiarity_scores(classifier.info["familiarity"], features)


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ``ceil((m + 1) level)``-th smallest of ``m`` scores (the largest when that rank exceeds ``m``):
    a new score from the same distribution exceeds it with probability at most ``1 - level``."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    if len(ordered) == 0:
        raise ValueError("no calibration scores")
    rank = min(len(ordered), max(1, math.ceil((len(ordered) + 1) * level)))
    return float(ordered[rank - 1])


def _finite_rows(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{len(missing)} feature columns missing (e.g. {', '.join(missing[:3])})")
    values = frame[columns].to_numpy(dtype=np.float64)
    return values[np.isfinite(values).all(axis=1)]


def _fit_space(x_train: np.ndarray, components: int) -> dict[str, np.ndarray]:
    """Standardisation and PCA axes fitted on the training rows, and those rows in that space."""
    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    scale = np.where(scale > 1e-12 * max(1.0, float(np.abs(mean).max())), scale, 1.0)
    z_train = (x_train - mean) / scale
    n_components = max(1, min(components, len(x_train) - 1, x_train.shape[1]))
    _, _, vt = np.linalg.svd(z_train, full_matrices=False)
    basis = vt[:n_components]
    return {"mean": mean, "scale": scale, "basis": basis, "reference": z_train @ basis.T}


def _score(space: dict[str, np.ndarray], values: np.ndarray, k: int) -> np.ndarray:
    """Mean distance of each row to its ``k`` nearest training tracks, in the fitted space."""
    if len(values) == 0:
        return np.zeros(0)
    z = (values - space["mean"]) / space["scale"]
    return _knn_mean(z @ space["basis"].T, space["reference"], k)


def _knn_mean(queries: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Mean Euclidean distance of each query to its ``k`` nearest reference rows, in blocks of queries
    so a large collection fits memory."""
    out = np.empty(len(queries))
    ref_sq = (reference**2).sum(axis=1)
    for start in range(0, len(queries), 1024):
        block = queries[start : start + 1024]
        sq = (block**2).sum(axis=1)[:, None] + ref_sq[None, :] - 2.0 * block @ reference.T
        distances = np.sqrt(np.maximum(sq, 0.0))
        nearest = np.partition(distances, k - 1, axis=1)[:, :k]
        out[start : start + len(block)] = nearest.mean(axis=1)
    return out
