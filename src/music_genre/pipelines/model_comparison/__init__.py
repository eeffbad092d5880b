"""The FMA paper's baselines beside LightGBM on the same split: one namespace per model type."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
