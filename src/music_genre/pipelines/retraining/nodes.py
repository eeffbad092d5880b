"""Thin node over :mod:`music_genre.monitoring.retraining`."""

from __future__ import annotations

import pandas as pd

from music_genre.monitoring.retraining import retraining_table


def build_retraining_input(
    model_input_table: pd.DataFrame,
    batch_labels: pd.DataFrame,
    batch_features: pd.DataFrame,
    feature_settings: dict,
    retraining: dict,
) -> pd.DataFrame:
    from music_genre.features import FeatureSettings  # noqa: PLC0415

    return retraining_table(
        model_input_table,
        batch_labels,
        batch_features,
        FeatureSettings.from_dict(feature_settings).digest(),
        hold_out_newest=bool(retraining.get("hold_out_newest_batch", True)),
    )
