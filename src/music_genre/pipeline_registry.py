"""Project pipelines.

``kedro run`` (the ``__default__`` pipeline) goes from raw audio to an evaluated model: ingestion, features,
modeling and evaluation (plus tuning when ``tuning.enabled_in_default_run`` is true). ``download``,
``sample_data``, ``tuning``, ``model_comparison`` and ``inference`` run when named:
``kedro run --pipelines=tuning``.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from music_genre.pipelines.tuning import tuning_if_enabled_pipeline

DEFAULT_PIPELINES = ("data_ingestion", "feature_engineering", "modeling", "evaluation")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    default = sum((pipelines[name] for name in DEFAULT_PIPELINES if name in pipelines), Pipeline([]))
    # Tuning joins the default run only as a step that tunes when tuning.enabled_in_default_run is true.
    pipelines["__default__"] = default + tuning_if_enabled_pipeline()
    return pipelines
