"""Synthesize the built-in FMA-shaped sample (the default `kedro run` does this when it is missing)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
