"""Outlier exposure next to the familiarity distance: synthesized non-music of every family, and a check
that flags what lies near the music but looks like the negatives it was shown."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from music_genre.modeling import familiarity, outlier_exposure


@pytest.mark.parametrize("family", outlier_exposure.FAMILIES)
def test_every_family_synthesizes_a_finite_signal(family):
    if family == "speech" and not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    signal = outlier_exposure.odd_signal(family, seed=3, seconds=2.0)
    assert signal.dtype == np.float32 and signal.shape == (2 * outlier_exposure.RATE,)
    assert np.isfinite(signal).all() and 0 < np.abs(signal).max() <= 1.0
    again = outlier_exposure.odd_signal(family, seed=3, seconds=2.0)
    np.testing.assert_array_equal(signal, again)  # seeded: the same negatives every run


def _frames(rng, n, centre):
    return pd.DataFrame(rng.normal(centre, 1.0, size=(n, 6)), columns=[f"f{i}" for i in range(6)])


def test_outlier_exposure_flags_what_the_distance_misses():
    rng = np.random.default_rng(0)
    columns = [f"f{i}" for i in range(6)]
    music = np.zeros(6)
    odd = np.r_[2.5, np.zeros(5)]  # near the music: inside the distance check's reach
    train, valid = _frames(rng, 200, music), _frames(rng, 40, music)
    negatives = _frames(rng, 200, odd).assign(family="hum")
    plain = familiarity.fit_familiarity(train, valid, columns, 0.03, min_calibration=0)
    exposed = familiarity.fit_familiarity(train, valid, columns, 0.03, min_calibration=0,
                                          negatives=negatives)  # fmt: skip
    assert exposed["outlier"]["families"] == ["hum"] and "outlier" not in plain
    held_out_odd = _frames(rng, 200, odd)
    held_out_music = _frames(rng, 200, music)
    by_distance = familiarity.is_unfamiliar(familiarity.familiarity_scores(plain, held_out_odd))
    by_both = familiarity.is_unfamiliar(familiarity.familiarity_scores(exposed, held_out_odd))
    music_flags = familiarity.is_unfamiliar(familiarity.familiarity_scores(exposed, held_out_music))
    assert by_both.mean() > by_distance.mean() + 0.3
    assert by_both.mean() >= 0.6
    assert music_flags.mean() <= 0.15


def test_the_stored_statistics_are_plain_data():
    rng = np.random.default_rng(1)
    columns = [f"f{i}" for i in range(6)]
    stats = familiarity.fit_familiarity(
        _frames(rng, 50, 0.0), _frames(rng, 10, 0.0), columns, 0.05,
        negatives=_frames(rng, 30, 3.0).assign(family="tone"),
    )  # fmt: skip
    outlier = stats["outlier"]
    assert isinstance(outlier["coef"], list) and isinstance(outlier["threshold"], float)
    assert outlier["threshold"] >= 0.5


def test_mp3_round_trip_keeps_the_length_and_loses_detail():
    signal = outlier_exposure.odd_signal("babble", seed=5, seconds=2.0)
    coarse = outlier_exposure.mp3_round_trip(signal, 0.9)
    fine = outlier_exposure.mp3_round_trip(signal, 0.0)
    assert coarse.shape == signal.shape == fine.shape and np.isfinite(coarse).all()
    assert np.abs(coarse).max() > 0.1 * np.abs(signal).max()
    assert np.mean((coarse - signal) ** 2) > np.mean(
        (fine - signal) ** 2
    )  # lower bitrate, more lost


def test_a_share_of_the_negatives_passes_through_mp3():
    seen = []

    def extract(signal, rate):
        seen.append(signal)
        return pd.Series({"f0": float(np.abs(signal).mean())})

    plain = outlier_exposure.negative_features(extract, ["syllabic_noise"], 4, 1.0, mp3_share=0.0)
    raw = list(seen)
    seen.clear()
    mixed = outlier_exposure.negative_features(extract, ["syllabic_noise"], 4, 1.0, mp3_share=1.0)
    assert list(plain["family"]) == list(mixed["family"]) == ["syllabic_noise"] * 4
    assert all(not np.array_equal(a, b) for a, b in zip(raw, seen, strict=True))
    assert all(a.shape == b.shape for a, b in zip(raw, seen, strict=True))
