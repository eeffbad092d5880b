"""An incremental Parquet cache of extracted features, one folder per feature-settings digest.

Each finished batch is one Parquet part file, written atomically (temp name, then rename), so a run killed
part-way keeps every finished batch and the next run extracts only what is missing. Rows are keyed by
track id and the file's content fingerprint: a replaced file is extracted again, a moved one is not.
Changing a setting changes the digest and so the folder: other settings' caches stay as they were.
Failed tracks are cached too (status ``failed`` with the reason), so a corrupt file is not decoded again on
every run; ``retry_failures`` asks for them again.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

KEY_COLUMNS = ["track_id", "fingerprint"]
STATUS_OK = "ok"
STATUS_FAILED = "failed"
META_COLUMNS = KEY_COLUMNS + ["status", "reason", "error"]
VALUES_COLUMN = "values"  # one fixed-size float32 list per row: cheap to write, batch after batch
_COLUMNS_KEY = b"music_genre.feature_columns"


class FeatureCache:
    def __init__(self, root: str | os.PathLike, digest: str):
        self.directory = Path(root) / digest
        self.digest = digest

    def _parts(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.parquet"))

    def _read_parts(self, read) -> tuple[list[Path], list]:
        """``read`` of every part file, and the parts read. Another run on the same dataset may compact
        the cache meanwhile: it writes the merged part before it deletes the ones merged, so when a part
        vanishes under us the listing is read again and finds the merged part instead."""
        for _ in range(20):
            parts = self._parts()
            try:
                return parts, [read(part) for part in parts]
            except FileNotFoundError:
                continue
        parts = self._parts()
        return parts, [read(part) for part in parts]

    def load(self) -> pd.DataFrame:
        """Every cached row, wide (meta columns then one column per feature); where a track was stored
        twice (a compaction racing a crash, or two runs extracting the same track), the last wins."""
        return self._load()[1]

    def _load(self) -> tuple[list[Path], pd.DataFrame]:
        parts, frames = self._read_parts(read_part)
        if not parts:
            return parts, pd.DataFrame(columns=META_COLUMNS)
        frame = pd.concat(frames, ignore_index=True)
        return parts, frame.drop_duplicates(subset=KEY_COLUMNS, keep="last").reset_index(drop=True)

    def cached_keys(self, include_failures: bool = True) -> set[tuple[str, str]]:
        _, frames = self._read_parts(
            lambda part: pd.read_parquet(part, columns=KEY_COLUMNS + ["status"])
        )
        keys: set[tuple[str, str]] = set()
        for frame in frames:
            if not include_failures:
                frame = frame[frame["status"] == STATUS_OK]
            keys.update(zip(frame["track_id"], frame["fingerprint"], strict=True))
        return keys

    def write_batch(self, batch: Batch) -> Path:
        """Store one finished batch; visible to readers only once complete."""
        import pyarrow.parquet as pq

        self.directory.mkdir(parents=True, exist_ok=True)
        name = (
            f"part-{pd.Timestamp.now(tz='UTC').strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
        )
        final = self.directory / f"{name}.parquet"
        temporary = self.directory / f".{name}.tmp"
        pq.write_table(batch.to_arrow(), temporary)
        os.replace(temporary, final)
        return final

    def compact(self, min_parts: int = 64) -> None:
        """Fold many small part files into one, so loading a large cache stays quick."""
        if len(self._parts()) < min_parts:
            return
        parts, merged = self._load()  # deletes exactly the parts it merged, after writing the merge
        self.write_batch(Batch.from_wide(merged))
        for part in parts:
            part.unlink(missing_ok=True)


class Batch:
    """One batch of results: meta columns per track plus a (tracks x features) float32 matrix.

    Workers return this (small to ship), the cache stores it as one fixed-size list column, so writing a
    batch costs a few milliseconds instead of converting hundreds of pandas columns.
    """

    def __init__(self, meta: pd.DataFrame, values: np.ndarray, columns: list[str]):
        self.meta = meta[META_COLUMNS].reset_index(drop=True)
        self.values = np.asarray(values, dtype=np.float32).reshape(len(meta), len(columns))
        self.columns = list(columns)

    def __len__(self) -> int:
        return len(self.meta)

    @property
    def failed(self) -> int:
        return int((self.meta["status"] == STATUS_FAILED).sum())

    def to_arrow(self):
        import pyarrow as pa

        arrays = [pa.array(_texts(self.meta[c]), type=pa.string()) for c in META_COLUMNS]
        flat = pa.array(self.values.reshape(-1), type=pa.float32())
        arrays.append(pa.FixedSizeListArray.from_arrays(flat, max(1, len(self.columns))))
        table = pa.Table.from_arrays(arrays, names=[*META_COLUMNS, VALUES_COLUMN])
        return table.replace_schema_metadata({_COLUMNS_KEY: json.dumps(self.columns).encode()})

    def to_wide(self) -> pd.DataFrame:
        values = pd.DataFrame(self.values, columns=self.columns)
        return pd.concat([self.meta, values], axis=1)

    @classmethod
    def from_wide(cls, frame: pd.DataFrame) -> Batch:
        columns = [c for c in frame.columns if c not in META_COLUMNS]
        return cls(frame, frame[columns].to_numpy(dtype=np.float32), columns)


def _texts(column: pd.Series) -> list[str | None]:
    """Text or None per row (a pandas concat turns None into NaN, which Arrow's string type refuses)."""
    return [None if value is None or value != value else str(value) for value in column.tolist()]


def read_part(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    metadata = table.schema.metadata or {}
    if _COLUMNS_KEY not in metadata:  # a part written as one column per feature (the first format)
        return table.to_pandas()
    columns = json.loads(metadata[_COLUMNS_KEY])
    meta = table.select(META_COLUMNS).to_pandas()
    flat = table.column(VALUES_COLUMN).combine_chunks().flatten().to_numpy(zero_copy_only=False)
    width = max(1, len(columns))
    values = flat.reshape(len(meta), width)[:, : len(columns)]
    return Batch(meta, values, columns).to_wide()
