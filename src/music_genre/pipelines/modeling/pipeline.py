from kedro.pipeline import Node, Pipeline

from .nodes import (
    build_model_input,
    evaluate_model,
    log_model_to_mlflow,
    publish_for_serving,
    request_registration,
    train_model,
)


def model_input_pipeline() -> Pipeline:
    """Features joined with the manifest's genre and split: shared by modeling and model_comparison."""
    return Pipeline(
        [
            Node(
                func=build_model_input,
                inputs=["features", "manifest"],
                outputs="model_input_table",
                name="build_model_input_node",
            )
        ]
    )


def training_pipeline() -> Pipeline:
    """Train and evaluate one model: the template that model_comparison namespaces per model type."""
    return Pipeline(
        [
            Node(
                func=train_model,
                inputs=[
                    "model_input_table",
                    "params:modeling",
                    "feature_settings",
                    "tuned_lightgbm_params",
                    "params:model_choice",
                ],
                outputs="genre_classifier",
                name="train_model_node",
            ),
            Node(
                func=evaluate_model,
                inputs=["genre_classifier", "model_input_table"],
                outputs=["model_metrics", "model_mlflow_metrics"],
                name="evaluate_model_node",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            model_input_pipeline(),
            Pipeline(
                training_pipeline(),
                parameters={"params:model_choice": "params:modeling.model"},
            ),
            Node(
                func=publish_for_serving,
                inputs="genre_classifier",
                outputs="served_genre_classifier",
                name="publish_for_serving_node",
            ),
            Node(
                func=log_model_to_mlflow,
                inputs=["genre_classifier", "model_input_table"],
                outputs="mlflow_model",
                name="log_model_to_mlflow_node",
            ),
            Node(
                func=request_registration,
                inputs=["model_metrics", "mlflow_model", "params:modeling", "params:dataset"],
                outputs="model_registration",
                name="request_registration_node",
            ),
        ],
        tags=["modeling"],
    )
