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
        """What earlier runs scored (rows, features); empty frames when nothing."""
        frames = []
        for kind in ("part", "features"):
            parts = [pd.read_parquet(p) for p in self._parts(kind)]
            frames.append(pd.concat(parts, ignore_index=True) if parts else pd.DataFrame())
        return frames[0], frames[1]

    def add(self, predictions: pd.DataFrame, features: pd.DataFrame) -> None:
        if self.folder is None or predictions.empty:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        number = len(self._parts("part"))
        # features first: a part without its features is never read as complete
        features.to_parquet(self.folder / f"features-{number:05d}.parquet", index=False)
        tmp = self.folder / f".part-{number:05d}.parquet.tmp"
        predictions.to_parquet(tmp, index=False)
        tmp.replace(self.folder / f"part-{number:05d}.parquet")

    def clear(self) -> None:
        if self.folder is not None and self.folder.exists():
            shutil.rmtree(self.folder)
