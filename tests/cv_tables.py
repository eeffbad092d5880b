"""Fixed synthetic tables for the cross-validation tests, and the hyperparameters they train with.

``tests/fixtures/cross_validation_e60e2aa.json`` holds what the fold loops of commit e60e2aa (before
cross-validation became one module) computed on these tables: change a table and that record means
nothing any more.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from music_genre.data.labels import TAGS_COLUMN

# uneven genres: k shrinks to the smallest (5), stratification has remainders to place
COUNTS = {"blues": 9, "jazz": 7, "metal": 12, "pop": 6, "rock": 5}
HYPER = {
    "lightgbm": {"learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20,
                 "num_boost_round": 40, "early_stopping_rounds": 10, "num_threads": 1},
    "logistic_regression": {"C": 1.0, "max_iter": 2000},
    "knn": {"n_neighbors": 3, "weights": "distance"},
}  # fmt: skip


def collection(columns: list[str] | None = None, seed: int = 0) -> pd.DataFrame:
    """39 tracks of 5 genres, each genre a Gaussian blob in ``columns`` (default f0..f5), a manifest
    split (2 in 3 training, then validation and test in turn) and a genre list (every third track also
    carries the next genre)."""
    columns = columns or [f"f{j}" for j in range(6)]
    rng = np.random.default_rng(seed)
    genres = list(COUNTS)
    centres = rng.normal(scale=1.2, size=(len(genres), len(columns)))
    rows = []
    for g, genre in enumerate(genres):
        for i in range(COUNTS[genre]):
            split = "training" if i % 3 != 2 else ("validation" if (i // 3) % 2 else "test")
            tags = [genre] + ([genres[(g + 1) % len(genres)]] if i % 3 == 0 else [])
            rows.append({"track_id": f"{genre}{i:02d}", "genre": genre, "split": split,
                         TAGS_COLUMN: "|".join(tags)})  # fmt: skip
    ids = pd.DataFrame(rows)
    genre_index = ids["genre"].map({genre: g for g, genre in enumerate(genres)}).to_numpy()
    values = centres[genre_index] + rng.normal(size=(len(ids), len(columns)))
    return pd.concat([ids, pd.DataFrame(values, columns=columns)], axis=1)
