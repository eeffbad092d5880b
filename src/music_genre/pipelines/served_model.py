"""The served model: kedro-mlflow's pipeline_ml_factory binds a training pipeline to the serving pipeline,
so the MLflow model logged at the end of every training run is the whole inference pipeline (audio content,
or paths under ``serving.allowed_roots``, in; genre probabilities out; the training extractor inside) and
``mlflow models serve`` answers with it (:mod:`music_genre.serving.served_inputs` decides what it may read).
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from music_genre.modeling.registry import PACKAGE_DIR, PIPELINE_ARTIFACT, pinned_requirements

INPUT_NAME = "audio_paths"
_REQUIREMENTS = (
    "kedro",
    "kedro-datasets",
    "kedro-mlflow",
    "lightgbm",
    "scikit-learn",
    "pandas",
    "numpy",
    "scipy",
    "soundfile",
    "soxr",
    "librosa",
)


def with_serving_model(training: Pipeline) -> Pipeline:
    """``training`` that, when run, also logs the serving pipeline as an MLflow model."""
    from kedro_mlflow.pipeline import pipeline_ml_factory
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from music_genre.pipelines.inference import serving_pipeline

    return pipeline_ml_factory(
        training=training,
        inference=serving_pipeline(),
        input_name=INPUT_NAME,
        log_model_kwargs={
            "name": PIPELINE_ARTIFACT,
            "signature": ModelSignature(
                inputs=Schema(
                    [
                        ColSpec("string", "path", required=False),
                        ColSpec("string", "content", required=False),
                        ColSpec("string", "filename", required=False),
                    ]
                )
            ),
            "code_paths": [str(PACKAGE_DIR)],
            "pip_requirements": pinned_requirements(_REQUIREMENTS),
        },
    )
