from kedro.pipeline import Node, Pipeline


def make_sample_dataset(dataset: dict, sample_data: dict) -> dict:
    """Rebuild the sample archive under dataset.root when it is missing or made with other parameters."""
    from music_genre.sample import ensure_sample_archive

    return ensure_sample_archive(dataset["root"], **sample_data)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=make_sample_dataset,
                inputs=["params:dataset", "params:sample_data"],
                outputs="sample_summary",
                name="make_sample_dataset_node",
            )
        ],
        tags=["sample_data"],
    )
