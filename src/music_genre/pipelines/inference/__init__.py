"""Score audio files with the trained model: a batch job on Ray, and the pipeline MLflow serves."""

from .pipeline import create_pipeline, serving_pipeline

__all__ = ["create_pipeline", "serving_pipeline"]
