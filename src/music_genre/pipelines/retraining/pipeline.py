from kedro.pipeline import Node, Pipeline

from ..modeling.pipeline import trained_model_pipeline
from .nodes import build_retraining_input


def create_pipeline(**kwargs) -> Pipeline:
    """The training table grown by every labelled batch (the newest one joins the test tracks both
    models are compared on), then the modeling pipeline's training and registration: the new model
    is registered as the challenger and becomes champion only if it beats the champion."""
    return Pipeline(
        [
            Node(
                func=build_retraining_input,
                inputs=[
                    "model_input_table",
                    "batch_labels",
                    "batch_features",
                    "feature_settings",
                    "params:retraining",
                    "params:modeling",
                    "feature_set_candidates",
                ],
                outputs="retraining_input_table",
                name="build_retraining_input_node",
            ),
            Pipeline(
                trained_model_pipeline(),
                inputs={"model_input_table": "retraining_input_table"},
            ),
        ],
        tags=["retraining"],
    )
