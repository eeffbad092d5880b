"""Which files a batch-inference run scores, and what is known about a batch afterwards.

A batch is a day (or N days) of held-out new releases (``new_releases``, made by ingestion), a folder
named on the command line, or, for a project without new releases, the manifest's test split. The daily
job takes the oldest batch nobody has scored yet; a batch a killed run left half-done comes first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from music_genre.common.errors import ExpectedError
from music_genre.data import audio, inputs

log = logging.getLogger(__name__)

TEST_SPLIT_BATCH = "test"
INPUT_COLUMNS = ["path", "track_id", "fingerprint", "batch"]


class NoSuchBatchError(ExpectedError, LookupError):
    """``inference.batch`` names a batch the new releases do not have."""


class NothingToScoreError(ExpectedError, FileNotFoundError):
    """No folder to score and no manifest to take the test split from, or a folder without audio."""


def _inputs(paths: Iterable[str], track_ids: Iterable, batch: str) -> pd.DataFrame:
    frame = pd.DataFrame({"path": [str(p) for p in paths], "track_id": list(track_ids)})
    frame["fingerprint"] = [
        audio.fingerprint(path) if Path(path).is_file() else "missing" for path in frame["path"]
    ]
    frame["batch"] = batch
    return frame[INPUT_COLUMNS]


def folder_inputs(input_dir: str, batch: str | None) -> pd.DataFrame:
    """Every audio file under a folder, as one batch (named by ``batch``, else today's UTC date)."""
    files, errors = inputs.collect_audio_paths([input_dir])
    if errors and not files:
        raise NothingToScoreError(f"inference.input_dir {input_dir}: {errors[0].message}")
    name = str(batch) if batch else datetime.now(UTC).strftime("%Y-%m-%d")
    return _inputs(files, [inputs.track_id_for(p) for p in files], name)


def scored_batches(predictions: pd.DataFrame) -> set[str]:
    if predictions.empty or "batch" not in predictions:
        return set()
    return set(predictions["batch"].dropna().astype(str))


def next_batch(
    new_releases: pd.DataFrame, predictions: pd.DataFrame, unfinished: Iterable[str] = ()
) -> str | None:
    """The batch to score now: one a killed run left unfinished, else the oldest that no model has
    scored yet; None when every batch is scored."""
    batches = sorted(new_releases["batch"].astype(str).unique())
    pending = [b for b in unfinished if b in batches]
    if pending:
        return sorted(pending)[0]
    done = scored_batches(predictions)
    return next((b for b in batches if b not in done), None)


def select_inputs(
    manifest: pd.DataFrame,
    new_releases: pd.DataFrame,
    predictions: pd.DataFrame,
    params: Mapping,
    unfinished: Iterable[str] = (),
) -> pd.DataFrame:
    """The files of the batch to score (columns path, track_id, fingerprint, batch); empty when every
    new-release batch is already scored."""
    if params.get("input_dir"):
        return folder_inputs(params["input_dir"], params.get("batch"))
    if not new_releases.empty:
        wanted = params.get("batch")
        batch = str(wanted) if wanted else next_batch(new_releases, predictions, unfinished)
        if batch is None:
            log.info(
                "Every new-release batch (%d, up to %s) is scored already: nothing new to score",
                new_releases["batch"].nunique(),
                new_releases["batch"].max(),
            )
            return pd.DataFrame(columns=INPUT_COLUMNS)
        rows = new_releases[new_releases["batch"].astype(str) == batch]
        if rows.empty:
            raise NoSuchBatchError(
                f"no new-release batch {batch}: batches run from {new_releases['batch'].min()} to "
                f"{new_releases['batch'].max()} ({new_releases['batch'].nunique()} of them)"
            )
        return _inputs(rows["path"], rows["track_id"], batch)
    if manifest.empty:
        raise NothingToScoreError(
            "no manifest to take the test split from: run `kedro run --pipelines=data_ingestion` first, "
            "or score a folder with --params=inference.input_dir=/abs/path"
        )
    wanted = params.get("batch")
    if wanted and str(wanted) != TEST_SPLIT_BATCH:
        raise NoSuchBatchError(
            f"no new-release batch {wanted}: this dataset holds none out "
            "(data_ingestion.new_releases.holdout is 0)"
        )
    test = manifest[manifest["split"] == "test"]
    return _inputs(test["path"], test["track_id"], TEST_SPLIT_BATCH)


def batch_labels(
    batch_rows: pd.DataFrame,
    new_releases: pd.DataFrame,
    manifest: pd.DataFrame,
    labels_csv: str | None,
) -> pd.Series:
    """The true genre of each scored row where it is known (else missing), by path: a labels CSV
    (columns ``path`` or ``track_id``, and ``genre``) wins over the dataset's own metadata."""
    known = pd.Series(dtype=object)
    for table in (manifest, new_releases):
        if not table.empty and {"path", "genre"} <= set(table.columns):
            known = pd.concat([known, table.set_index("path")["genre"]])
    labels = batch_rows["path"].map(known[~known.index.duplicated(keep="last")])
    if labels_csv:
        path = Path(labels_csv)
        if not path.is_file():
            raise ExpectedError(f"monitoring.labels_csv {labels_csv}: no such file")
        given = pd.read_csv(path, dtype=str)
        if "genre" not in given or not ({"path", "track_id"} & set(given.columns)):
            raise ExpectedError(
                f"monitoring.labels_csv {labels_csv}: needs a 'genre' column and a 'path' or "
                "'track_id' column"
            )
        key = "path" if "path" in given else "track_id"
        mapping = given.drop_duplicates(key, keep="last").set_index(key)["genre"]
        from_csv = batch_rows[key].astype(str).map(mapping)
        labels = from_csv.where(from_csv.notna(), labels)
    return labels
