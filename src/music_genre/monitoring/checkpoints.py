"""A batch run's progress on disk, so a killed run resumes where it stopped.

Every finished Ray task's rows go to ``<checkpoint_dir>/<batch>__<model version>/part-NNNNN.parquet`` (and
its features beside them) as soon as they come back; the next run of that batch reads them and scores only
the rest. The folder is removed once the batch's rows are in the predictions table.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

_SEPARATOR = "__"


def unfinished_batches(checkpoint_dir: str | os.PathLike | None) -> list[str]:
    """Batches a run started and did not finish (their progress folder holds scored rows)."""
    if not checkpoint_dir or not Path(checkpoint_dir).is_dir():
        return []
    return sorted(
        {
            folder.name.split(_SEPARATOR)[0]
            for folder in Path(checkpoint_dir).iterdir()
            if folder.is_dir() and any(folder.glob("part-*.parquet"))
        }
    )


class BatchProgress:
    """The rows of one batch scored so far by one model version (a no-op without a checkpoint_dir)."""

    def __init__(self, checkpoint_dir: str | os.PathLike | None, batch: str, model_version: str):
        self.folder = (
            Path(checkpoint_dir) / f"{batch}{_SEPARATOR}{model_version}" if checkpoint_dir else None
        )

    def _parts(self, kind: str) -> list[Path]:
        return sorted(self.folder.glob(f"{kind}-*.parquet")) if self.folder else []

    def load(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """What earlier runs scored (rows, features); empty frames when nothing. Only complete parts
        count: a part is renamed into place after its features, so a run killed while writing leaves
        at most a temporary file or features without their part, both ignored."""
        rows, features = [], []
        for part in self._parts("part"):
            number = part.stem.removeprefix("part-")
            companion = part.with_name(f"features-{number}.parquet")
            if companion.is_file():
                rows.append(pd.read_parquet(part))
                features.append(pd.read_parquet(companion))
        return (
            pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(),
            pd.concat(features, ignore_index=True) if features else pd.DataFrame(),
        )

    def add(self, predictions: pd.DataFrame, features: pd.DataFrame) -> None:
        if self.folder is None or predictions.empty:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        number = f"{len(self._parts('part')):05d}"
        # each file is written under a temporary name and renamed (atomic), the features first
        for name, frame in ((f"features-{number}", features), (f"part-{number}", predictions)):
            tmp = self.folder / f".{name}.parquet.tmp"
            frame.to_parquet(tmp, index=False)
            tmp.replace(self.folder / f"{name}.parquet")

    def clear(self) -> None:
        if self.folder is not None and self.folder.exists():
            shutil.rmtree(self.folder)
