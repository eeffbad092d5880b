from kedro.pipeline import Node, Pipeline

from .nodes import (
    assign_splits,
    build_manifest,
    check_audio_files,
    hold_out_new_releases,
    list_tracks,
    locate_raw_dataset,
    summarize_ingestion,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=locate_raw_dataset,
                inputs=["params:dataset", "params:sample_data"],
                outputs="raw_dataset",
                name="locate_raw_dataset_node",
            ),
            Node(
                func=list_tracks,
                inputs=["raw_dataset", "params:modeling.task"],
                outputs=["candidate_tracks", "metadata_exclusions", "genre_vocabulary"],
                name="list_tracks_node",
            ),
            Node(
                func=check_audio_files,
                inputs=["candidate_tracks", "params:data_ingestion"],
                outputs="checked_tracks",
                name="check_audio_files_node",
            ),
            Node(
                func=assign_splits,
                inputs=["checked_tracks", "params:data_ingestion"],
                outputs="split_tracks",
                name="assign_splits_node",
            ),
            Node(
                func=build_manifest,
                inputs=["split_tracks", "metadata_exclusions", "params:dataset"],
                outputs=["usable_tracks", "exclusions"],
                name="build_manifest_node",
            ),
            Node(
                func=hold_out_new_releases,
                inputs=["usable_tracks", "params:data_ingestion"],
                outputs=["manifest", "new_releases"],
                name="hold_out_new_releases_node",
            ),
            Node(
                func=summarize_ingestion,
                inputs=["manifest", "exclusions", "new_releases", "params:dataset"],
                outputs="ingestion_report",
                name="summarize_ingestion_node",
            ),
        ],
        tags=["data_ingestion"],
    )
