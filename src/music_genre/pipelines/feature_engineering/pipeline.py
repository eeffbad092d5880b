from kedro.pipeline import Node, Pipeline

from music_genre.common.ray_runtime import RAY_TAG

from .nodes import extract_features, resolve_feature_settings


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=resolve_feature_settings,
                inputs="params:feature_engineering",
                outputs=["feature_settings", "feature_set_candidates"],
                name="resolve_feature_settings_node",
            ),
            Node(
                func=extract_features,
                inputs=["manifest", "params:feature_engineering", "feature_settings"],
                outputs=["features", "extraction_failures", "extraction_report"],
                name="extract_features_node",
                tags=[RAY_TAG],
            ),
        ],
        tags=["feature_engineering"],
    )
