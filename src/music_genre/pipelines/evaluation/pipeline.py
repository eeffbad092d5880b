from kedro.pipeline import Node, Pipeline

from .nodes import (
    evaluation_metrics,
    find_label_issues,
    list_suspect_tags,
    predict_split,
    report_confidence,
    report_feature_importance,
    report_genres,
    report_largest_errors,
    write_summary,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=predict_split,
                inputs=["genre_classifier", "model_input_table", "params:evaluation"],
                outputs="evaluation_predictions",
                name="predict_evaluation_split_node",
            ),
            Node(
                func=report_genres,
                inputs=["evaluation_predictions", "genre_classifier", "params:evaluation"],
                outputs=["per_class_report", "confusion_matrix_figure", "top_confused_pairs"],
                name="report_genres_node",
            ),
            Node(
                func=report_largest_errors,
                inputs=["evaluation_predictions", "genre_classifier", "params:evaluation"],
                outputs="largest_errors",
                name="report_largest_errors_node",
            ),
            Node(
                func=report_feature_importance,
                inputs=["genre_classifier", "params:evaluation"],
                outputs=["feature_importance_table", "feature_importance_figure"],
                name="report_feature_importance_node",
            ),
            Node(
                func=find_label_issues,
                inputs=["model_input_table", "manifest", "genre_classifier", "params:evaluation"],
                outputs=["label_issues", "label_issue_summary"],
                name="find_label_issues_node",
            ),
            Node(
                func=list_suspect_tags,
                inputs=["label_issues", "manifest"],
                outputs="suspect_tags",
                name="list_suspect_tags_node",
            ),
            Node(
                func=report_confidence,
                inputs=["evaluation_predictions", "genre_classifier", "params:evaluation"],
                outputs=["confidence_slices", "reliability_diagram_figure", "calibration"],
                name="report_confidence_node",
            ),
            Node(
                func=evaluation_metrics,
                inputs=["label_issue_summary", "calibration", "confidence_slices"],
                outputs="evaluation_mlflow_metrics",
                name="log_evaluation_metrics_node",
            ),
            Node(
                func=write_summary,
                inputs=[
                    "model_metrics",
                    "per_class_report",
                    "top_confused_pairs",
                    "largest_errors",
                    "feature_importance_table",
                    "label_issues",
                    "label_issue_summary",
                    "confidence_slices",
                    "calibration",
                    "params:evaluation",
                    "params:dataset",
                    "suspect_tags",
                ],
                outputs="evaluation_summary",
                name="write_evaluation_summary_node",
            ),
        ],
        tags=["evaluation"],
    )
