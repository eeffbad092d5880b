"""Fetch, check and convert the pretrained embedding's weights once (``kedro run --pipelines=embedding_weights``)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
