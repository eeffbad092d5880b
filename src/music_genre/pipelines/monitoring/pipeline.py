from kedro.pipeline import Node, Pipeline

from .nodes import (
    build_monitoring_frames,
    decide_on_batch,
    export_monitoring_metrics,
    record_batch_labels,
    record_history,
    report_drift,
    select_monitored_batch,
)


def create_pipeline(**kwargs) -> Pipeline:
    """`kedro run --pipelines=monitoring [--params=monitoring.batch=2017-03-19]`: the latest scored batch
    against the reference (the model's unseen validation and test tracks), with Evidently."""
    return Pipeline(
        [
            Node(
                func=select_monitored_batch,
                inputs=["predictions", "inference_model", "params:monitoring"],
                outputs=["monitored_batch", "monitored_predictions"],
                name="select_monitored_batch_node",
            ),
            Node(
                func=build_monitoring_frames,
                inputs=[
                    "monitored_predictions",
                    "batch_features",
                    "monitoring_reference_table",
                    "feature_settings_if_extracted",
                    "inference_model",
                    "new_releases_if_ingested",
                    "manifest_if_ingested",
                    "params:monitoring",
                ],
                outputs=["monitoring_reference", "monitoring_current"],
                name="build_monitoring_frames_node",
            ),
            Node(
                func=report_drift,
                inputs=[
                    "monitored_batch",
                    "monitoring_reference",
                    "monitoring_current",
                    "inference_model",
                    "params:monitoring",
                    "params:dataset",
                ],
                outputs=["monitoring_report", "monitoring_metrics"],
                name="report_drift_node",
            ),
            Node(
                func=decide_on_batch,
                inputs=["monitoring_metrics", "params:monitoring"],
                outputs="monitoring_decision",
                name="decide_on_batch_node",
            ),
            Node(
                func=export_monitoring_metrics,
                inputs=[
                    "monitoring_metrics",
                    "monitoring_decision",
                    "params:monitoring",
                    "params:prometheus",
                ],
                outputs=None,
                name="export_monitoring_metrics_node",
            ),
            Node(
                func=record_batch_labels,
                inputs=["monitoring_current", "monitored_batch", "previous_batch_labels"],
                outputs="batch_labels",
                name="record_batch_labels_node",
            ),
            Node(
                func=record_history,
                inputs=["monitoring_metrics", "monitoring_decision", "previous_monitoring_history"],
                outputs="monitoring_history",
                name="record_history_node",
            ),
        ],
        tags=["monitoring"],
    )
