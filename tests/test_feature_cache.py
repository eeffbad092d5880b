"""The Parquet feature cache: atomic parts, keys, compaction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from music_genre.features.feature_cache import STATUS_FAILED, STATUS_OK, Batch, FeatureCache

COLUMNS = ["mfcc_mean_01", "zcr_std_01", "tempo"]


def _batch(start: int, size: int, failed_every: int = 0) -> Batch:
    meta, values = [], np.zeros((size, len(COLUMNS)), dtype=np.float32)
    for i in range(size):
        track = start + i
        failed = failed_every and track % failed_every == 0
        meta.append(
            {
                "track_id": str(track),
                "fingerprint": f"fp{track}",
                "status": STATUS_FAILED if failed else STATUS_OK,
                "reason": "decode_error" if failed else None,
                "error": "cannot decode audio: bad frame" if failed else None,
            }
        )
        values[i] = np.nan if failed else [track, track / 10, 120 + track]
    return Batch(pd.DataFrame(meta), values, COLUMNS)


def test_batches_round_trip_with_names_and_failures(tmp_path):
    cache = FeatureCache(tmp_path, "abc123")
    cache.write_batch(_batch(0, 5, failed_every=3))
    rows = cache.load().set_index("track_id")
    assert list(rows.columns[4:]) == COLUMNS
    assert rows.loc["4", "tempo"] == 124 and rows.loc["4", "status"] == STATUS_OK
    assert rows.loc["3", "status"] == STATUS_FAILED and rows.loc["3", "reason"] == "decode_error"
    assert np.isnan(rows.loc["3", "tempo"])
    assert cache.cached_keys() == {(str(i), f"fp{i}") for i in range(5)}
    assert cache.cached_keys(include_failures=False) == {("1", "fp1"), ("2", "fp2"), ("4", "fp4")}
    assert not list(tmp_path.rglob(".*.tmp"))


def test_compaction_keeps_every_row_once(tmp_path):
    cache = FeatureCache(tmp_path, "abc123")
    for start in range(0, 70 * 3, 3):
        cache.write_batch(_batch(start, 3, failed_every=7))
    before = cache.load().sort_values("track_id").reset_index(drop=True)
    cache.compact(min_parts=64)
    parts = list(cache.directory.glob("*.parquet"))
    assert len(parts) == 1
    after = cache.load().sort_values("track_id").reset_index(drop=True)
    assert len(after) == 210 and after["track_id"].is_unique
    pd.testing.assert_frame_equal(before, after)


def test_settings_digest_separates_caches(tmp_path):
    FeatureCache(tmp_path, "one").write_batch(_batch(0, 2))
    assert FeatureCache(tmp_path, "two").load().empty
    assert len(FeatureCache(tmp_path, "one").load()) == 2
