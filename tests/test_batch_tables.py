"""The batch job's tables survive what a day throws at them: a failed file's empty flags next to an old
table's, and a save that fails half-way. Real Parquet files, Kedro's real dataset class."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from music_genre.data.datasets import OptionalParquetDataset
from music_genre.pipelines.inference.nodes import _append


def test_flags_left_empty_by_a_failed_file_append_and_save(tmp_path):
    previous = pd.DataFrame(
        {"path": ["a", "b"], "unfamiliar": [True, False], "fallback": [False] * 2}
    )
    # a file that could not be scored has no familiarity; an older table may hold the flag as 0.0
    new = pd.DataFrame(
        {"path": ["c", "d"], "unfamiliar": [np.nan, 0.0], "fallback": [False, True]}
    ).astype({"unfamiliar": object})
    table = _append(previous, new)
    dataset = OptionalParquetDataset(filepath=str(tmp_path / "predictions.parquet"))
    dataset.save(table)
    back = dataset.load()
    assert back["unfamiliar"].tolist()[:2] == [True, False]
    assert back["unfamiliar"].isna().tolist() == [False, False, True, False]
    assert back["unfamiliar"].iloc[3] is np.False_ or back["unfamiliar"].iloc[3] == False  # noqa: E712
    assert back["fallback"].tolist() == [False, False, False, True]


def test_a_failed_save_keeps_the_previous_table(tmp_path):
    path = tmp_path / "predictions.parquet"
    dataset = OptionalParquetDataset(filepath=str(path))
    dataset.save(pd.DataFrame({"path": ["a", "b"], "genre": ["Rock", "Folk"]}))
    unsavable = pd.DataFrame({"path": ["c"], "genre": [object()]})  # Parquet cannot store it
    with pytest.raises(Exception):  # noqa: B017 - Kedro wraps pyarrow's error in its own
        dataset.save(unsavable)
    assert dataset.load()["path"].tolist() == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "predictions.parquet"
    ]  # nothing left beside it
