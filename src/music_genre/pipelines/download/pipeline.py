from kedro.pipeline import Node, Pipeline

from .nodes import download_fma_archives


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=download_fma_archives,
                inputs=["params:download", "params:dataset"],
                outputs="download_report",
                name="download_fma_archives_node",
            ),
        ]
    )
