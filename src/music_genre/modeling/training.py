"""Train and evaluate genre models on the feature table and the manifest's split.

LightGBM (early stopping on the validation split) and the FMA paper's baselines (logistic regression, SVM,
k-NN, random forest, scaled where the model needs it) share one entry point, so the ``modeling`` pipeline
and the ``model_comparison`` namespaces train them the same way. Heavy libraries load inside functions.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from music_genre.common.errors import TooFewTracksError
from music_genre.data.labels import TAGS_COLUMN
from music_genre.modeling.artifact import GenreClassifier
from music_genre.modeling.metrics import classification_metrics

log = logging.getLogger(__name__)

MODEL_TYPES = ("lightgbm", "logistic_regression", "svm", "knn", "random_forest")
AUTO = "auto"  # modeling.model.type: the best of selection.candidates, by cross-validation
ENSEMBLE = "ensemble"  # a soft vote of several model types (modeling.model.members)
SMALL_FOR_THREADS = 2000  # LightGBM trains on one thread below this many training tracks
NEEDS_SCALING = {"logistic_regression", "svm", "knn"}
SPLITS = ("training", "validation", "test")
ID_COLUMNS = ["track_id", "genre", "split"]
NOT_FEATURES = {*ID_COLUMNS, TAGS_COLUMN}  # a track's genre list is a label, never a feature


def model_input_table(
    features: pd.DataFrame, manifest: pd.DataFrame, label_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """One row per track with a feature row: track_id, genre, split (and the manifest's
    ``label_columns`` a task learns from, such as ``genres_all``), then the feature columns."""
    keep = [*ID_COLUMNS, *label_columns]
    labels = manifest[keep].drop_duplicates("track_id")
    table = labels.merge(features, on="track_id", how="inner")
    missing = len(labels) - len(table)
    if missing:
        log.info(
            "%d manifest tracks have no features (extraction failures) and are left out", missing
        )
    return table.reset_index(drop=True)


def training_fingerprint(table: pd.DataFrame, config: Mapping) -> str:
    """What a model is a function of: its rows (track, genre, split, every feature value) and its
    configuration. Two runs with the same fingerprint train the same model, so the registry keeps one."""
    import hashlib
    import json

    ordered = table.sort_values("track_id", kind="stable").reset_index(drop=True)
    rows = pd.util.hash_pandas_object(ordered[sorted(ordered.columns)], index=False).to_numpy()
    digest = hashlib.sha256(rows.tobytes())
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def feature_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in NOT_FEATURES]


def with_feature_columns(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The table's ID and label columns, then only ``columns`` as features (a model reading one set of
    a wider table: ``feature_set: auto`` extracts every candidate's columns)."""
    return table[[*(c for c in table.columns if c in NOT_FEATURES), *columns]]


