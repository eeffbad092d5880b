"""The trained classifier as an MLflow pyfunc model: a feature frame in, genre probabilities out.

Imported only by code that logs or serves models (it needs mlflow at import time).
"""

from __future__ import annotations

import pickle

import mlflow.pyfunc
import pandas as pd


class GenreClassifierModel(mlflow.pyfunc.PythonModel):
    """Wraps the pickled :class:`music_genre.modeling.artifact.GenreClassifier` bundle."""

    def load_context(self, context) -> None:
        with open(context.artifacts["classifier"], "rb") as handle:
            self.classifier = pickle.load(handle)  # our own artifact

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.classifier.predict_frame(model_input).reset_index(drop=True)
