from kedro.pipeline import Node, Pipeline

from music_genre.hooks import RAY_TAG

from .nodes import list_inference_inputs, predict_audio_paths, score_new_files


def create_pipeline(**kwargs) -> Pipeline:
    """`kedro run --pipelines=inference [--params=inference.input_dir=/abs/dir]`: the batch job."""
    return Pipeline(
        [
            Node(
                func=list_inference_inputs,
                inputs=["manifest_if_ingested", "params:inference"],
                outputs="inference_inputs",
                name="list_inference_inputs_node",
            ),
            Node(
                func=score_new_files,
                inputs=[
                    "inference_inputs",
                    "genre_classifier",
                    "previous_predictions",
                    "params:inference",
                ],
                outputs=["predictions", "inference_report"],
                name="score_new_files_node",
                tags=[RAY_TAG],
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
                inputs=["audio_paths", "served_genre_classifier", "params:inference"],
                outputs="genre_predictions",
                name="predict_audio_paths_node",
            )
        ]
    )
