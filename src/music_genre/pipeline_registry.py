"""Project pipelines.

``kedro run`` (the ``__default__`` pipeline) goes from raw audio to an evaluated model: ingestion, features,
the similarity index, modeling and evaluation (plus tuning when ``tuning.enabled_in_default_run`` is true). ``download``,
``embedding_weights``, ``sample_data``, ``tuning``, ``model_comparison``, ``inference``, ``monitoring`` and
``retraining`` run when named: ``kedro run --pipelines=tuning``; ``music-genre daily`` chains the last three.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from music_genre.pipelines.served_model import with_serving_model
from music_genre.pipelines.tuning import tuning_if_enabled_pipeline

DEFAULT_PIPELINES = (
    "data_ingestion",
    "feature_engineering",
    "similarity",
    "modeling",
    "evaluation",
)


def register_pipelines() -> dict[str, Pipeline]:
    # Kedro 1.7 loads selectively: `kedro run --pipelines=download` finds only `download`, so the default
    # and the serving wrapper are built only when their parts were found.
    pipelines = find_pipelines(raise_errors=True)
    if all(name in pipelines for name in DEFAULT_PIPELINES):
        default = sum((pipelines[name] for name in DEFAULT_PIPELINES), Pipeline([]))
        # Tuning joins the default run only as a step that tunes when tuning.enabled_in_default_run is true.
        # Runs that train also log the serving pipeline (paths in, probabilities out) as the MLflow model.
        pipelines["__default__"] = with_serving_model(default + tuning_if_enabled_pipeline())
    for name in ("modeling", "retraining"):
        if name in pipelines:
            pipelines[name] = with_serving_model(pipelines[name])
    return pipelines
