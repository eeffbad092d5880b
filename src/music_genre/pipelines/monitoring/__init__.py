"""``kedro run --pipelines=monitoring``: the latest batch against the reference, with Evidently."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
