"""Training time of the modeling pipeline's LightGBM on a table the size of fma_small's.

    python benchmarks/training.py                      # 6,400 / 800 / 800 tracks x 519 features, 8 genres
    python benchmarks/training.py --features data/04_feature/fma_small/features.parquet \
        --manifest data/03_primary/fma_small/manifest.parquet   # a real feature table instead

The synthetic table is built to be about as hard as fma_small's (test accuracy around 50-60%, so early
stopping runs for hundreds of rounds, as it does on the real features): each genre shifts a random subset
of features by a small amount, the rest is noise with correlated blocks. Training goes through
``music_genre.modeling.training.train_classifier`` with the hyperparameters of ``conf/base/parameters_modeling.yml``,
exactly as the ``modeling`` pipeline calls it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


def synthetic_table(n_train=6400, n_valid=800, n_test=800, n_features=519, n_genres=8, seed=0):
    from music_genre.features import feature_names

    rng = np.random.default_rng(seed)
    names = feature_names()[:n_features]
    n = n_train + n_valid + n_test
    labels = rng.integers(0, n_genres, size=n)
    mixing = rng.normal(size=(n_features, 32)) * (rng.random((n_features, 1)) < 0.6)
    values = rng.normal(size=(n, n_features)) + rng.normal(size=(n, 32)) @ mixing.T
    shifts = rng.normal(scale=0.35, size=(n_genres, n_features)) * (
        rng.random((n_genres, n_features)) < 0.15
    )
    values += shifts[labels]
    table = pd.DataFrame(values.astype(np.float32), columns=names)
    table.insert(0, "split", ["training"] * n_train + ["validation"] * n_valid + ["test"] * n_test)
    table.insert(0, "genre", [f"genre_{g}" for g in labels])
    table.insert(0, "track_id", [str(i) for i in range(n)])
    return table


def real_table(features: Path, manifest: Path) -> pd.DataFrame:
    from music_genre.modeling.training import model_input_table

    return model_input_table(pd.read_parquet(features), pd.read_parquet(manifest))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", type=Path, help="a features.parquet to train on instead")
    parser.add_argument("--manifest", type=Path, help="its manifest.parquet")
    parser.add_argument("--model", default="lightgbm", help="model type (default lightgbm)")
    args = parser.parse_args(argv)

    from music_genre.modeling.training import evaluate_classifier, train_classifier

    params = yaml.safe_load((REPO_ROOT / "conf/base/parameters_modeling.yml").read_text())
    hyperparameters = params["modeling"]["hyperparameters"][args.model]
    if args.features:
        table = real_table(args.features, args.manifest)
        source = str(args.features)
    else:
        table = synthetic_table()
        source = "synthetic, fma_small-sized"
    counts = table["split"].value_counts().to_dict()
    n_features = table.shape[1] - 3
    print(
        f"{args.model} on {counts.get('training', 0)} / {counts.get('validation', 0)} / "
        f"{counts.get('test', 0)} tracks x {n_features} features ({source}), "
        f"{os.cpu_count()} cores"
    )
    start = time.perf_counter()
    classifier = train_classifier(table, args.model, hyperparameters)
    seconds = time.perf_counter() - start
    metrics = evaluate_classifier(classifier, table)
    print(f"  training seconds   {seconds:8.1f}   (target < 60 on 2 cores)")
    if classifier.best_iteration is not None:
        print(f"  best iteration     {classifier.best_iteration:8d}")
    print(f"  test accuracy      {metrics['test']['accuracy']:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
