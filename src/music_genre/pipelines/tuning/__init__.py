"""Ray Tune over LightGBM's hyperparameters (ASHA + Optuna), every trial an MLflow child run."""

from .pipeline import create_pipeline, tuning_if_enabled_pipeline

__all__ = ["create_pipeline", "tuning_if_enabled_pipeline"]