def _check_splits(table: pd.DataFrame) -> None:
    counts = table["split"].value_counts()
    for split in ("training", "validation"):
        if counts.get(split, 0) == 0:
            raise TooFewTracksError(
                f"the {split} split is empty: {counts.to_dict()}; a model needs training and validation "
                "tracks (check data_ingestion.split ratios or the dataset's official split)"
            )
    trained = set(table.loc[table["split"] == "training", "genre"])
    unseen = sorted(set(table["genre"]) - trained)
    if unseen:
        raise TooFewTracksError(
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
    from sklearn.utils.class_weight import compute_sample_weight

    return compute_sample_weight("balanced", labels)


def build_estimator(model_type: str, hyperparameters: Mapping, seed: int, class_weight):
    """A scikit-learn estimator for the baseline model types."""
    params = dict(hyperparameters or {})
    if model_type == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(random_state=seed, class_weight=class_weight, **params)
    if model_type == "svm":
        from music_genre.modeling.estimators import TemperatureSVC

        params.pop("probability", None)  # Platt scaling disagrees with the SVM's decision: not used
        return TemperatureSVC(random_state=seed, class_weight=class_weight, **params)
    if model_type == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(**params)
    if model_type == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

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


def fit_lightgbm_to_size(params: dict, labels: pd.Series) -> dict:
    """Leaf sizes that a small collection can fill. With 3 training tracks a genre (30 in all) LightGBM's
    ``min_child_samples`` 20 allows no split at all: training stops at iteration 1 with every genre at 1/n.
    Where the training split holds fewer than 4 leaves' worth of tracks, the minimum drops to half the
    smallest genre (at least 2); larger collections keep the configured value."""
    if int(params.get("num_threads", 0)) <= 0 and len(labels) < SMALL_FOR_THREADS:
        # A few hundred rows make trees too small to share among threads: the threads only wait for each
        # other (30 tracks, 10 genres: 6 s on one thread, 155 s on all of a busy 2-core machine).
        params = {**params, "num_threads": 1}
    configured = int(params.get("min_child_samples", 20))
    if len(labels) >= 4 * configured:
        return params
    smallest = int(labels.value_counts().min()) if len(labels) else 0
    fitted = max(2, smallest // 2)
    if fitted >= configured:
        return params
    log.debug(
        "Small collection: LightGBM min_child_samples %d -> %d (%d training tracks, smallest genre %d)",
        configured,
        fitted,
        len(labels),
        smallest,
    )
    return {**params, "min_child_samples": fitted, "min_data_in_bin": 1}


def train_classifier(
    table: pd.DataFrame,
    model_type: str,
    hyperparameters: Mapping,
    *,
    seed: int = 42,
    class_weight: str | None = None,
    feature_settings: Mapping | None = None,
    feature_digest: str = "",
    refit_on_validation: bool = False,
    members: Sequence[str] = (),
) -> GenreClassifier:
    """Fit ``model_type`` on the training split (LightGBM stops early on the validation split, so its
    validation metrics are optimistic; the test split is the honest one).

    ``refit_on_validation``: a model that does not stop early fits the training and validation tracks
    together (a small collection's 10% is a point or two of accuracy); its validation metrics are then
    in-sample (``info["fitted_on"]`` says so). LightGBM keeps validation for early stopping either way.

    ``ensemble``: ``hyperparameters`` is the whole map and ``members`` the model types whose probabilities
    are averaged (:class:`~music_genre.modeling.estimators.SoftVote`), each trained as above.

    ``auto`` is a choice among model types, made by cross-validation above this function:
    :func:`music_genre.modeling.selection.train_model`."""
    if model_type == AUTO:
        raise ValueError(
            "model type auto is chosen by cross-validation: train it with "
            "music_genre.modeling.selection.train_model"
        )
    if model_type == ENSEMBLE:
        return _train_ensemble(table, hyperparameters, members, seed=seed,
                               class_weight=class_weight, feature_settings=feature_settings,
                               feature_digest=feature_digest,
                               refit_on_validation=refit_on_validation)  # fmt: skip
    _check_splits(table)
    _check_class_weight(class_weight)
    hyperparameters = dict(hyperparameters or {})
    columns = feature_columns(table)
    classes = sorted(table["genre"].unique())
    train = table[table["split"] == "training"]
    valid = table[table["split"] == "validation"]
    fitted_on = "training"
    if refit_on_validation and model_type != "lightgbm" and len(valid):
        train = table[table["split"].isin(("training", "validation"))]
        fitted_on = "training+validation"
    weights = sample_weights(train["genre"], class_weight)
    started = time.perf_counter()
    scaler = None
    best_iteration = None
    info: dict = {}
    if model_type == "lightgbm":
        import lightgbm as lgb

        index = {genre: i for i, genre in enumerate(classes)}
        params = lightgbm_params(hyperparameters, len(classes), seed)
        params = fit_lightgbm_to_size(params, train["genre"])
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
        from sklearn.preprocessing import StandardScaler

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
    info["fitted_on"] = fitted_on
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


def _train_ensemble(table, hyperparameters, members, *, seed, class_weight, feature_settings,
                    feature_digest, refit_on_validation) -> GenreClassifier:  # fmt: skip
    """Each member trained as :func:`train_classifier` trains it alone, their probabilities averaged."""
    from music_genre.modeling.estimators import SoftVote

    members = list(members)
    if len(members) < 2 or ENSEMBLE in members or AUTO in members:
        raise ValueError(
            f"an ensemble needs at least two plain model types as members, got {members}"
        )
    started = time.perf_counter()
    fitted = [
        train_classifier(table, member, hyperparameters[member], seed=seed,
                         class_weight=class_weight, refit_on_validation=refit_on_validation)
        for member in members
    ]  # fmt: skip
    first = fitted[0]
    info = {
        **first.info,
        "training_seconds": round(time.perf_counter() - started, 3),
        "ensemble_members": members,
        "fitted_on": ", ".join(sorted({m.info["fitted_on"] for m in fitted})),
    }
    return GenreClassifier(
        model_type=ENSEMBLE,
        estimator=SoftVote(
            [(m.model_type, m.estimator, m.scaler, m.best_iteration) for m in fitted]
        ),
        feature_columns=first.feature_columns,
        classes=first.classes,
        scaler=None,
        feature_settings=dict(feature_settings or {}),
        feature_digest=feature_digest,
        best_iteration=None,
        params={m.model_type: m.params for m in fitted},
        info=info,
    )


def evaluate_classifier(classifier: GenreClassifier, table: pd.DataFrame) -> dict[str, dict]:
    """Every metric of one genre per track for every split present: ``{"test": {"accuracy": ...}, ...}``
    (a task evaluates its own models: :meth:`music_genre.modeling.tasks.base.Task.evaluate`)."""
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


def chance_level(labels: pd.Series) -> float:
    """Accuracy of always answering the most frequent genre: what a model must beat to mean anything."""
    return float(labels.value_counts(normalize=True).max()) if len(labels) else float("nan")


def better_than_chance(table: pd.DataFrame, per_split: Mapping[str, Mapping]) -> dict:
    """Whether the model beats the majority answer on validation and test (each split present): a model
    that does not is reported loudly and never registered."""
    verdicts = {}
    for split in ("validation", "test"):
        if split not in per_split:
            continue
        chance = chance_level(table.loc[table["split"] == split, "genre"])
        accuracy = float(per_split[split]["accuracy"])
        verdicts[split] = {
            "accuracy": accuracy,
            "chance": chance,
            "better": accuracy > chance + 1e-9,
        }
    return {"better_than_chance": all(v["better"] for v in verdicts.values()), "splits": verdicts}
