from kedro.pipeline import Node, Pipeline

from music_genre.hooks import RAY_TAG

from .nodes import extract_features


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=extract_features,
                inputs=["manifest", "params:feature_engineering"],
                outputs=["features", "extraction_failures", "extraction_report"],
                name="extract_features_node",
                tags=[RAY_TAG],
            ),
        ],
        tags=["feature_engineering"],
    )
