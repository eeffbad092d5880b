"""Accuracy of every feature set x model type, cross-validated on real clips (and on the built-in sample).

    python benchmarks/accuracy.py                                    # ../shared/data/gtzan_subset (40 clips)
    python benchmarks/accuracy.py --root /abs/path/to/genres --folds 10 --repeats 1
    python benchmarks/accuracy.py --root data/01_raw/sample --fma      # the built-in sample (FMA layout)
    python benchmarks/accuracy.py --segments                         # also segment-level training

Features come from ``music_genre.features.extract_files`` (the extractor of training, the CLI and serving,
one decode per clip, the embedding's weights from the models layer or $MUSIC_GENRE_WEIGHTS_DIR), cached in
``--cache`` so a rerun only trains. Scores come from ``music_genre.modeling.cross_validation.cross_validate``: repeated
stratified k-fold over all clips with the configured hyperparameters, each fold trained exactly as the
``modeling`` pipeline trains (LightGBM stops early on an inner validation part, never on the scored fold).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SETS = {
    "handcrafted": ["handcrafted"],
    "embedding (mean)": ["msd_musicnn_mean"],
    "embedding (mean+std)": ["msd_musicnn_mean", "msd_musicnn_std"],
    "mid-end (mean+std)": ["msd_musicnn_midend_mean", "msd_musicnn_midend_std"],
    "handcrafted+embedding": ["handcrafted", "msd_musicnn_mean"],
}
MODELS = ("lightgbm", "logistic_regression", "svm", "knn", "random_forest")


def collection(root: Path, fma: bool) -> pd.DataFrame:
    from music_genre.data.audio import find_audio_files

    if fma:
        tracks = pd.read_csv(root / "fma_metadata" / "tracks.csv", index_col=0, header=[0, 1])
        genre = tracks[("track", "genre_top")].dropna()
        rows = []
        for track_id, top in genre.items():
            path = root / "fma_sample" / f"{int(track_id):06d}"[:3] / f"{int(track_id):06d}.mp3"
            if path.is_file() and path.stat().st_size > 100_000:
                rows.append({"track_id": str(track_id), "path": str(path), "genre": top})
        return pd.DataFrame(rows)
    files = find_audio_files(root)
    return pd.DataFrame(
        {
            "track_id": [f.stem for f in files],
            "path": [str(f) for f in files],
            "genre": [f.parent.name for f in files],
        }  # fmt: skip
    )


def features(clips: pd.DataFrame, cache: Path, segments: int) -> pd.DataFrame:
    from music_genre.features import FeatureSettings, extract_files

    if cache.is_file():
        return pd.read_parquet(cache)
    settings = FeatureSettings(
        feature_set="handcrafted+embedding",
        embedding_stats=("mean", "std"),
        embedding_layers=("penultimate", "midend"),
    )
    started = time.perf_counter()
    rows = []
    for start in range(0, len(clips), 8):
        part = clips.iloc[start : start + 8]
        for (_, clip), result in zip(
            part.iterrows(), extract_files(list(part["path"]), settings), strict=True
        ):
            if isinstance(result, Exception):
                print(f"  skipped {clip['path']}: {result}", file=sys.stderr)
                continue
            rows.append(
                {"track_id": clip["track_id"], "genre": clip["genre"], "segment": -1, **result}
            )
            if segments > 1:
                rows += segment_rows(clip, settings, segments)
    print(f"extracted {len(clips)} clips in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    table = pd.DataFrame(rows)
    cache.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(cache)
    return table


def segment_rows(clip, settings, segments: int) -> list[dict]:
    """The clip cut into ``segments`` equal parts, each extracted as its own clip (the GTZAN community's
    segment-level training)."""
    from music_genre.data import audio
    from music_genre.features import extract_signal

    signal, rate = audio.load_with_rate(clip["path"], None)
    length = len(signal) // segments
    rows = []
    for i in range(segments):
        piece = signal[i * length : (i + 1) * length]
        row = extract_signal(piece, rate, settings)
        rows.append({"track_id": clip["track_id"], "genre": clip["genre"], "segment": i, **row})
    return rows


def columns_of(table: pd.DataFrame, prefixes: list[str]) -> list[str]:
    from music_genre.features import feature_names

    handcrafted = feature_names()
    out = []
    for prefix in prefixes:
        out += (
            handcrafted if prefix == "handcrafted" else [c for c in table if c.startswith(prefix)]
        )
    return out


def segment_cv(table, columns, model_type, params, folds, repeats, seed) -> dict:
    """Train on every segment of the training tracks, score a track by averaging its segments'
    probabilities: splits stay by track (no track's segments on both sides)."""
    from music_genre.modeling.cross_validation import fold_plan
    from music_genre.modeling.training import train_classifier

    tracks = table[table["segment"] >= 0].drop_duplicates("track_id")[["track_id", "genre"]]
    scores = []
    for fold in fold_plan(tracks, folds=folds, repeats=repeats, seed=seed):
        split_of = dict(zip(tracks["track_id"], fold.split, strict=True))  # the scored ones: test
        part = table[table["segment"] >= 0][["track_id", "genre", *columns]].copy()
        part["split"] = part["track_id"].map(split_of)
        assert part.groupby("track_id")["split"].nunique().max() == 1  # a track sits on one side
        model = train_classifier(part, model_type, params, seed=seed)
        test = part[part["split"] == "test"]
        proba = pd.DataFrame(model.predict_proba(test), index=test["track_id"].to_numpy())
        mean = proba.groupby(level=0).mean()
        truth = test.drop_duplicates("track_id").set_index("track_id").loc[mean.index, "genre"]
        predicted = np.asarray(model.classes)[mean.to_numpy().argmax(axis=1)]
        scores.append(float((predicted == truth.to_numpy()).mean()))
    return {"accuracy_mean": float(np.mean(scores)), "accuracy_std": float(np.std(scores))}


CHOICE_SETS = {
    "handcrafted": {"feature_set": "handcrafted"},
    "embedding": {"feature_set": "embedding", "embedding_stats": ["mean"]},
    "embedding_mean_std": {"feature_set": "embedding", "embedding_stats": ["mean", "std"]},
    "midend": {"feature_set": "embedding", "embedding_layers": ["midend"],
               "embedding_stats": ["mean", "std"]},
    "handcrafted+embedding": {"feature_set": "handcrafted+embedding", "embedding_stats": ["mean"]},
}  # fmt: skip


def choice(whole: pd.DataFrame, modeling: dict, args) -> None:
    """What `feature_set: auto` and `model.type: auto` score and pick on this collection (all tracks as
    the pool: the run itself uses its training and validation tracks), with the pooled out-of-fold
    expected calibration error of each candidate: does the ensemble keep its confidences honest?"""
    from music_genre.modeling import selection

    models = args.models.split(",")
    started = time.perf_counter()
    best_set, best_type, members, scores = selection.choose(
        whole, CHOICE_SETS, models, modeling["hyperparameters"],
        selection={**modeling["selection"], "folds": args.folds, "repeats": args.repeats,
                   "ensemble_size": 3},
    )  # fmt: skip
    print(
        f"chose {best_set} / {best_type} {members or ''} in {time.perf_counter() - started:.0f} s"
    )
    print("| feature set | model | accuracy | ECE |")
    print("| --- | --- | --- | --- |")
    for row in scores.to_dict("records"):
        label = row["model_type"]
        if isinstance(row.get("members"), list):
            label = f"ensemble ({' + '.join(row['members'])})"
        mark = "**" if row["chosen"] else ""
        print(f"| {mark}{row['feature_set']}{mark} | {label} | "
              f"{row['accuracy_mean']:.3f} +- {row['accuracy_std']:.3f} | {row['ece']:.3f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "gtzan_subset"
    )
    parser.add_argument(
        "--fma", action="store_true", help="root is in FMA's layout (the built-in sample)"
    )
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--segments", type=int, default=0, help="also segment-level training with N segments"
    )
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument(
        "--choice",
        action="store_true",
        help="feature_set auto's own choice (music_genre.modeling.selection) over every set above, "
        "with the per-set ensemble and each candidate's calibration error",
    )
    args = parser.parse_args()

    import logging

    logging.disable(logging.INFO)
    from music_genre.modeling.cross_validation import cross_validate

    modeling = yaml.safe_load((REPO_ROOT / "conf/base/parameters_modeling.yml").read_text())[
        "modeling"
    ]
    hyper = modeling["hyperparameters"]
    clips = collection(args.root.resolve(), args.fma)
    cache = (
        args.cache
        or REPO_ROOT
        / "data"
        / "04_feature"
        / "benchmarks"
        / f"{args.root.name}-s{args.segments}-layers.parquet"
    )
    table = features(clips, cache, args.segments)
    whole = table[table["segment"] < 0].reset_index(drop=True)
    whole["split"] = "training"
    print(f"{args.root}: {len(whole)} clips, {whole['genre'].nunique()} genres; "
          f"stratified {args.folds}-fold x {args.repeats} repeats, accuracy mean +- std over folds")  # fmt: skip
    print(f"| feature set | {' | '.join(args.models.split(','))} |")
    print("| --- |" + " --- |" * len(args.models.split(",")))
    if args.choice:
        choice(whole, modeling, args)
        return
    for name, prefixes in SETS.items():
        columns = columns_of(whole, prefixes)
        cells = []
        for model_type in args.models.split(","):
            result = cross_validate(whole[["track_id", "genre", "split", *columns]], model_type,
                                    hyper[model_type], folds=args.folds, repeats=args.repeats)  # fmt: skip
            cells.append(f"{result['accuracy_mean']:.3f} +- {result['accuracy_std']:.3f}")
        print(f"| {name} ({len(columns)}) | {' | '.join(cells)} |", flush=True)
    if args.segments > 1:
        print(
            f"\nsegment-level training ({args.segments} segments a clip, track = mean of its segments):"
        )
        for name, prefixes in SETS.items():
            columns = columns_of(whole, prefixes)
            cells = []
            for model_type in args.models.split(","):
                result = segment_cv(
                    table, columns, model_type, hyper[model_type], args.folds, args.repeats, 42
                )
                cells.append(f"{result['accuracy_mean']:.3f} +- {result['accuracy_std']:.3f}")
            print(f"| {name} ({len(columns)}) | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
