"""What each block of ``conf/base/parameters_<pipeline>.yml`` may hold, checked once when the parameters load.

One pydantic model per block (``dataset``, ``data_ingestion``, ..., ``prometheus``), every key required and
no other key allowed: the YAML files of ``conf/base`` are the only place a default is written, an
environment (``conf/<env>/parameters.yml``) or ``--params`` overrides single keys of them, and the merged
result must still fit. :func:`validate_parameters` turns the first problem into one line naming the key
and the file that set it (``modeling.registraton: unknown key (conf/local/parameters.yml)``), raised as
:class:`ParameterError`, an :class:`~music_genre.common.errors.ExpectedError`: ``kedro run`` and
``music-genre`` end with ``error: <that line>``. Values are checked, not rewritten: the code reads the
merged parameters as Kedro resolved them.

Adding a key: write it, with its default, in the block's YAML file and here, in the same place.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from music_genre.common.errors import ExpectedError

Text = Annotated[str, StringConstraints(min_length=1)]
Count = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(ge=1)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(ge=0.0)]
DateOrName = datetime.date | Text  # YAML reads an unquoted 2017-03-19 as a date


class ParameterError(ExpectedError, ValueError):
    """A parameter that does not fit its block's schema; ``str(err)`` names the key and the file."""


class Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dataset(Block):
    name: Text
    format: Literal["fma", "folder", "tags"]
    root: (
        Text | None
    )  # None (an empty --params=dataset.root=): ingestion says what to pass, in one line
    audio_dir: Text | None
    subset: Literal["small", "medium", "large", "full"]
    make_sample_if_missing: bool
    min_files_per_genre: Positive  # tags: a genre tag on at least this many files is a class
    genre_map: Text | None  # tags: a YAML file `raw tag: genre` or `raw tag: ignore`


class Split(Block):
    seed: int
    ratios: dict[Literal["training", "validation", "test"], Share]
    group_by_artist: bool


class NewReleases(Block):
    holdout: Share | DateOrName
    batch_days: Positive


class DataIngestion(Block):
    min_duration_s: Seconds
    split: Split
    new_releases: NewReleases


class Download(Block):
    base_url: Text
    archive_dir: Text | None
    archives: list[Text] | None
    checksums: dict[str, Text]
    chunk_size: Positive
    timeout_s: Annotated[float, Field(gt=0.0)]
    retries: Count
    backoff_s: Seconds
    keep_archives: bool
    progress: bool


class LabelQuality(Block):
    k: Annotated[int, Field(ge=2)]
    seed: int


class Evaluation(Block):
    split: Text
    top_confused: Count
    top_features: Count
    largest_errors: Count
    confidence_threshold: Share
    calibration_bins: Positive
    label_quality: LabelQuality


