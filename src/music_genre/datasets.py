"""Project-specific Kedro datasets."""

from __future__ import annotations

from typing import Any

from kedro_datasets.json import JSONDataset


class OptionalJSONDataset(JSONDataset):
    """A JSON file that may not exist yet: loading a missing file gives ``{}``.

    For inputs that an optional pipeline writes (tuned hyperparameters): ``modeling`` runs whether or not
    ``tuning`` ever ran, and decides from parameters whether to use what it finds.
    """

    def load(self) -> Any:
        if not self._exists():
            return {}
        return super().load()
