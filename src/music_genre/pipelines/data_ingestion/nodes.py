"""Thin nodes over :mod:`music_genre.data.ingestion`."""

from __future__ import annotations

import logging

import pandas as pd

from music_genre.common.run_logging import DETAIL
from music_genre.data import ingestion
from music_genre.data.genre_vocabulary import VOCABULARY_COLUMNS

log = logging.getLogger(__name__)


def locate_raw_dataset(dataset: dict, sample_data: dict) -> dict:
    """Find the raw data; on the built-in sample environment, synthesize the sample if it is missing."""
    if dataset.get("make_sample_if_missing"):
        from music_genre.sample import ensure_sample_archive

        ensure_sample_archive(dataset["root"], **sample_data)
    return ingestion.locate_dataset(dataset)


def list_tracks(
    raw_dataset: dict, task: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The candidate tracks; a task that learns every genre of a track (``modeling.task``) also keeps
    FMA's tracks of several top-level genres, and refuses a collection it cannot learn from.

    Args:
        raw_dataset: the located dataset (``locate_raw_dataset``).
        task: ``modeling.task``.

    Returns:
        The candidate tracks, the tracks their metadata excludes (a library's untagged files: the ones
        to tag) and the genre vocabulary (a library's raw tags and what each became; empty elsewhere).
    """
    from music_genre.modeling.tasks import get_task

    chosen = get_task(task)
    chosen.check_collection(raw_dataset)
    if raw_dataset["format"] == "tags":
        tracks, exclusions, vocabulary = ingestion.list_library(raw_dataset)
        for row in vocabulary.itertuples(index=False):
            log.info("Genre tag %r (%d files): %s", row.raw_tag, row.files,
                     f"{row.how} -> {row.became}" if row.became else row.how, extra=DETAIL)  # fmt: skip
    else:
        tracks, exclusions = ingestion.list_tracks(
            raw_dataset, keep_multi_genre=chosen.keeps_multi_genre_tracks
        )
        vocabulary = pd.DataFrame(columns=VOCABULARY_COLUMNS)
    log.info(
        "Listed %d tracks in %s: %d candidates, %d excluded by their metadata",
        len(tracks) + len(exclusions),
        raw_dataset["root"],
        len(tracks),
        len(exclusions),
        extra=DETAIL,
    )
    return tracks, exclusions, vocabulary


def check_audio_files(tracks: pd.DataFrame, ingestion_params: dict) -> pd.DataFrame:
    return ingestion.check_audio_files(tracks, float(ingestion_params["min_duration_s"]))


def assign_splits(checked_tracks: pd.DataFrame, ingestion_params: dict) -> pd.DataFrame:
    return ingestion.assign_splits(checked_tracks, ingestion_params.get("split", {}))


def build_manifest(
    split_tracks: pd.DataFrame, metadata_exclusions: pd.DataFrame, dataset: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    manifest, exclusions = ingestion.build_manifest(split_tracks, metadata_exclusions)
    for line in ingestion.exclusion_lines(
        exclusions
    ):  # one per reason; every track in `exclusions`
        log.info(line)
    if manifest.empty and not exclusions.empty:  # nothing left to learn from: say why, in one line
        from music_genre.common.errors import ExpectedError

        counts = exclusions["reason"].value_counts()
        first = exclusions.iloc[0]
        raise ExpectedError(
            f"none of the {len(exclusions)} tracks is usable: "
            + ", ".join(f"{n} {reason}" for reason, n in counts.items())
            + f" (e.g. {first['track_id']}: {first['detail']})"
        )
    return manifest, exclusions


def hold_out_new_releases(
    usable_tracks: pd.DataFrame, ingestion_params: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The manifest training uses, and the newest tracks held out as dated batches of new releases."""
    return ingestion.hold_out_new_releases(
        usable_tracks, ingestion_params.get("new_releases") or {}
    )


def summarize_ingestion(
    manifest: pd.DataFrame, exclusions: pd.DataFrame, new_releases: pd.DataFrame, dataset: dict
) -> dict:
    """The one line a user reads after ingestion, also kept as a small JSON report."""
    line = ingestion.summarize(dataset.get("name", "dataset"), manifest, exclusions)
    if not new_releases.empty:
        line += f"; {len(new_releases)} new releases held out in {new_releases['batch'].nunique()} batches"
    log.info(line)
    return {
        "summary": line,
        "tracks": len(manifest),
        "excluded": len(exclusions),
        "new_releases": len(new_releases),
        "batches": sorted(new_releases["batch"].unique().tolist())
        if not new_releases.empty
        else [],
    }