class Candidate(BaseModel):
    """One feature set ``auto`` chooses among: a name, and the settings that differ for it."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: Text
    feature_set: Text


class Auto(Block):
    candidates: Annotated[list[Candidate], Field(min_length=1)]
    default: Text


class Embedding(Block):
    name: Text
    stats: Annotated[list[Text], Field(min_length=1)]
    weights_dir: Text
    fetch_missing: bool
    wheel: Text | None
    checkpoint: Text | None
    index_url: Text | None


class ExtractorSettings(Block):
    sample_rate: Positive | None
    offset: Seconds
    duration: Annotated[float, Field(gt=0.0)] | None
    n_fft: Positive
    hop_length: Positive
    families: Annotated[list[Text], Field(min_length=1)]
    n_mfcc: Positive
    n_mels: Positive
    n_chroma: Positive
    cqt_bins_per_octave: Positive
    cqt_octaves: Positive
    contrast_bands: Positive
    contrast_fmin: Annotated[float, Field(gt=0.0)]
    rolloff_percent: Share
    tuning: float | None
    # what a named feature set changes (features.settings.FeatureSettings); not in the YAML file
    feature_set: Text | None = None
    embedding: Text | None = None
    embedding_stats: list[Text] | None = None
    embedding_layers: list[Text] | None = None
    embedding_weights: Text | None = None


class FeatureEngineering(Block):
    feature_set: Text
    auto: Auto
    embedding: Embedding
    settings: ExtractorSettings
    cache_dir: Text
    batch_size: Positive
    max_in_flight: Positive | None
    max_retries: Count
    retry_failures: bool
    progress: bool
    min_duration_s: Seconds
    gpus_per_task: Literal["auto"] | Annotated[float, Field(ge=0.0)]


class Verdict(Block):
    confident_at: Share
    margin: Share
    leaning_chance: Annotated[float, Field(ge=1.0)]
    few_tracks_per_genre: Annotated[float, Field(ge=0.0)]


class Inference(Block):
    window_seconds: Annotated[float, Field(gt=0.0)]
    hop_seconds: Annotated[float, Field(gt=0.0)]
    max_windows: Positive
    min_seconds: Seconds
    silence_floor_dbfs: float | None
    verdict: Verdict
    input_dir: Text | None
    batch: DateOrName | None
    checkpoint_dir: Text
    use_fallback: bool
    fallback_reason: Text | None
    batch_size: Positive


class Serving(Block):
    task: Text
    allowed_roots: list[Text]
    max_mb: Annotated[float, Field(gt=0.0)]


class Prometheus(Block):
    dataset: Text
    textfile_dir: Text | None
    page_port: Annotated[int, Field(ge=0, le=65535)] | None
    page_address: Text


class Thresholds(Block):
    prior_tracks: Annotated[float, Field(ge=0.0)]
    min_positives: Count
    default: Share
    at_least_one: bool


class MultiLabel(Block):
    labels: Literal["top_level", "all"]
    min_training_tracks: Positive
    thresholds: Thresholds


class Model(Block):
    type: Text
    members: list[Text]
    refit_on_validation: bool | Literal["auto"]
    use_tuned_params: bool
    class_weight: Literal["balanced"] | dict[str, float] | None
    seed: int


class Selection(Block):
    candidates: Annotated[list[Text], Field(min_length=1)]
    ensemble_size: Count
    cv_below_tracks: Count
    folds: Annotated[int, Field(ge=2)]
    repeats: Positive
    metric: Literal["accuracy", "f1_macro"]


class MultiLabelGate(Block):
    jaccard: Seconds  # >= 0; above 1: no model reaches the gate (never registered)
    hamming_loss: Seconds


class Registration(Block):
    model_name: Text
    metric: Text
    threshold: float
    require_better_than_chance: bool
    artifact_path: Literal["music_genre_pipeline", "genre_classifier"]
    multi_label: MultiLabelGate


class OutlierExposure(Block):
    enabled: bool
    per_family: Positive
    seconds: Annotated[float, Field(gt=0.0)]
    min_probability: Share
    mp3_share: Share


class Familiarity(Block):
    outlier_exposure: OutlierExposure
    enabled: bool
    flag_share: Share
    neighbours: Positive
    components: Positive
    max_reference: Positive
    min_calibration: Count
    outlier_exposure: OutlierExposure


class Promotion(Block):
    splits: Annotated[list[Text], Field(min_length=1)]
    metric: Text
    multi_label_metric: Text
    margin: float


class Modeling(Block):
    task: Text
    multi_label: MultiLabel
    model: Model
    selection: Selection
    hyperparameters: dict[Text, dict[str, Any]]
    registration: Registration
    familiarity: Familiarity
    promotion: Promotion


class Drift(Block):
    columns: Literal["pca", "importance"]
    top_n: Positive
    stattest: Text | None
    stattest_threshold: Annotated[float, Field(gt=0.0)]
    drift_share: Share


class RetrainWhen(Block):
    min_batch_accuracy: Share
    max_accuracy_drop: Share
    min_labelled_tracks: Count
    retrain_on_drift: bool


class Monitoring(Block):
    batch: DateOrName | None
    labels_csv: Text | None
    reference_splits: Annotated[list[Text], Field(min_length=1)]
    min_reference_tracks: Count
    drift: Drift
    thresholds: RetrainWhen
    fallback_on_drift: bool


class KeepLast(Block):
    monitoring_pages: Count
    mlflow_runs: Count
    model_versions: Count


class Retention(Block):
    enabled: bool
    keep_days: Annotated[float, Field(ge=0.0)]
    keep_last: KeepLast


class Retraining(Block):
    hold_out_newest_batch: bool


class SampleData(Block):
    seed: int
    genres: Annotated[list[Text], Field(min_length=2)]
    tracks_per_genre: Positive
    clip_seconds: Annotated[float, Field(gt=0.0)]
    sample_rate: Positive
    bit_rate_kbps: Positive
    plant_faults: bool
    multi_genre_share: Annotated[float, Field(ge=0.0)]


class Scheduler(Block):
    grace_period: Positive
    reduction_factor: Annotated[float, Field(gt=1.0)]


class SearchDimension(Block):
    type: Literal["loguniform", "uniform", "randint"]
    low: float
    high: float


class Tuning(Block):
    enabled_in_default_run: bool
    num_samples: Positive
    max_concurrent_trials: Positive | None
    trial_cpus: Annotated[float, Field(gt=0.0)]
    num_boost_round: Positive
    report_every: Positive
    metric: Text
    scheduler: Scheduler
    search_alg: Literal["optuna", "random"]
    storage_path: Text
    search_space: dict[Text, SearchDimension]


class Playlist(Block):
    length: Positive
    artist_window: Count
    album_window: Count
    seed_weight: Annotated[float, Field(ge=0.0)]
    candidates: Positive


class Similarity(Block):
    exact_below: Count
    refit_fraction: Share
    connectivity: Positive
    expansion_add: Positive
    expansion_search: Positive
    duplicate_distance: Annotated[float, Field(ge=0.0)]
    near_duplicate_distance: Annotated[float, Field(ge=0.0)]
    top: Positive
    playlist: Playlist


class Parameters(Block):
    """Every block, each from its own file of ``conf/base`` (the file names the block)."""

    dataset: Dataset  # parameters.yml
    data_ingestion: DataIngestion
    download: Download
    evaluation: Evaluation
    feature_engineering: FeatureEngineering
    inference: Inference
    serving: Serving  # parameters_inference.yml
    prometheus: Prometheus
    model_comparison: dict[Text, dict[str, Any]]
    modeling: Modeling
    monitoring: Monitoring
    retention: Retention
    retraining: Retraining
    sample_data: SampleData
    similarity: Similarity  # parameters_similarity.yml
    tuning: Tuning


# The block's old name -> today's: a user's conf/<env> that still writes it keeps working (one warning).
RENAMED_BLOCKS = {"metrics": "prometheus"}


def _at(tree: Any, path: Sequence[str]) -> tuple[bool, Any]:
    for part in path:
        if not isinstance(tree, Mapping) or part not in tree:
            return False, None
        tree = tree[part]
    return True, tree


def source_of(path: Sequence[str], sources: Sequence[tuple[str, Mapping]]) -> str | None:
    """The last of ``sources`` (lowest precedence first) that sets ``path``, else the last that sets its
    longest prefix: where to look for the key."""
    for depth in range(len(path), 0, -1):
        for label, tree in reversed(sources):
            if _at(tree, path[:depth])[0]:
                return label
    return None


def problem_line(error: ValidationError, parameters: Mapping, sources: Sequence) -> str:
    """The first problem of ``error``: the dotted key, what is wrong, and the file that set it."""
    first = error.errors(include_url=False)[0]
    path = [str(part) for part in first["loc"] if not isinstance(part, int)]
    while path and not _at(parameters, path)[0] and first["type"] != "missing":
        path.pop()  # a union's branch name (e.g. "literal['auto']") is no key of the file
    key = ".".join(path) or "parameters"
    where = source_of(path, sources)
    suffix = f" ({where})" if where else ""
    if first["type"] == "extra_forbidden":
        return f"parameter {key}: unknown key{suffix}"
    if first["type"] == "missing":
        return f"parameter {key}: missing{suffix}"
    found, value = _at(parameters, path)
    shown = f" = {value!r}" if found and not isinstance(value, Mapping | list) else ""
    return f"parameter {key}{shown}: {first['msg'].lower()}{suffix}"


def renamed(parameters: Mapping) -> tuple[dict, list[str]]:
    """``parameters`` with old block names moved to today's (merged under them), and a note for each."""
    moved, notes = dict(parameters), []
    for old, new in RENAMED_BLOCKS.items():
        if old in moved and isinstance(moved[old], Mapping):
            moved[new] = {**(moved.get(new) or {}), **moved.pop(old)}
            notes.append(f"parameters: the `{old}` block is now `{new}` (parameters_{new}.yml)")
    return moved, notes


def validate_parameters(
    parameters: Mapping, sources: Sequence[tuple[str, Mapping]] = ()
) -> Mapping:
    """``parameters`` unchanged when every block fits its schema, else :class:`ParameterError`.

    Args:
        parameters: the merged parameters (base, environment, ``--params``), resolved.
        sources: ``(label, raw tree)`` of each file, lowest precedence first, and ``--params`` last:
            which one set a key.

    Returns:
        ``parameters`` itself.
    """
    try:
        Parameters.model_validate(parameters)
    except ValidationError as error:
        raise ParameterError(problem_line(error, parameters, sources)) from None
    return parameters


def relative(path: Path | str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
