"""The trained artifact: one picklable object that carries everything needed to predict.

A :class:`GenreClassifier` (one genre per track; :class:`TagClassifier`, every genre a track has) holds the feature column order, the preprocessing (a scaler where the model needs
one), the label classes and the fitted estimator (a LightGBM booster or a scikit-learn model), plus the
feature settings it was trained on, so the CLI, batch inference and serving compute features the same way
and feed them in the same order. No Kedro, no MLflow in here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# The artifact's format: 1 = pickled by the flat layout (no number stored), 2 = stage folders, the number
# stored in every model. Loading maps old module paths (music_genre.common.module_paths); a format above
# ARTIFACT_FORMAT was written by a newer music-genre and is refused in one line (modeling.store).
ARTIFACT_FORMAT = 2


def artifact_format(model) -> int:
    """The format a saved model was written in (1 when it predates the number)."""
    return int(vars(model).get("artifact_format", 1))


class MissingFeaturesError(ValueError):
    """The frame lacks columns the model was trained on."""


def _check_columns(features: pd.DataFrame, columns: list[str], digest: str) -> None:
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise MissingFeaturesError(
            f"{len(missing)} feature columns missing (e.g. {', '.join(missing[:3])}): the features "
            f"were computed with other settings than the model's ({digest})"
        )


@dataclass
class GenreClassifier:
    model_type: str
    estimator: Any
    feature_columns: list[str]
    classes: list[str]
    scaler: Any = None
    feature_settings: dict = field(default_factory=dict)
    feature_digest: str = ""
    best_iteration: int | None = None
    params: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    artifact_format: int = ARTIFACT_FORMAT

    task = "single_label"  # class attribute: old pickles have it too

    @property
    def version(self) -> str:
        """When and from what this model was trained (``20261123T104012-1a2b3c4d``): batch predictions
        record it, so files already scored by this model are skipped next time."""
        return str(self.info.get("version", "unknown"))

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)

    def matrix(self, features: pd.DataFrame) -> np.ndarray:
        """The frame's features in training order (extra columns such as track_id are ignored)."""
        _check_columns(features, self.feature_columns, self.feature_digest)
        values = features[self.feature_columns].to_numpy(dtype=np.float64)
        if self.scaler is not None:
            values = self.scaler.transform(values)
        return values

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Class probabilities, one row per frame row, columns in ``classes_`` order."""
        values = self.matrix(features)
        if self.model_type == "lightgbm":
            proba = self.estimator.predict(values, num_iteration=self.best_iteration)
        else:
            proba = self.estimator.predict_proba(values)
        proba = np.asarray(proba, dtype=np.float64).reshape(len(values), len(self.classes))
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(features), axis=1)]

    def predict_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        """Probabilities as a frame with one column per genre, indexed like ``features``."""
        return pd.DataFrame(
            self.predict_proba(features), index=features.index, columns=self.classes
        )

    def feature_importance(self) -> pd.Series | None:
        """Importance by total gain per feature name (LightGBM), or None for models without one."""
        if self.model_type == "lightgbm":
            gains = self.estimator.feature_importance(importance_type="gain")
            return pd.Series(gains, index=self.feature_columns).sort_values(ascending=False)
        importances = getattr(self.estimator, "feature_importances_", None)
        if importances is not None:
            return pd.Series(importances, index=self.feature_columns).sort_values(ascending=False)
        return None


@dataclass
class TagClassifier:
    """The multi-label model: one binary :class:`GenreClassifier` per genre (``yes``/``no``), each with its
    own decision threshold tuned on the validation split. ``predict_proba`` gives one independent
    probability per genre (rows do not sum to 1); ``predict_tags`` applies the thresholds."""

    model_type: str
    labels: list[str]
    models: dict[str, GenreClassifier]
    thresholds: dict[str, float]
    feature_columns: list[str]
    at_least_one: bool = True
    feature_settings: dict = field(default_factory=dict)
    feature_digest: str = ""
    params: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    artifact_format: int = ARTIFACT_FORMAT

    task = "multi_label"
    POSITIVE = "yes"
    best_iteration = None

    @property
    def classes(self) -> list[str]:
        return list(self.labels)

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.labels, dtype=object)

    @property
    def version(self) -> str:
        return str(self.info.get("version", "unknown"))

    @property
    def scaler(self):
        return None

    def matrix(self, features: pd.DataFrame) -> np.ndarray:
        """The raw features in training order (each genre's model scales them itself)."""
        _check_columns(features, self.feature_columns, self.feature_digest)
        return features[self.feature_columns].to_numpy(dtype=np.float64)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """P(genre applies), one column per genre in ``labels`` order, each from its own model."""
        self.matrix(features)  # one clear error for missing columns
        columns = [self.label_proba(self.models[label], features) for label in self.labels]
        return np.column_stack(columns) if columns else np.zeros((len(features), 0))

    @classmethod
    def label_proba(cls, model: GenreClassifier, features: pd.DataFrame) -> np.ndarray:
        """P(yes) of one genre's binary model."""
        return model.predict_proba(features)[:, model.classes.index(cls.POSITIVE)]

    def tags_from_proba(self, proba: np.ndarray) -> np.ndarray:
        """Boolean (tracks, genres): over each genre's threshold; with ``at_least_one``, a track with
        none over gets the genre closest to (or furthest over) its threshold, as every track has one."""
        proba = np.asarray(proba, dtype=np.float64)
        limits = np.array([self.thresholds[label] for label in self.labels], dtype=np.float64)
        tags = proba >= limits
        if self.at_least_one and len(proba):
            empty = ~tags.any(axis=1)
            best = np.argmax(proba - limits, axis=1)
            tags[np.flatnonzero(empty), best[empty]] = True
        return tags

    def predict_tags(self, features: pd.DataFrame) -> list[list[str]]:
        return [
            [self.labels[j] for j in np.flatnonzero(row)]
            for row in self.tags_from_proba(self.predict_proba(features))
        ]

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """The most likely genre (for code that wants one answer per track)."""
        return self.classes_[np.argmax(self.predict_proba(features), axis=1)]

    def predict_frame(self, features: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(self.predict_proba(features), index=features.index, columns=self.labels)

    def feature_importance(self) -> pd.Series | None:
        """Each genre model's importances, normalised to sum 1, then averaged over genres."""
        parts = [self.models[label].feature_importance() for label in self.labels]
        parts = [p / p.sum() for p in parts if p is not None and p.sum() > 0]
        if not parts:
            return None
        return pd.concat(parts, axis=1).fillna(0.0).mean(axis=1).sort_values(ascending=False)
