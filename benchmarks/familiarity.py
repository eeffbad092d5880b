"""How well familiarity tells music the model knows from noise, speech and silence (docs/benchmarks.md).

    python benchmarks/familiarity.py                                  # handcrafted features
    python benchmarks/familiarity.py --feature-set handcrafted+embedding

The 40 real GTZAN clips of ``../shared/data/gtzan_subset`` (4 a genre) and odd inputs made here: white and
pink noise, a log sine sweep (20 Hz-10 kHz), a steady 440 Hz tone, speech from ``espeak-ng`` (two voices,
when it is installed), 60 s of digital silence and a real clip 80 dB down.

- False flags: cross-validation by clip number. Each of 12 folds holds out one clip a genre (10), sets the
  threshold on another (10 validation clips, padded with leave-one-out scores as the model does) and takes
  the other 20 as training tracks: 120 held-out scores in all.
- Odd inputs: flagged in how many of those 12 folds, and of the 4 "whole collection" fits (30 training and
  10 validation clips, what ``kedro run --env=gtzan`` on these clips would fit).
- Silence: through ``serving.inference.window_features`` (the prediction path), with the cost of the check.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
GTZAN = REPO_ROOT.parent / "shared" / "data" / "gtzan_subset"
RATE = 22050
SPEECH = (
    "Good evening. This is the news at nine o'clock. The weather tomorrow will be dry and mild in most "
    "places, with some rain in the north later in the day. In sport, the home team won their match by "
    "two goals to one, after a late penalty. Traffic is light on the main roads tonight, and the trains "
    "are running on time. Now, over to our reporter in the city centre, where the festival opened."
)


def odd_inputs(folder: Path) -> dict[str, Path]:
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(30 * RATE) / RATE
    f0, f1 = 20.0, 10000.0
    white = rng.standard_normal(30 * RATE)
    spectrum = np.fft.rfft(white)
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))  # 1/f power
    pink = np.fft.irfft(spectrum, n=len(white))
    signals = {
        "white noise": 0.1 * white,
        "pink noise": 0.3 * pink / np.abs(pink).max(),
        "sine sweep": 0.5
        * np.sin(2 * np.pi * f0 * 30 / np.log(f1 / f0) * (np.exp(t / 30 * np.log(f1 / f0)) - 1)),
        "440 Hz tone": 0.5 * np.sin(2 * np.pi * 440 * t),
    }
    files = {}
    for name, signal in signals.items():
        files[name] = folder / f"{name.replace(' ', '_')}.wav"
        sf.write(files[name], signal.astype(np.float32), RATE, subtype="PCM_16")
    if shutil.which("espeak-ng"):
        for name, voice in (("speech (espeak-ng en)", "en"), ("speech (espeak-ng en+f3)", "en+f3")):
            files[name] = folder / f"speech_{voice.replace('+', '_')}.wav"
            subprocess.run(
                ["espeak-ng", "-v", voice, "-w", str(files[name]), SPEECH],
                check=True,
                capture_output=True,
            )
    else:
        print("espeak-ng not installed: no speech inputs (apt-get install espeak-ng)")
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feature-set", default="handcrafted")
    parser.add_argument("--flag-share", type=float, default=0.03)
    parser.add_argument("--weights", default=str(REPO_ROOT / "data/06_models/pretrained"))
    args = parser.parse_args()
    if not GTZAN.exists():
        sys.exit(f"needs {GTZAN} (the ../shared folder beside the project)")
    import soundfile as sf

    from music_genre.data import audio
    from music_genre.features import FeatureSettings, extract_files
    from music_genre.modeling import familiarity
    from music_genre.serving import inference

    settings = FeatureSettings.from_dict(
        {"feature_set": args.feature_set, "embedding_weights": args.weights}
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        odd = odd_inputs(folder)
        clips = sorted(GTZAN.rglob("*.wav"))
        started = time.perf_counter()
        rows = extract_files([*clips, *odd.values()], settings)
        print(
            f"features ({args.feature_set}): {len(rows)} files in {time.perf_counter() - started:.1f} s"
        )
        table = pd.DataFrame([row.to_numpy() for row in rows], columns=rows[0].index)
        columns = list(table.columns)
        music, others = table.iloc[: len(clips)], table.iloc[len(clips) :]
        clip = np.array([int(p.stem.split(".")[-1]) for p in clips])

        def fit(train_mask, valid_mask):
            return familiarity.fit_familiarity(
                music[train_mask], music[valid_mask], columns, args.flag_share, seed=42
            )

        held_scores, odd_cv, fit_seconds = [], [], []
        for held in range(4):
            for valid in range(4):
                if valid == held:
                    continue
                started = time.perf_counter()
                stats = fit(~np.isin(clip, [held, valid]), clip == valid)
                fit_seconds.append(time.perf_counter() - started)
                held_scores += list(familiarity.familiarity_scores(stats, music[clip == held]))
                odd_cv.append(familiarity.familiarity_scores(stats, others))
        odd_whole = [
            familiarity.familiarity_scores(fit(clip != valid, clip == valid), others)
            for valid in range(4)
        ]
        held_scores = np.asarray(held_scores)
        flagged = int((held_scores > 1).sum())
        print(
            f"\nreal held-out GTZAN clips: {flagged} of {len(held_scores)} flagged "
            f"({flagged / len(held_scores):.1%}; flag_share {args.flag_share}); familiarity median "
            f"{np.median(held_scores):.2f}, 90th percentile {np.quantile(held_scores, 0.9):.2f}, "
            f"max {held_scores.max():.2f}"
        )
        print(f"fit: {np.median(fit_seconds) * 1000:.0f} ms (median of {len(fit_seconds)} folds)")
        print(
            "\n| input | flagged, 12 folds of 20 tracks | median familiarity | flagged, 4 fits of 30 |"
        )
        print("| --- | --- | --- | --- |")
        odd_cv, odd_whole = np.array(odd_cv), np.array(odd_whole)
        for i, name in enumerate(odd):
            print(
                f"| {name} | {int((odd_cv[:, i] > 1).sum())} of {len(odd_cv)} | "
                f"{np.median(odd_cv[:, i]):.2f} | {int((odd_whole[:, i] > 1).sum())} of 4 |"
            )

        stats = fit(clip != 3, clip == 3)
        started = time.perf_counter()
        for _ in range(100):
            familiarity.familiarity_scores(stats, others.iloc[:1])
        print(f"\nscoring one file: {(time.perf_counter() - started) * 10:.2f} ms")

        signal, rate = sf.read(clips[0], dtype="float32")
        silence, quiet, inaudible = (folder / f"{n}.wav" for n in ("silence", "quiet", "inaudible"))
        sf.write(silence, np.zeros(60 * RATE, dtype=np.float32), RATE, subtype="PCM_16")
        sf.write(quiet, signal * 10 ** (-40 / 20), rate, subtype="FLOAT")
        sf.write(inaudible, signal * 10 ** (-80 / 20), rate, subtype="FLOAT")
        windowing = inference.windowing_settings(None)
        print(f"\nsilence floor {windowing['silence_floor_dbfs']} dBFS:")
        for name, path in (
            ("60 s digital silence", silence),
            (f"{clips[0].name} 40 dB down", quiet),
            (f"{clips[0].name} 80 dB down", inaudible),
            (clips[0].name, clips[0]),
        ):
            level = audio.loudest_dbfs(audio.load(path, None), sf.info(path).samplerate)
            try:
                inference.window_features(path, settings, windowing)
                verdict = "scored"
            except audio.AudioError as err:
                verdict = err.reason
            print(f"- {name}: loudest 50 ms {level:.1f} dBFS -> {verdict}")
        long = audio.load(clips[0], None)
        started = time.perf_counter()
        for _ in range(20):
            audio.loudest_dbfs(long, RATE)
        print(f"the check on a 30 s clip: {(time.perf_counter() - started) * 50:.2f} ms")


if __name__ == "__main__":
    main()
