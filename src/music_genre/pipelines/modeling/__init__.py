"""Train the genre classifier on the official (or seeded) split, evaluate it, track it in MLflow."""

from .pipeline import create_pipeline, model_input_pipeline

__all__ = ["create_pipeline", "model_input_pipeline"]
