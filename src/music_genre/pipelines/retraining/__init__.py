"""``kedro run --pipelines=retraining``: a challenger trained on the training data plus the labelled batches."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
