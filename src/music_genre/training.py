"""Train and evaluate genre models on the feature table and the manifest's split.

LightGBM (early stopping on the validation split) and the FMA paper's baselines (logistic regression, SVM,
k-NN, random forest, scaled where the model needs it) share one entry point, so the ``modeling`` pipeline
and the ``model_comparison`` namespaces train them the same way. Heavy libraries load inside functions.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping

import numpy as np
import pandas as pd

from music_genre.metrics import classification_metrics
from music_genre.model import GenreClassifier

log = logging.getLogger(__name__)

MODEL_TYPES = ("lightgbm", "logistic_regression", "svm", "knn", "random_forest")
NEEDS_SCALING = {"logistic_regression", "svm", "knn"}
SPLITS = ("training", "validation", "test")
ID_COLUMNS = ["track_id", "genre", "split"]


def model_input_table(features: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per track with a feature row: track_id, genre, split, then the feature columns."""
    labels = manifest[ID_COLUMNS].drop_duplicates("track_id")
    table = labels.merge(features, on="track_id", how="inner")
    missing = len(labels) - len(table)
    if missing:
        log.info(
            "%d manifest tracks have no features (extraction failures) and are left out", missing
        )
    return table.reset_index(drop=True)


def feature_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in ID_COLUMNS]


def _check_splits(table: pd.DataFrame) -> None:
    counts = table["split"].value_counts()
    for split in ("training", "validation"):
        if counts.get(split, 0) == 0:
            raise ValueError(
                f"the {split} split is empty: {counts.to_dict()}; a model needs training and validation "
                "tracks (check data_ingestion.split ratios or the dataset's official split)"
            )
    trained = set(table.loc[table["split"] == "training", "genre"])
    unseen = sorted(set(table["genre"]) - trained)
    if unseen:
        raise ValueError(
            f"genres {unseen} have no training tracks: a model cannot learn them (add tracks, or "
            "change the split)"
        )


def _check_class_weight(class_weight: str | None) -> None:
    if class_weight not in (None, "balanced"):
        raise ValueError(f"class_weight must be null or 'balanced', not {class_weight!r}")


def sample_weights(labels: pd.Series, class_weight: str | None) -> np.ndarray | None:
    """``balanced``: each genre weighs the same in total (for unbalanced sets such as fma_medium)."""
    _check_class_weight(class_weight)
    if not class_weight:
        return None
    from sklearn.utils.class_weight import compute_sample_weight  # noqa: PLC0415

    return compute_sample_weight("balanced", labels)


def build_estimator(model_type: str, hyperparameters: Mapping, seed: int, class_weight):
    """A scikit-learn estimator for the baseline model types."""
    params = dict(hyperparameters or {})
    if model_type == "logistic_regression":
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

        return LogisticRegression(random_state=seed, class_weight=class_weight, **params)
    if model_type == "svm":
        from sklearn.svm import SVC  # noqa: PLC0415

        params.setdefault("probability", True)
        return SVC(random_state=seed, class_weight=class_weight, **params)
    if model_type == "knn":
        from sklearn.neighbors import KNeighborsClassifier  # noqa: PLC0415

        return KNeighborsClassifier(**params)
    if model_type == "random_forest":
        from sklearn.ensemble import RandomForestClassifier  # noqa: PLC0415

        params.setdefault("n_jobs", -1)
        return RandomForestClassifier(random_state=seed, class_weight=class_weight, **params)
    raise ValueError(f"unknown model type {model_type!r}: choose one of {', '.join(MODEL_TYPES)}")


def lightgbm_params(hyperparameters: Mapping, n_classes: int, seed: int) -> dict:
    """LightGBM's training parameters (the booster's, without rounds and patience)."""
    params = {
        k: v
        for k, v in dict(hyperparameters).items()
        if k not in ("num_boost_round", "early_stopping_rounds")
    }
    params.update(objective="multiclass", num_class=n_classes, seed=seed, verbosity=-1)
    params.setdefault("metric", "multi_logloss")
    return params


