"""Project pipelines.

``kedro run`` (the ``__default__`` pipeline) goes from raw audio to an evaluated model: ingestion, features,
modeling and evaluation. ``download``, ``sample_data``, ``tuning`` and ``inference`` run when named:
``kedro run --pipelines=tuning``.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

DEFAULT_PIPELINES = ("data_ingestion", "feature_engineering", "modeling", "evaluation")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipelines[name] for name in DEFAULT_PIPELINES if name in pipelines), Pipeline([])
    )
    return pipelines
