from kedro.pipeline import Node, Pipeline

from .nodes import (
    build_model_input,
    decide_promotion,
    evaluate_model,
    keep_registration_candidate,
    log_model_to_mlflow,
    publish_for_serving,
    report_model_selection,
    request_registration,
    train_model,
)


def model_input_pipeline() -> Pipeline:
    """Features joined with the manifest's genre and split: shared by modeling and model_comparison."""
    return Pipeline(
        [
            Node(
                func=build_model_input,
                inputs=["features", "manifest", "params:modeling"],
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
                    "feature_set_candidates",
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


def registration_pipeline() -> Pipeline:
    """Publish, log and compare the trained model with the champion, and ask for its registration: the
    run's end registers it (once kedro-mlflow has logged the served model) and moves the champion alias
    only to a model that beats the champion. Shared by modeling and retraining."""
    return Pipeline(
        [
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
                func=decide_promotion,
                inputs=[
                    "genre_classifier",
                    "champion_genre_classifier",
                    "champion_info",
                    "model_input_table",
                    "params:modeling",
                ],
                outputs="promotion_decision",
                name="decide_promotion_node",
            ),
            Node(
                func=keep_registration_candidate,
                inputs=["genre_classifier", "model_input_table", "params:modeling"],
                outputs="registration_candidate",
                name="keep_registration_candidate_node",
            ),
            Node(
                func=request_registration,
                inputs=[
                    "model_metrics",
                    "mlflow_model",
                    "promotion_decision",
                    "params:modeling",
                    "params:dataset",
                ],
                outputs="model_registration",
                name="request_registration_node",
            ),
        ]
    )


def trained_model_pipeline() -> Pipeline:
    """From a model input table to a registered model: training, then registration."""
    return Pipeline(
        [
            Pipeline(
                training_pipeline(),
                parameters={"params:model_choice": "params:modeling.model"},
            ),
            registration_pipeline(),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    selection_report = Node(
        func=report_model_selection,
        inputs="genre_classifier",
        outputs="model_cv_table",
        name="report_model_selection_node",
    )
    return Pipeline(
        [model_input_pipeline(), trained_model_pipeline(), selection_report], tags=["modeling"]
    )
