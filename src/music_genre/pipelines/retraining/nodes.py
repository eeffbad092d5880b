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
    modeling: dict | None = None,
    feature_set_candidates: dict | None = None,
) -> pd.DataFrame:
    """The training table (the last `kedro run`'s, so checked to be ``modeling.task``'s: the daily job
    retrains the task the environment serves) grown by the labelled batches."""
    from music_genre.features import FeatureSettings
    from music_genre.modeling.tasks import task_of_params

    task_of_params(modeling).check_model_input(model_input_table)

    # Batches are featurized by the model that scored them: with feature_set auto, one candidate set.
    digests = [FeatureSettings.from_dict(feature_settings).digest()] + [
        FeatureSettings.from_dict(settings).digest()
        for settings in ((feature_set_candidates or {}).get("sets") or {}).values()
    ]
    return retraining_table(
        model_input_table,
        batch_labels,
        batch_features,
        digests,
        hold_out_newest=bool(retraining.get("hold_out_newest_batch", True)),
    )
