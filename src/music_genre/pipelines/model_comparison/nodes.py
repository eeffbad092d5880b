"""Thin node that gathers every namespace's metrics into one comparison table."""

from __future__ import annotations

import logging

import pandas as pd

log = logging.getLogger(__name__)


def compare_models(*reports: dict) -> pd.DataFrame:
    """One row per model type and split (each namespace also logs its MLflow metrics, prefixed)."""
    rows = []
    for report in reports:
        for split, values in report["splits"].items():
            rows.append(
                {
                    "model_type": report["model_type"],
                    "split": split,
                    **values,
                    "best_iteration": report.get("best_iteration"),
                    "training_seconds": report.get("training_seconds"),
                }
            )
    table = pd.DataFrame(rows)
    test = table[table["split"] == "test"].sort_values("f1_macro", ascending=False)
    for row in test.itertuples(index=False):
        log.info(
            "%-20s test accuracy %.3f  macro F1 %.3f  (%.1f s)",
            row.model_type,
            row.accuracy,
            row.f1_macro,
            row.training_seconds,
        )
    return table
