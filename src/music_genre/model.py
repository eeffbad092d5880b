"""The trained artifact: one picklable object that carries everything needed to predict.

A :class:`GenreClassifier` holds the feature column order, the preprocessing (a scaler where the model needs
one), the label classes and the fitted estimator (a LightGBM booster or a scikit-learn model), plus the
feature settings it was trained on, so the CLI, batch inference and serving compute features the same way
and feed them in the same order. No Kedro, no MLflow in here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


class MissingFeaturesError(ValueError):
    """The frame lacks columns the model was trained on."""


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
        missing = [c for c in self.feature_columns if c not in features.columns]
        if missing:
            raise MissingFeaturesError(
                f"{len(missing)} feature columns missing (e.g. {', '.join(missing[:3])}): the features "
                f"were computed with other settings than the model's ({self.feature_digest})"
            )
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
