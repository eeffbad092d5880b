from kedro.pipeline import Node, Pipeline

from .nodes import prepare_embedding_weights


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=prepare_embedding_weights,
                inputs="params:feature_engineering",
                outputs="embedding_weights_report",
                name="prepare_embedding_weights_node",
            )
        ],
        tags=["embedding_weights"],
    )
