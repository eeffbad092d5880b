"""The fma_small-size rehearsal's parts, on a tiny size: the linked FMA-shaped collection that
``benchmarks/scale.py --fma-tracks`` builds, the fma_large-size tracks.csv of ``--fma-large``, and the
per-node times that ``NodeTimesHook`` logs and the benchmark reads back from info.log."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, require_shared

BENCHMARKS = PROJECT_ROOT / "benchmarks"


@pytest.fixture
def benchmarks_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    yield
    for name in ("_fma_collection", "scale", "_measure"):
        sys.modules.pop(name, None)


@pytest.mark.shared
def test_linked_fma_small_collection_has_fma_layout_and_passes_ingestion(tmp_path, benchmarks_path):
    require_shared("data")
    import _fma_collection as collection
    from music_genre.data import audio, fma, ingestion

    clips = collection.source_clips(tmp_path / "clips", limit=3)  # the fma_small MP3 + 2 transcoded
    assert [c.suffix for c in clips] == [".mp3"] * 3
    built = collection.build_fma_small(tmp_path / "fma", 16, clips)

    tracks = fma.read_tracks(tmp_path / "fma" / "fma_metadata" / "tracks.csv")
    small = tracks[tracks[("set", "subset")] == "small"]
    assert built["small_tracks"] == len(small) == 16
    assert small[("track", "genre_top")].value_counts().to_dict() == dict.fromkeys(
        small[("track", "genre_top")].unique(), 2
    )
    assert fma.read_genres(tmp_path / "fma" / "fma_metadata" / "genres.csv") is not None

    faults = {kind: ids[0] for kind, ids in built["faults"].items()}
    assert set(faults) == {"missing_file", "empty_file", "truncated", "too_short"}
    audio_root = tmp_path / "fma" / "fma_small"
    assert built["links"]["hard"] == 12
    for track_id in small.index:
        path = audio_root / f"{track_id:06d}"[:3] / f"{track_id:06d}.mp3"
        if track_id == faults["missing_file"]:
            assert not path.exists()
        elif track_id in faults.values():
            assert path.is_file() and path.stat().st_nlink == 1
        else:  # a hard link to one of the real clips
            assert path.stat().st_nlink >= 2
            assert any(os.path.samefile(path, clip) for clip in clips)

    location = ingestion.locate_dataset(
        {
            "format": "fma",
            "root": str(tmp_path / "fma"),
            "audio_dir": "fma_small",
            "subset": "small",
        }
    )
    candidates, _ = ingestion.list_tracks(location)
    checked = ingestion.check_audio_files(candidates, min_duration_s=20.0)
    usable = checked[checked["ok"]]
    assert len(usable) == 12
    assert set(usable["sample_rate"]) == {44100} and set(usable["channels"]) == {2}
    assert usable["duration"].between(29.5, 30.5).all()
    reasons = dict(zip(checked["track_id"].astype(int), checked["reason"], strict=True))
    assert {kind: reasons[tid] for kind, tid in faults.items()} == {
        "missing_file": audio.MISSING_FILE,
        "empty_file": audio.EMPTY_FILE,
        "truncated": audio.TRUNCATED,
        "too_short": audio.TOO_SHORT,
    }


def test_fma_large_size_tracks_csv_has_fma_large_proportions(tmp_path, benchmarks_path):
    import _fma_collection as collection
    from music_genre.data import fma

    built = collection.build_fma_large(tmp_path / "fma", None, rows=2_000)
    tracks = fma.read_tracks(tmp_path / "fma" / "fma_metadata" / "tracks.csv")
    assert len(tracks) == built["tracks_csv_rows"] == 2_000
    assert tracks.index.is_unique and tracks.index.min() >= 2
    assert tracks.index.max() <= collection.MAX_TRACK_ID
    with_top = tracks[("track", "genre_top")].notna()
    assert with_top.sum() == round(2_000 * 49_598 / 106_574)
    subsets = tracks[("set", "subset")]
    assert (subsets == "small").sum() == round(2_000 * 8_000 / 106_574)
    assert (subsets == "medium").sum() == round(2_000 * 17_000 / 106_574)
    assert subsets[~with_top].eq("large").all()  # small and medium tracks all have a genre_top
    assert tracks[("track", "genre_top")].nunique() == 16
    assert not (tmp_path / "fma" / "fma_large").exists()  # metadata only without clips


def test_node_times_hook_logs_one_time_per_node_that_the_benchmark_reads(tmp_path, benchmarks_path):
    from kedro.framework.hooks.manager import _create_hook_manager
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.pipeline import Node, Pipeline
    from kedro.runner import SequentialRunner

    from music_genre.hooks.timing import NodeTimesHook

    def slow_double(x):
        import time

        time.sleep(0.05)
        return 2 * x

    pipeline = Pipeline(
        [
            Node(slow_double, "a", "b", name="first_node"),
            Node(lambda b: b + 1, "b", "c", name="second_node"),
        ]
    )
    hook_manager = _create_hook_manager()
    hook_manager.register(NodeTimesHook())
    handler = logging.FileHandler(tmp_path / "info.log")
    handler.setFormatter(logging.Formatter("%(asctime)s | %(name)s | %(levelname)s | %(message)s"))
    timing = logging.getLogger("music_genre.timing")
    timing.addHandler(handler)
    previous_level = timing.level
    timing.setLevel(logging.INFO)
    try:
        catalog = DataCatalog({"a": MemoryDataset(1), "c": MemoryDataset()})
        SequentialRunner().run(pipeline, catalog, hook_manager)
    finally:
        timing.removeHandler(handler)
        timing.setLevel(previous_level)
        handler.close()
    assert catalog.load("c") == 3

    import scale

    times = dict(scale.node_times(tmp_path))
    assert list(times) == ["first_node", "second_node"]
    assert 0.05 <= times["first_node"] < 5
    assert 0 <= times["second_node"] < times["first_node"]
    assert Path(tmp_path / "info.log").read_text().count("node_time ") == 2
