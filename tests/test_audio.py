"""Decoding and the cheap file check, on real files: every fault is named, none is fatal."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from music_genre.data import audio


def _tone(seconds: float, rate: int = 44100, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.3 * np.sin(2 * np.pi * 220 * t)
    return np.stack([mono] * channels, axis=1).astype(np.float32)


def _mp3(path, seconds=4.0, rate=44100):
    import lameenc

    pcm = (_tone(seconds, rate) * 32767).astype("<i2").tobytes()
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(128)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(2)
    encoder.set_quality(7)
    path.write_bytes(encoder.encode(pcm) + encoder.flush())
    return path


def test_probe_reads_a_good_mp3(tmp_path):
    info = audio.probe(_mp3(tmp_path / "ok.mp3", seconds=4.0), min_duration=3.0)
    assert info.sample_rate == 44100 and info.channels == 2
    assert 3.9 < info.duration < 4.2


@pytest.mark.parametrize(
    ("make", "reason", "words"),
    [
        (lambda p: p, audio.MISSING_FILE, "not found"),
        (lambda p: p.write_bytes(b""), audio.EMPTY_FILE, "empty"),
        (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4096)), audio.UNREADABLE, "header"),
    ],
)
def test_probe_names_each_fault(tmp_path, make, reason, words):
    path = tmp_path / "bad.mp3"
    make(path)
    with pytest.raises(audio.AudioError) as caught:
        audio.probe(path)
    assert caught.value.reason == reason
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_probe_spots_an_mp3_cut_mid_frame(tmp_path):
    whole = _mp3(tmp_path / "whole.mp3", seconds=6.0).read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole[: int(len(whole) * 0.4) + 7])
    assert audio.mp3_truncated_bytes(tmp_path / "whole.mp3") == 0
    assert audio.mp3_truncated_bytes(cut) > 0
    with pytest.raises(audio.AudioError) as caught:
        audio.probe(cut)
    assert caught.value.reason == audio.TRUNCATED


def test_probe_spots_a_truncated_flac(tmp_path):
    path = tmp_path / "song.flac"
    sf.write(path, _tone(5.0, 22050, 1), 22050)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(audio.AudioError) as caught:
        audio.probe(path)
    assert caught.value.reason in (audio.TRUNCATED, audio.UNREADABLE)


def test_probe_rejects_short_clips(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, _tone(2.0, 22050, 1), 22050)
    with pytest.raises(audio.AudioError) as caught:
        audio.probe(path, min_duration=20.0)
    assert caught.value.reason == audio.TOO_SHORT
    assert "2.0 s" in str(caught.value) and "20 s" in str(caught.value)


def test_load_gives_mono_float32_at_the_asked_rate(tmp_path):
    path = _mp3(tmp_path / "ok.mp3", seconds=3.0)
    signal = audio.load(path, sample_rate=22050)
    assert signal.dtype == np.float32 and signal.ndim == 1
    assert abs(len(signal) - 3.0 * 22050) < 0.05 * 22050
    window = audio.load(path, sample_rate=22050, offset=1.0, duration=1.0)
    assert len(window) == 22050
    # a 220 Hz tone stays a 220 Hz tone through decoding and resampling
    spectrum = np.abs(np.fft.rfft(window))
    assert abs(np.argmax(spectrum) * 22050 / len(window) - 220) < 2


def test_load_native_rate(tmp_path):
    signal, rate = audio.load_with_rate(_mp3(tmp_path / "ok.mp3", seconds=2.0), sample_rate=None)
    assert rate == 44100 and signal.ndim == 1


def test_fingerprint_follows_content_not_location(tmp_path):
    first = _mp3(tmp_path / "a.mp3", seconds=2.0)
    moved = tmp_path / "sub" / "b.mp3"
    moved.parent.mkdir()
    moved.write_bytes(first.read_bytes())
    assert audio.fingerprint(first) == audio.fingerprint(moved)
    changed = bytearray(first.read_bytes())
    changed[-100] ^= 0xFF
    moved.write_bytes(bytes(changed))
    assert audio.fingerprint(first) != audio.fingerprint(moved)


def test_real_clips_probe_and_decode(shared_gtzan, shared_fma_excerpt):
    fma_clip = shared_fma_excerpt / "fma_small" / "000" / "000002.mp3"
    info = audio.probe(fma_clip, min_duration=20.0)
    assert (info.sample_rate, info.channels) == (44100, 2)
    assert 29.5 < info.duration < 30.5
    wav = shared_gtzan / "blues" / "blues.00000.wav"
    info = audio.probe(wav, min_duration=20.0)
    assert (info.sample_rate, info.channels) == (22050, 1)
    signal = audio.load(fma_clip, sample_rate=22050)
    assert 29.5 * 22050 < len(signal) < 30.5 * 22050
    assert 0.01 < float(np.sqrt(np.mean(signal**2))) < 1.0


def test_an_mp3_without_a_frame_count_is_whole_though_its_length_is_estimated(tmp_path):
    """A 64 kb/s mono MP3 from LAME without a Xing/Info frame: libsndfile estimates its length from the
    file size and overshoots by ~0.14 s. That is not a truncated file (a new recording's usual format)."""
    import lameenc

    rate = 22050
    signal = np.clip(_tone(30.0, rate, 1), -1, 1)
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(64)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(2)
    data = encoder.encode((signal * 32767).astype(np.int16).tobytes()) + encoder.flush()
    path = tmp_path / "low_bitrate.mp3"
    path.write_bytes(data)
    announced = sf.info(path).frames / rate
    decoded = len(audio.load(path, sample_rate=None))
    assert 0.05 < announced - decoded / rate < audio.LENGTH_SLACK_SECONDS  # the estimate overshoots
    info = audio.probe(path, min_duration=20.0)
    assert info.duration == pytest.approx(announced, abs=1e-3)
    # a real cut is still one: the same file missing its last third
    path.write_bytes(data[: 2 * len(data) // 3])
    with pytest.raises(audio.AudioError) as caught:
        audio.probe(path)
    assert caught.value.reason == audio.TRUNCATED
