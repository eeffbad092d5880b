"""Extract audio features for every manifest track on Ray, into an incremental Parquet cache."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
