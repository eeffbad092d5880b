"""Predict genres for audio files: the one code path of the CLI, the batch pipeline and the served model.

A clip up to ``1.5 x window_seconds`` long is scored whole, exactly as training computed its features (FMA's
clips are 30 s). A longer song is cut into ``window_seconds`` windows every ``hop_seconds`` (at most
``max_windows``, spread evenly over the song when there are more) whose probabilities are averaged, so a
4-minute song is not judged on its first 30 seconds. Every file ends as one row: a prediction, or the reason
it could not be scored. No Kedro, no Ray in here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping

import numpy as np

from music_genre.common.errors import ExpectedError
from music_genre.data import audio
from music_genre.data.inputs import (  # noqa: F401 - part of this module's interface too
    NO_AUDIO,
    NOT_FOUND,
    InputError,
    collect_audio_paths,
    expand_inputs,
    track_id_for,
)
from music_genre.modeling.familiarity import (
    classifier_familiarity,
    has_familiarity,
    is_unfamiliar,
)
from music_genre.modeling.tasks import task_of
from music_genre.modeling.tasks.base import FAMILIARITY_DISTANCE
from music_genre.serving import wording

DEFAULT_WINDOWING = {
    "window_seconds": 30.0,
    "hop_seconds": 30.0,
    "max_windows": 8,
    "min_seconds": 10.0,
    "silence_floor_dbfs": -60.0,  # a file that never rises above this is "silent", not classified
}


def windowing_settings(params: Mapping | None) -> dict:
    settings = {**DEFAULT_WINDOWING, **dict(params or {})}
    return {key: settings[key] for key in DEFAULT_WINDOWING}


def plan_windows(duration: float, windowing: Mapping) -> list[tuple[float, float | None]]:
    """(offset, duration) of each window; ``(0, None)`` = the whole file, as in training."""
    window = float(windowing["window_seconds"])
    hop = float(windowing["hop_seconds"])
    if duration <= 1.5 * window:
        return [(0.0, None)]
    last_start = duration - window
    offsets = list(np.arange(0.0, last_start + 1e-9, hop))
    limit = int(windowing["max_windows"])
    if len(offsets) > limit:
        offsets = list(np.linspace(0.0, last_start, limit))
    return [(round(float(offset), 3), window) for offset in offsets]


def window_features(path: str | os.PathLike, settings, windowing: Mapping):
    """The feature rows of a file's windows (a DataFrame) and the file's duration. Raises AudioError,
    ``silent`` when no window rises above ``silence_floor_dbfs`` (then nothing is extracted).

    Each window is decoded once, at the file's native rate, and extracted from that signal
    (``extract_signal`` resamples with the very soxr call ``audio.load`` makes, so the values are those of
    ``extract_file``): the silence check reads the same samples, no second decode."""
    import pandas as pd

    from music_genre.features import extract_signal

    info = audio.probe(path, min_duration=float(windowing["min_seconds"]))
    signals = []
    for offset, duration in plan_windows(info.duration, windowing):
        start, length = (
            (settings.offset, settings.duration) if duration is None else (offset, duration)
        )
        signals.append(audio.load_with_rate(path, None, start, length))
    audio.check_not_silent(
        [signal for signal, _ in signals], signals[0][1], windowing.get("silence_floor_dbfs")
    )
    rows = []
    for signal, rate in signals:
        row = extract_signal(signal, rate, settings)
        row.name = str(path)
        rows.append(row)
    return pd.DataFrame(rows).reset_index(drop=True), info.duration


def window_timeline(path: str | os.PathLike, classifier, windowing: Mapping | None = None):
    """Each window's start, end and most probable genre with its probability: the genre along a long
    song (one row for a clip scored whole). Raises AudioError for a file that cannot be scored."""
    import pandas as pd

    from music_genre.features import FeatureSettings

    windowing = windowing_settings(windowing)
    settings = FeatureSettings.from_dict(classifier.feature_settings)
    features, duration = window_features(path, settings, windowing)
    proba = classifier.predict_proba(features)
    rows = []
    for (offset, length), scores in zip(plan_windows(duration, windowing), proba, strict=True):
        best = int(np.argmax(scores))
        end = duration if length is None else offset + length
        rows.append(
            {
                "start": offset,
                "end": round(float(end), 3),
                "genre": classifier.classes[best],
                "probability": float(scores[best]),
            }
        )
    return pd.DataFrame(rows)


def predict_files(
    paths: Iterable[str | os.PathLike],
    classifier,
    windowing: Mapping | None = None,
    verdict: Mapping | None = None,
):
    """One row per file: path, track_id, genre, confidence (then the task's own columns: a multi-label
    model's ``tags``, the genres over their thresholds, most probable first), windows, duration, the
    verdict on the answer and its runner-up (:func:`music_genre.serving.wording.judge` with
    ``verdict``, the ``inference.verdict`` settings), the familiarity distance and flag, error reason
    and message, then one probability column per genre. Bad files get a row with their reason; nothing
    raises."""
    return predict_files_with_features(paths, classifier, windowing, verdict)[0]


def predict_files_with_features(
    paths: Iterable[str | os.PathLike],
    classifier,
    windowing: Mapping | None = None,
    verdict: Mapping | None = None,
):
    """:func:`predict_files`, plus the features each scored file was judged on (its windows' mean, in the
    model's columns, one row per scored file with its path): what monitoring compares with training."""
    import pandas as pd

    from music_genre.features import FeatureSettings

    windowing = windowing_settings(windowing)
    verdict = wording.verdict_settings(verdict)
    settings = FeatureSettings.from_dict(classifier.feature_settings)
    task = task_of(classifier)
    records = []
    feature_rows = []
    for path in paths:
        record = {"path": str(path), "track_id": track_id_for(path)}
        started = time.perf_counter()
        try:
            features, duration = window_features(path, settings, windowing)
            proba = classifier.predict_proba(features).mean(axis=0)
        except audio.AudioError as err:
            record.update(error_reason=err.reason, error=err.message)
        except ExpectedError:  # missing embedding weights and the like: every file would fail alike
            raise
        except Exception as err:  # one odd file must not cost the batch
            record.update(error_reason="prediction_error", error=" ".join(str(err).split()))
        else:
            best = int(np.argmax(proba))
            record.update(task.row_outputs(classifier, proba))
            record.update(
                genre=classifier.classes[best],
                confidence=float(proba[best]),
                windows=len(features),
                duration=float(duration),
                **{
                    f"proba_{genre}": float(p)
                    for genre, p in zip(classifier.classes, proba, strict=True)
                },
            )
            mean = features[classifier.feature_columns].astype("float64").mean(axis=0)
            feature_rows.append({"path": str(path), **mean.to_dict()})
            record.update(familiarity_columns(classifier, mean))
            judged = wording.row_verdict(
                record, classifier.classes, verdict, row_tags(record, classifier)
            )
            record.update(verdict=judged.kind, runner_up=judged.runner_up)
        record["seconds"] = round(time.perf_counter() - started, 4)
        records.append(record)
    predictions = pd.DataFrame.from_records(records, columns=prediction_columns(classifier))
    features = pd.DataFrame.from_records(
        feature_rows, columns=["path", *classifier.feature_columns]
    )
    return predictions, features


def familiarity_columns(classifier, mean_features) -> dict:
    """A scored file's ``familiarity_distance`` (its distance from the training tracks over the
    threshold: lower is more familiar, above 1.0 it is ``unfamiliar``) from its windows' mean features,
    the row monitoring compares with training. A model without the statistics: NaN and None (not
    checked, rather than "familiar")."""
    import pandas as pd

    if not has_familiarity(classifier):
        return {FAMILIARITY_DISTANCE: float("nan"), "unfamiliar": None}
    score = float(classifier_familiarity(classifier, pd.DataFrame([mean_features]))[0])
    return {FAMILIARITY_DISTANCE: score, "unfamiliar": bool(is_unfamiliar(score))}


def row_tags(row: Mapping, classifier) -> list[tuple[str, float]]:
    """The (genre, probability) pairs a prediction row's task columns name (a multi-label model's
    ``tags``), most probable first; none for one genre per track."""
    from music_genre.serving.tasks import wording_of_model

    return wording_of_model(classifier).row_tags(row)


def prediction_columns(classifier) -> list[str]:
    """The columns of a classifier's prediction table, in order (its task's own after confidence)."""
    return task_of(classifier).output_columns(classifier.classes)


def top_genres(row: Mapping, classes: Iterable[str], n: int) -> list[tuple[str, float]]:
    """The ``n`` most probable genres of a prediction row, most probable first."""
    scored = [(genre, float(row[f"proba_{genre}"])) for genre in classes]
    return sorted(scored, key=lambda item: -item[1])[:n]
