"""The report a researcher reads: per-genre scores, confusions, features, label quality, calibration."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
