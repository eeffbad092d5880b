"""Similar-track search and the pretrained tagger on the 40 real GTZAN clips of ../shared (4 per genre).

    python benchmarks/similarity_real.py [--out /tmp/similarity_real]

Needs the musicnn weights (``kedro run --pipelines=embedding_weights``). Each clip is extracted once with
the project's extractor (handcrafted + embedding, one decode), and once more after a re-encode to 64 kb/s
mono MP3 (lameenc, 22,050 Hz). Prints:

- precision@k by genre of the neighbours (the query left out; 3 other clips of its genre among 39, so
  precision@10 is at most 0.30 and precision@3 at most 1.0), searched over the embedding, over the
  handcrafted features, and for a random order (the expected value, 3/39 = 0.077);
- how often a re-encoded clip finds its original first (index of the 40 originals), and the distances
  between copies and originals against the nearest other clip (what ``near_duplicate_distance`` is set from);
- the pretrained tagger (MSD_musicnn's tag layer, no training): accuracy of its most probable genre tag
  mapped onto GTZAN's genres, and coverage (the share of clips whose top genre tag has a GTZAN genre).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))
SHARED = REPO_ROOT.parent / "shared" / "data" / "gtzan_subset"


def reencode(source: Path, target: Path, kbps: int = 64) -> None:
    import lameenc

    from music_genre.data import audio

    signal = audio.load(source, sample_rate=22050)
    pcm = np.clip(np.round(signal * 32767.0), -32768, 32767).astype("<i2")
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(22050)
    encoder.set_out_sample_rate(22050)
    encoder.set_channels(1)
    encoder.set_quality(2)
    target.write_bytes(bytes(encoder.encode(pcm.tobytes())) + bytes(encoder.flush()))


def extract(paths: list[Path], settings) -> pd.DataFrame:
    from music_genre.features import extract_files

    rows = []
    for start in range(0, len(paths), 8):
        for path, row in zip(paths[start : start + 8], extract_files(paths[start : start + 8], settings),
                             strict=True):  # fmt: skip
            if isinstance(row, Exception):
                raise SystemExit(f"error: {path}: {row}")
            rows.append(row)
    return pd.DataFrame(rows).reset_index(drop=True)


def precision(index, genres: np.ndarray, k: int) -> float:
    vectors = index.vectors()
    scores = []
    for row in range(len(index)):
        rows, _ = index.search(vectors[row], k + 1)
        rows = [r for r in rows if r != row][:k]
        scores.append(np.mean(genres[rows] == genres[row]))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=None, help="keep the re-encoded clips here")
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"error: {SHARED} not found: the 40 shared clips are needed")
    from music_genre.features import FeatureSettings
    from music_genre.features.embeddings.tagger import PretrainedTagger, top_genre_tag
    from music_genre.features.embeddings.weights import find_weights
    from music_genre.similarity.index import build_index

    weights = find_weights(REPO_ROOT / "data" / "06_models" / "pretrained")
    if weights is None:
        raise SystemExit("error: no musicnn weights: run `kedro run --pipelines=embedding_weights`")
    clips = sorted(SHARED.glob("*/*.wav"))
    genres = np.array([p.parent.name for p in clips])
    settings = FeatureSettings.from_dict(
        {"feature_set": "handcrafted+embedding", "embedding_weights": str(weights)}
    )
    out = Path(args.out or tempfile.mkdtemp(prefix="similarity_real-"))
    out.mkdir(parents=True, exist_ok=True)
    copies = [out / f"{p.stem}.64k.mp3" for p in clips]
    for clip, copy in zip(clips, copies, strict=True):
        if not copy.exists():
            reencode(clip, copy)
    table = extract(clips + copies, settings)
    ids = [p.stem for p in clips] + [f"{p.stem}.64k" for p in clips]
    table.insert(0, "track_id", ids)
    originals, reencoded = table.iloc[: len(clips)], table.iloc[len(clips) :]
    tracks = pd.DataFrame({"track_id": ids[: len(clips)], "path": [str(p) for p in clips],
                           "genre": genres})  # fmt: skip
    embedding, _ = build_index(originals, tracks, settings.to_dict())
    handcrafted_cols = [c for c in originals.columns if not c.startswith("msd_musicnn")]
    handcrafted, _ = build_index(
        originals[handcrafted_cols], tracks, {"feature_set": "handcrafted"}
    )
    print(
        f"{len(clips)} GTZAN clips, {len(set(genres))} genres; index columns: {embedding.description}"
    )
    print(f"{'precision by genre':<28} {'@10':>6} {'@3':>6} {'@1':>6}")
    for name, index in (("embedding (musicnn)", embedding), ("handcrafted features", handcrafted)):
        print(f"{name:<28} " + " ".join(f"{precision(index, genres, k):6.3f}" for k in (10, 3, 1)))
    per_genre = 3 / (len(clips) - 1)
    print(f"{'random (expected)':<28} {per_genre:6.3f} {per_genre:6.3f} {per_genre:6.3f}")
    for name, index in (("embedding", embedding), ("handcrafted", handcrafted)):
        found, copy_distance, other_distance = 0, [], []
        for row in range(len(clips)):
            query = index.query_vector(reencoded.iloc[row][index.columns].astype(float))
            rows, distances = index.search(query, 2)
            found += int(rows[0] == row)
            copy_distance.append(float(1.0 - index.vectors()[row] @ query))
            other_distance.append(float(distances[1] if rows[0] == row else distances[0]))
        print(
            f"64 kb/s mono copy finds its original first ({name}): {found}/{len(clips)} = "
            f"{found / len(clips):.1%}; copy-original distance median {np.median(copy_distance):.4f} "
            f"max {np.max(copy_distance):.4f}; nearest other clip min {np.min(other_distance):.4f} "
            f"median {np.median(other_distance):.4f}"
        )
    tagger = PretrainedTagger(weights)
    answers = []
    for clip in clips:
        tag, genre = top_genre_tag(tagger.tag_file(clip), tagger.tags)
        answers.append((tag, genre))
    covered = [(g, a[1]) for g, a in zip(genres, answers, strict=True) if a[1] is not None]
    right = sum(g == a for g, a in covered)
    print(
        f"pretrained tagger (no training): coverage {len(covered)}/{len(clips)} = "
        f"{len(covered) / len(clips):.1%} (top genre tag has a GTZAN genre); accuracy on those "
        f"{right}/{len(covered)} = {right / max(len(covered), 1):.1%}; over all clips "
        f"{right / len(clips):.1%} (chance 10%)"
    )
    for genre in sorted(set(genres)):
        tags = [a[0] for g, a in zip(genres, answers, strict=True) if g == genre]
        print(f"  {genre:<10} top genre tags: {', '.join(map(str, tags))}")


if __name__ == "__main__":
    main()
