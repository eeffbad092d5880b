from kedro.pipeline import Node, Pipeline

from music_genre.common.ray_runtime import RAY_TAG

from .nodes import tune_hyperparameters, tune_if_enabled


def create_pipeline(**kwargs) -> Pipeline:
    """`kedro run --pipelines=tuning`: always tunes."""
    return Pipeline(
        [
            Node(
                func=tune_hyperparameters,
                inputs=["model_input_table", "params:tuning", "params:modeling"],
                outputs=["tuned_lightgbm_params", "tuning_trials"],
                name="tune_hyperparameters_node",
                tags=[RAY_TAG],
            )
        ],
        tags=["tuning"],
    )


def tuning_if_enabled_pipeline() -> Pipeline:
    """The default run's step: tunes only when `tuning.enabled_in_default_run` is true."""
    return Pipeline(
        [
            Node(
                func=tune_if_enabled,
                inputs=[
                    "model_input_table",
                    "params:tuning",
                    "params:modeling",
                    "previous_tuned_lightgbm_params",
                ],
                outputs="tuned_lightgbm_params",
                name="tune_if_enabled_node",
                tags=[RAY_TAG],
            )
        ],
        tags=["tuning"],
    )
