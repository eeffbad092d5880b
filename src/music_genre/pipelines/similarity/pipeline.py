from kedro.pipeline import Node, Pipeline

from .nodes import build_similarity_index


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=build_similarity_index,
                inputs=[
                    "features",
                    "manifest",
                    "feature_settings",
                    "params:similarity",
                    "previous_similarity_index",
                ],
                outputs=["similarity_index", "similarity_report", "near_duplicates"],
                name="build_similarity_index_node",
            ),
        ],
        tags=["similarity"],
    )
