"""Fetch the FMA archives (metadata + the environment's audio subset) into ``dataset.root``:
``kedro run --pipelines=download --env=fma_small``."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
