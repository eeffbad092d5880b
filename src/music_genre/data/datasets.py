"""Kedro datasets for files a run may not have written yet: loading a missing one gives an empty value;
the champion's copies written atomically; the served model's copy private to the run that writes it."""

from __future__ import annotations

import contextlib
import os
import time
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import ParquetDataset
from kedro_datasets.pickle import PickleDataset


@contextmanager
def _written_aside(dataset):
    """Save ``dataset`` to a temporary name beside its file, then rename it into place (atomic on a local
    file system): a reader in another process (the batch job, the CLI, the page loading the champion
    while a run promotes) sees the old file or the new one, never half of one."""
    final = dataset._filepath
    if getattr(dataset, "_protocol", "file") != "file" or getattr(dataset, "_version", None):
        yield
        return
    temporary = PurePosixPath(final).with_name(f".{final.name}.{os.getpid()}.tmp")
    dataset._filepath = temporary
    try:
        yield
    except BaseException:  # a failed save leaves the old file as it was, and nothing beside it
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    finally:
        dataset._filepath = final
    os.replace(temporary, final)
    dataset._invalidate_cache()


class OptionalJSONDataset(JSONDataset):
    """A JSON file that may not exist yet: loading a missing file gives ``{}``; written atomically.

    For inputs that an optional pipeline writes (tuned hyperparameters): ``modeling`` runs whether or not
    ``tuning`` ever ran, and decides from parameters whether to use what it finds.
    """

    def load(self) -> Any:
        if not self._exists():
            return {}
        return super().load()

    def save(self, data: Any) -> None:
        with _written_aside(self):
            super().save(data)


class OptionalParquetDataset(ParquetDataset):
    """A Parquet table that may not exist yet: loading a missing file gives an empty frame.

    For tables a pipeline appends to (batch predictions): the first run finds nothing to append to.
    """

    def load(self) -> pd.DataFrame:
        if not self._exists():
            return pd.DataFrame()
        return super().load()

    def save(self, data: pd.DataFrame) -> None:
        # the whole table is rewritten on every append: a save that fails half-way (a column Parquet
        # cannot store) must leave the previous predictions intact, not an empty file
        with _written_aside(self):
            super().save(data)


class OptionalPickleDataset(PickleDataset):
    """A pickle that may not exist yet (the fallback model before any promotion): loads as None; written
    atomically (the champion's copy is read by other processes while a run promotes)."""

    def load(self) -> Any:
        if not self._exists():
            return None
        return super().load()

    def save(self, data: Any) -> None:
        with _written_aside(self):
            super().save(data)


_PROCESS = f"{os.getpid()}-{time.strftime('%Y%m%dT%H%M%S')}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class RunPickleDataset(PickleDataset):
    """A pickle private to the process that writes it: ``<folder>/<pid>-<start>/<name>`` for the
    configured ``<folder>/<name>``. For the copy of the model that kedro-mlflow ships inside the served
    MLflow model at the end of a training run: two runs at once on one dataset each ship their own model,
    not whichever saved last. Saving removes the folders of processes that have ended (their models are
    in MLflow by then), so at most one copy per running process stays on disk."""

    def __init__(self, *, filepath: str, **kwargs: Any):
        path = Path(filepath)
        self._runs_root = path.parent
        super().__init__(filepath=str(path.parent / _PROCESS / path.name), **kwargs)

    def save(self, data: Any) -> None:
        import shutil

        if self._runs_root.is_dir():
            for folder in self._runs_root.iterdir():
                pid = folder.name.split("-", 1)[0]
                if folder.is_dir() and pid.isdigit() and not _alive(int(pid)):
                    shutil.rmtree(folder, ignore_errors=True)
            stale = self._runs_root / Path(str(self._filepath)).name  # the shared copy of before
            stale.unlink(missing_ok=True)
        super().save(data)