def train_classifier(
    table: pd.DataFrame,
    model_type: str,
    hyperparameters: Mapping,
    *,
    seed: int = 42,
    class_weight: str | None = None,
    feature_settings: Mapping | None = None,
    feature_digest: str = "",
) -> GenreClassifier:
    """Fit ``model_type`` on the training split (LightGBM stops early on the validation split, so its
    validation metrics are optimistic; the test split is the honest one)."""
    _check_splits(table)
    _check_class_weight(class_weight)
    hyperparameters = dict(hyperparameters or {})
    columns = feature_columns(table)
    classes = sorted(table["genre"].unique())
    train = table[table["split"] == "training"]
    valid = table[table["split"] == "validation"]
    weights = sample_weights(train["genre"], class_weight)
    started = time.perf_counter()
    scaler = None
    best_iteration = None
    info: dict = {}
    if model_type == "lightgbm":
        import lightgbm as lgb  # noqa: PLC0415

        index = {genre: i for i, genre in enumerate(classes)}
        params = lightgbm_params(hyperparameters, len(classes), seed)
        train_set = lgb.Dataset(
            train[columns].to_numpy(np.float64),
            label=train["genre"].map(index).to_numpy(),
            weight=weights,
            feature_name=columns,
            free_raw_data=True,
        )
        valid_set = lgb.Dataset(
            valid[columns].to_numpy(np.float64),
            label=valid["genre"].map(index).to_numpy(),
            reference=train_set,
        )
        history: dict = {}
        rounds = int(hyperparameters.get("num_boost_round", 1000))
        patience = int(hyperparameters.get("early_stopping_rounds", 50))
        estimator = lgb.train(
            params,
            train_set,
            num_boost_round=rounds,
            valid_sets=[valid_set],
            valid_names=["validation"],
            callbacks=[
                lgb.early_stopping(patience, verbose=False),
                lgb.record_evaluation(history),
            ],
        )
        best_iteration = int(estimator.best_iteration or estimator.current_iteration())
        info["validation_curve"] = [float(v) for v in history["validation"][params["metric"]]]
        stored_params = {**params, "num_boost_round": rounds, "early_stopping_rounds": patience}
    else:
        from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

        values = train[columns].to_numpy(np.float64)
        if model_type in NEEDS_SCALING:
            scaler = StandardScaler().fit(values)
            values = scaler.transform(values)
        estimator = build_estimator(
            model_type, hyperparameters, seed, "balanced" if class_weight else None
        )
        estimator.fit(values, train["genre"].to_numpy())  # balanced via class_weight (k-NN: none)
        if list(estimator.classes_) != classes:
            raise RuntimeError(f"estimator classes {estimator.classes_} differ from {classes}")
        stored_params = dict(hyperparameters or {})
    info["training_seconds"] = round(time.perf_counter() - started, 3)
    info["version"] = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    info["n_training"] = len(train)
    info["n_validation"] = len(valid)
    return GenreClassifier(
        model_type=model_type,
        estimator=estimator,
        feature_columns=columns,
        classes=classes,
        scaler=scaler,
        feature_settings=dict(feature_settings or {}),
        feature_digest=feature_digest,
        best_iteration=best_iteration,
        params=stored_params,
        info=info,
    )


def evaluate_classifier(classifier: GenreClassifier, table: pd.DataFrame) -> dict[str, dict]:
    """Every metric for every split present: ``{"test": {"accuracy": ..., ...}, ...}``."""
    results: dict[str, dict] = {}
    for split in SPLITS:
        part = table[table["split"] == split]
        if part.empty:
            continue
        proba = classifier.predict_proba(part)
        results[split] = classification_metrics(part["genre"], proba, classifier.classes)
        results[split]["n_tracks"] = len(part)
    return results


def flat_metrics(classifier: GenreClassifier, per_split: Mapping[str, Mapping]) -> dict[str, float]:
    """``{"test.accuracy": ..., "best_iteration": ..., "training_seconds": ...}``: one level, for MLflow."""
    flat = {
        f"{split}.{name}": float(value)
        for split, values in per_split.items()
        for name, value in values.items()
    }
    if classifier.best_iteration is not None:
        flat["best_iteration"] = float(classifier.best_iteration)
    flat["training_seconds"] = float(classifier.info.get("training_seconds", 0.0))
    return flat
