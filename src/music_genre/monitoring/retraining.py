"""The retraining table: the training data plus every labelled batch so far.

Batches join as training tracks, except the newest labelled batch, which becomes the split ``recent``: the
challenger does not train on it, and it and the champion are compared on the test tracks plus these,
music neither has seen. The registration gate (threshold, better than chance) still reads the test split
alone, so labels that arrive wrong cannot veto a sound model.
"""

from __future__ import annotations

import logging

import pandas as pd

from music_genre.common.errors import ExpectedError
from music_genre.modeling.training import ID_COLUMNS, NOT_FEATURES

log = logging.getLogger(__name__)

RECENT = "recent"  # the split of the newest labelled batch: compared on, not trained on


def retraining_table(
    model_input_table: pd.DataFrame,
    batch_labels: pd.DataFrame,
    batch_features: pd.DataFrame,
    feature_digest: str | list[str],
    hold_out_newest: bool = True,
) -> pd.DataFrame:
    """``feature_digest``: the training table's settings, or several (feature_set auto: the table's and
    each candidate set's). Batches featurized under the most used of them join, in their columns; the
    table keeps those columns only (the challenger then trains on the set the batches were scored with)."""
    digests = [feature_digest] if isinstance(feature_digest, str) else list(feature_digest)
    if batch_labels.empty:
        log.warning("No labelled batch yet: the challenger trains on the training data alone")
        return model_input_table
    features = batch_features[batch_features["feature_digest"].isin(digests)]
    if not features.empty:
        features = features[features["feature_digest"] == features["feature_digest"].mode().iloc[0]]
        features = features.dropna(axis=1, how="all")
    features = features.drop_duplicates("path", keep="last")
    labels = [c for c in model_input_table.columns if c in NOT_FEATURES and c not in ID_COLUMNS]
    columns = [
        c for c in model_input_table.columns if c not in NOT_FEATURES and c in features.columns
    ]
    if features.empty or not columns:
        raise ExpectedError(
            f"the labelled batches were featurized with other settings than the training data "
            f"({digests[0]}): score them again with the current model first"
        )
    model_input_table = model_input_table[[*ID_COLUMNS, *labels, *columns]]
    rows = batch_labels.drop_duplicates("path", keep="last").merge(
        features[["path", *columns]], on="path", how="inner"
    )
    newest = sorted(rows["batch"].astype(str).unique())[-1] if hold_out_newest else None
    rows["split"] = [RECENT if str(b) == newest else "training" for b in rows["batch"]]
    rows["track_id"] = "batch:" + rows["path"].astype(str)
    known = set(model_input_table.loc[model_input_table["split"] == "training", "genre"]) | set(
        rows.loc[rows["split"] == "training", "genre"]
    )
    unseen = (rows["split"] == RECENT) & ~rows["genre"].isin(known)
    if unseen.any():
        log.warning(
            "%d tracks of batch %s are labelled with genres no training track has (%s): left out",
            int(unseen.sum()),
            newest,
            ", ".join(sorted(set(rows.loc[unseen, "genre"]))),
        )
        rows = rows[~unseen]
    counts = rows["split"].value_counts()
    log.info(
        "Retraining on %d training tracks + %d from labelled batches; %d tracks of the newest "
        "batch (%s) join the test tracks both models are compared on",
        int((model_input_table["split"] == "training").sum()),
        int(counts.get("training", 0)),
        int(counts.get(RECENT, 0)),
        newest,
    )
    table = pd.concat([model_input_table, rows[[*ID_COLUMNS, *columns]]], ignore_index=True)
    return table
