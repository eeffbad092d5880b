"""What choosing the feature set costs: `model.type: auto` on one set against `feature_set: auto` (every
candidate set x every model type, on the same folds), side by side in one run, on a table of N tracks.

    python benchmarks/feature_choice.py --tracks 1000            # under cv_below_tracks: k-fold CV
    python benchmarks/feature_choice.py --tracks 8000            # fma_small's size: the validation split

The table has the real column layout of `feature_set: auto` (519 handcrafted, the embedding's mean and std,
the mid-end's mean and std: 2,425 columns) filled with Gaussian values that carry the genre in some columns:
the cost of a fit depends on the table's shape, not on where its values came from (the features are read
from one cache either way). The configured hyperparameters and candidates (conf/base) are used as they are.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


def table(n_tracks: int, n_genres: int, seed: int) -> pd.DataFrame:
    from music_genre.features import FeatureSettings, feature_names

    union = FeatureSettings.from_dict(
        {"feature_set": "handcrafted+embedding", "embedding_stats": ["mean", "std"],
         "embedding_layers": ["penultimate", "midend"]}
    )  # fmt: skip
    names = feature_names(union)
    rng = np.random.default_rng(seed)
    genres = rng.integers(n_genres, size=n_tracks)
    values = rng.normal(size=(n_tracks, len(names))).astype(np.float64)
    values[:, ::9] += 0.8 * genres[:, None]
    split = rng.choice(["training", "validation", "test"], p=[0.8, 0.1, 0.1], size=n_tracks)
    frame = pd.DataFrame(values, columns=names)
    frame.insert(0, "track_id", [str(i) for i in range(n_tracks)])
    frame.insert(1, "genre", [f"g{g}" for g in genres])
    frame.insert(2, "split", split)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=1000)
    parser.add_argument("--genres", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.disable(logging.INFO)

    from music_genre.features.embeddings import auto_candidates
    from music_genre.modeling import selection

    conf = REPO_ROOT / "conf" / "base"
    features = yaml.safe_load((conf / "parameters_feature_engineering.yml").read_text())
    modeling = yaml.safe_load((conf / "parameters_modeling.yml").read_text())["modeling"]
    candidates = features["feature_engineering"]["auto"]["candidates"]
    union, sets = auto_candidates({"embedding": "msd_musicnn"}, candidates, weights_dir=None)
    frame = table(args.tracks, args.genres, args.seed)
    base = {
        "hyperparameters": modeling["hyperparameters"],
        "selection": modeling["selection"],
        "seed": 42,
        "class_weight": None,
        "feature_settings": union.to_dict(),
        "feature_digest": union.digest(),
        "refit_on_validation": True,
        "members": [],
    }
    default = features["feature_engineering"]["auto"]["default"]
    print(f"{args.tracks} tracks, {args.genres} genres, {len(frame.columns) - 3} columns extracted; "
          f"candidates: {', '.join(sets)}; model types: {', '.join(modeling['selection']['candidates'])}")  # fmt: skip
    started = time.perf_counter()
    one = selection.train_chosen(frame, {default: sets[default]}, default,
                                 {**base, "model_type": "auto"})  # fmt: skip
    model_only = time.perf_counter() - started
    started = time.perf_counter()
    joint = selection.train_chosen(frame, sets, default, {**base, "model_type": "auto"})
    both = time.perf_counter() - started
    print("| choice | seconds | chose |")
    print("| --- | --- | --- |")
    print(f"| model type on `{default}` (today's auto) | {model_only:.1f} | {one.model_type} |")
    print(f"| feature set x model type ({len(sets)} sets) | {both:.1f} | "
          f"{joint.info['feature_set']}, {joint.model_type} |")  # fmt: skip
    print(f"| added by choosing the set | {both - model_only:.1f} | x {both / model_only:.2f} |")


if __name__ == "__main__":
    main()
