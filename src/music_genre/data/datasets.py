"""Kedro datasets for files a run may not have written yet: loading a missing one gives an empty value."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import ParquetDataset
from kedro_datasets.pickle import PickleDataset


class OptionalJSONDataset(JSONDataset):
    """A JSON file that may not exist yet: loading a missing file gives ``{}``.

    For inputs that an optional pipeline writes (tuned hyperparameters): ``modeling`` runs whether or not
    ``tuning`` ever ran, and decides from parameters whether to use what it finds.
    """

    def load(self) -> Any:
        if not self._exists():
            return {}
        return super().load()


class OptionalParquetDataset(ParquetDataset):
    """A Parquet table that may not exist yet: loading a missing file gives an empty frame.

    For tables a pipeline appends to (batch predictions): the first run finds nothing to append to.
    """

    def load(self) -> pd.DataFrame:
        if not self._exists():
            return pd.DataFrame()
        return super().load()


class OptionalPickleDataset(PickleDataset):
    """A pickle that may not exist yet (the fallback model before any promotion): loads as None."""

    def load(self) -> Any:
        if not self._exists():
            return None
        return super().load()
