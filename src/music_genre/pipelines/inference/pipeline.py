from kedro.pipeline import Node, Pipeline

from music_genre.hooks import RAY_TAG

from .nodes import (
    export_batch_metrics,
    list_inference_inputs,
    predict_audio_paths,
    score_new_files,
)


def create_pipeline(**kwargs) -> Pipeline:
    """`kedro run --pipelines=inference [--params=inference.batch=2017-03-19 | inference.input_dir=/abs]`:
    the batch job, with the champion (or, before any is registered, the newest model)."""
    return Pipeline(
        [
            Node(
                func=list_inference_inputs,
                inputs=[
                    "manifest_if_ingested",
                    "new_releases_if_ingested",
                    "previous_predictions",
                    "params:inference",
                ],
                outputs="inference_inputs",
                name="list_inference_inputs_node",
            ),
            Node(
                func=score_new_files,
                inputs=[
                    "inference_inputs",
                    "inference_model",
                    "fallback_model",
                    "previous_predictions",
                    "previous_batch_features",
                    "params:inference",
                ],
                outputs=["predictions", "batch_features", "inference_report"],
                name="score_new_files_node",
                tags=[RAY_TAG],
            ),
            Node(
                func=export_batch_metrics,
                inputs=["inference_report", "params:prometheus"],
                outputs=None,
                name="export_batch_metrics_node",
            ),
        ],
        tags=["inference"],
    )


def serving_pipeline() -> Pipeline:
    """What MLflow serves (bound to training by kedro-mlflow's pipeline_ml_factory): paths in,
    probabilities out."""
    return Pipeline(
        [
            Node(
                func=predict_audio_paths,
                inputs=[
                    "audio_paths",
                    "served_genre_classifier",
                    "params:inference",
                    "params:serving",
                ],
                outputs="genre_predictions",
                name="predict_audio_paths_node",
            )
        ]
    )
