"""Project-specific Kedro datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError
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


class ServingModelDataset(AbstractDataset):
    """The model that serves: the registry's champion, from the local copy written whenever the alias
    moves, or, before any model is registered (tracking off, or no model good enough yet), the newest
    trained one. Read-only: training writes ``genre_classifier``, promotion writes the champion copy."""

    def __init__(self, champion: dict, newest: dict, metadata: dict | None = None):
        # nested {filepath: ...} so that Kedro anchors both paths at the project root
        self._champion = Path(champion["filepath"])
        self._newest = Path(newest["filepath"])
        self.metadata = metadata

    def load(self) -> Any:
        from music_genre.modeling import store as model_store  # noqa: PLC0415

        if self._champion.is_file():
            loaded = model_store.load_from_file(self._champion)
            role = "champion"
        else:
            try:
                loaded = model_store.load_from_file(self._newest)
            except model_store.ModelNotFoundError as err:
                raise model_store.ModelNotFoundError(
                    "no trained model for this environment: train one with `kedro run` first "
                    f"({self._newest} is empty)"
                ) from err
            role = "newest"
        loaded.classifier.info["serving_role"] = role
        return loaded.classifier

    def save(self, data: Any) -> None:
        raise DatasetError("inference_model is read-only: promotion writes the champion's copy")

    def _exists(self) -> bool:
        return self._champion.is_file() or self._newest.exists()

    def _describe(self) -> dict[str, Any]:
        return {"champion_filepath": str(self._champion), "newest_filepath": str(self._newest)}
