from kedro.pipeline import Node, Pipeline

from music_genre.modeling.training import MODEL_TYPES

from ..modeling.pipeline import model_input_pipeline, training_pipeline
from .nodes import compare_models, cross_validate_models


def create_pipeline(**kwargs) -> Pipeline:
    """One modular pipeline per model type (namespaces, as kedro-viz's demo project does), one table."""
    per_model = [
        Pipeline(
            training_pipeline(),
            namespace=model_type,
            inputs={
                "model_input_table",
                "tuned_lightgbm_params",
                "feature_settings",
                "feature_set_candidates",
            },
            # A plain name for what leaves the namespace: the table node then reads no dotted names
            # (Kedro reserves the dot for namespaces and warns about nodes that read across them).
            outputs={"model_metrics": f"comparison_{model_type}_metrics"},
            parameters={
                "params:modeling": "params:modeling",
                "params:model_choice": f"params:model_comparison.{model_type}",
            },
            tags=[model_type],
        )
        for model_type in MODEL_TYPES
    ]
    return Pipeline(
        [
            model_input_pipeline(),
            *per_model,
            Node(
                func=cross_validate_models,
                inputs=["model_input_table", "params:modeling", "feature_set_candidates"],
                outputs="model_cv_table",
                name="cross_validate_models_node",
            ),
            Node(
                func=compare_models,
                inputs=[
                    "model_cv_table",
                    *[f"comparison_{model_type}_metrics" for model_type in MODEL_TYPES],
                ],
                outputs="model_comparison_table",
                name="compare_models_node",
            ),
        ],
        tags=["model_comparison"],
    )
