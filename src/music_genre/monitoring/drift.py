"""Reference versus the latest batch, with Evidently: feature drift, prediction drift, confidence and,
when the batch's labels are known, classification quality; then the decision (drift? retrain?).

Feature drift is measured on the columns that matter: the first principal components of the reference
features (every feature counts, whatever the model), or the model's most important features. Evidently is imported inside functions, its telemetry off.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from music_genre.common.errors import ExpectedError
from music_genre.modeling.artifact import GenreClassifier
from music_genre.monitoring import verdict

log = logging.getLogger(__name__)

PREDICTION = "prediction"
TARGET = "target"
CONFIDENCE = "confidence"
# distance from the training tracks over the threshold (modeling.familiarity), and its flag
FAMILIARITY = "familiarity"
# the prediction tables' name for it (tables written before call it "familiarity")
FAMILIARITY_DISTANCE = "familiarity_distance"
UNFAMILIAR = "unfamiliar"
PC_PREFIX = "pc_"  # the principal components' column names: pc_01, pc_02, ...


class FeatureMismatchError(ExpectedError, ValueError):
    """The batch was featurized with other settings than the reference."""


def fitted_splits(classifier) -> frozenset[str]:
    """The splits whose tracks ``classifier`` was fitted on (its ``info["fitted_on"]``: ``training``,
    ``training+validation`` after a refit on a small collection, an ensemble's members' joined by commas);
    ``training`` for a model that does not say (LightGBM only stops early on validation, a multi-label
    model only tunes its thresholds there)."""
    said = str((getattr(classifier, "info", None) or {}).get("fitted_on") or "training")
    return frozenset(part.strip() for part in said.replace(",", "+").split("+") if part.strip())


def unseen_splits(classifier, splits) -> list[str]:
    """The splits of ``splits`` (``monitoring.reference_splits``) whose tracks ``classifier`` never fitted:
    after a refit on training+validation, not validation. One ``error:`` line when none is left."""
    splits = [splits] if isinstance(splits, str) else list(splits)
    fitted = fitted_splits(classifier)
    unseen = [split for split in splits if split not in fitted]
    if not unseen:
        raise ExpectedError(
            f"monitoring.reference_splits {splits} holds only tracks the model was fitted on "
            f"({'+'.join(sorted(fitted))}): add a split it never fitted, e.g. test"
        )
    return unseen


def reference_frame(
    model_input_table: pd.DataFrame, classifier: GenreClassifier, splits
) -> pd.DataFrame:
    """The reference: tracks of ``splits`` (pass :func:`unseen_splits`: the model never fitted them, so its
    confidence there is what it is on unseen music of the training distribution), with the model's
    predictions."""
    part = model_input_table[model_input_table["split"].isin(list(splits))].reset_index(drop=True)
    if part.empty:
        raise ExpectedError(
            f"no reference tracks in splits {list(splits)}: set monitoring.reference_splits"
        )
    proba = classifier.predict_proba(part)
    frame = part[classifier.feature_columns].astype("float64").copy()
    frame[PREDICTION] = np.asarray(classifier.classes, dtype=object)[proba.argmax(axis=1)]
    frame[CONFIDENCE] = proba.max(axis=1)
    for i, genre in enumerate(classifier.classes):
        frame[f"proba_{genre}"] = proba[:, i]
    frame[TARGET] = part["genre"].astype(str).to_numpy()
    return with_familiarity(frame, classifier_familiarity(classifier, part))


def with_familiarity(frame: pd.DataFrame, scores) -> pd.DataFrame:
    """The frame with each track's familiarity and its flag (NaN and NA: a model without the check)."""
    from music_genre.modeling.familiarity import is_unfamiliar

    scores = np.asarray(scores, dtype=np.float64)
    frame[FAMILIARITY] = scores
    frame[UNFAMILIAR] = pd.array(
        [
            None if np.isnan(v) else bool(f)
            for v, f in zip(scores, is_unfamiliar(scores), strict=True)
        ],
        dtype="boolean",
    )
    return frame


def classifier_familiarity(classifier, features: pd.DataFrame) -> np.ndarray:
    from music_genre.modeling.familiarity import classifier_familiarity as scores

    return scores(classifier, features)


def current_frame(
    rows: pd.DataFrame, batch_features: pd.DataFrame, classifier: GenreClassifier, labels: pd.Series
) -> pd.DataFrame:
    """The batch: each scored file's features (as judged), prediction, confidence and label if known."""
    features = batch_features[batch_features["feature_digest"] == classifier.feature_digest]
    features = features.drop_duplicates(["path", "fingerprint"], keep="last")
    probas = [f"proba_{genre}" for genre in classifier.classes]
    merged = rows[["path", "fingerprint", "genre", "confidence", *probas]].merge(
        features, on=["path", "fingerprint"], how="inner"
    )
    frame = merged[classifier.feature_columns].astype("float64").copy()
    frame[PREDICTION] = merged["genre"].astype(str).to_numpy()
    frame[CONFIDENCE] = merged["confidence"].astype("float64").to_numpy()
    for column in probas:
        frame[column] = merged[column].astype("float64").to_numpy()
    by_path = pd.Series(labels.to_numpy(), index=rows["path"].to_numpy())
    frame[TARGET] = merged["path"].map(by_path[~by_path.index.duplicated()]).to_numpy()
    frame["path"] = merged["path"].astype(str).to_numpy()
    # as the batch job scored them (a table written before the check has no such column: NaN)
    scored = rows.drop_duplicates(["path", "fingerprint"], keep="last").set_index(
        ["path", "fingerprint"]
    )
    keys = pd.MultiIndex.from_frame(merged[["path", "fingerprint"]])
    familiarity = scored.get(FAMILIARITY_DISTANCE, pd.Series(np.nan, index=scored.index))
    if FAMILIARITY in scored.columns:  # rows of a table written before the column was renamed
        familiarity = familiarity.astype("float64").fillna(scored[FAMILIARITY].astype("float64"))
    return with_familiarity(frame, familiarity.reindex(keys).astype("float64").to_numpy())


def check_columns(reference_table: pd.DataFrame, classifier) -> None:
    """Refuse a reference table that lacks some of the model's columns (features extracted since with
    another feature set)."""
    missing = [c for c in classifier.feature_columns if c not in reference_table.columns]
    if missing:
        raise ExpectedError(
            f"the training features lack {len(missing)} of the model's columns (e.g. {missing[0]}): "
            "run `kedro run` again so that the model and its reference come from one extraction"
        )


def check_features(reference_digest: str, batch_digests) -> None:
    """Refuse a batch featurized otherwise than the reference (the feature set or settings changed)."""
    other = sorted({str(d) for d in batch_digests if str(d) != reference_digest})
    if other:
        raise FeatureMismatchError(
            f"the batch's features ({', '.join(other)}) differ from the reference's "
            f"({reference_digest}): the feature settings changed since training; retrain with "
            "`kedro run`, then score the batch again"
        )


def drift_columns(
    classifier: GenreClassifier, reference: pd.DataFrame, current: pd.DataFrame, params: Mapping
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], str]:
    """The columns feature drift is measured on, added to both frames: (reference, current, names, how).

    ``pca`` (the default): the first principal components of the standardized reference features, which
    sum up every feature (on the sample, real GTZAN clips drift on 75% of them, a held-out sample batch on
    none); ``importance``: the model's most important features, readable but narrower (35% vs 10%), and
    only for models with importances (LightGBM, random forest)."""
    top_n = int(params.get("top_n", 20))
    how = params.get("columns", "pca")
    if how not in ("pca", "importance"):
        raise ExpectedError(f"monitoring.drift.columns {how!r}: use pca or importance")
    importance = classifier.feature_importance() if how == "importance" else None
    if importance is not None and importance.sum() > 0:
        names = [str(c) for c in importance.index[:top_n]]
        return reference, current, names, f"the model's {len(names)} most important features"
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    columns = classifier.feature_columns
    scaler = StandardScaler().fit(reference[columns].to_numpy())
    n = max(1, min(top_n, len(reference) - 1, len(columns)))
    pca = PCA(n_components=n, random_state=0).fit(scaler.transform(reference[columns].to_numpy()))
    names = [f"{PC_PREFIX}{i + 1:02d}" for i in range(n)]
    reference, current = reference.copy(), current.copy()
    for frame in (reference, current):
        values = pca.transform(scaler.transform(frame[columns].to_numpy())) if len(frame) else []
        for i, name in enumerate(names):
            frame[name] = values[:, i] if len(frame) else []
    explained = float(pca.explained_variance_ratio_.sum())
    return reference, current, names, f"{n} principal components ({explained:.0%} of the variance)"


def _metric_drift(entry: Mapping, threshold: float) -> bool:
    """Evidently's ValueDrift gives a p-value (drift below the threshold) or a distance (above it)."""
    value = float(entry["value"])
    if "p_value" in str(entry["config"].get("method", "")):
        return value < threshold
    return value >= threshold


def quality_section_possible(current: pd.DataFrame, classes) -> bool:
    """Whether Evidently's classification section can be computed for the batch: every row labelled
    with a genre the model knows (it cannot take missing or unknown labels), and at least three genres
    among labels and predictions (it takes two for a binary task and fails). Otherwise the batch's
    accuracy and the unknown labels are still in the metrics; only the page leaves the section out."""
    if current.empty or current[TARGET].isna().any():
        return False
    if not current[TARGET].isin(list(classes)).all():
        return False
    seen = set(current[TARGET].astype(str)) | set(current[PREDICTION].astype(str))
    return len(seen) >= 3


def evidently_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    labels_known: bool,
    params: Mapping,
    title: str,
):
    """Run Evidently; returns (HTML text, the snapshot's metric list). ``labels_known``: add the
    classification section (see :func:`quality_section_possible`)."""
    os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's telemetry off, before it is imported
    from evidently import DataDefinition, Dataset, MulticlassClassification, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import ClassificationPreset, DataDriftPreset

    stattest = params.get("stattest")
    threshold = params.get("stattest_threshold")
    drift_args = {"method": stattest} if stattest else {}
    if threshold is not None:
        drift_args["threshold"] = float(threshold)
    categorical = [PREDICTION] + ([TARGET] if labels_known else [])
    keep = [*columns, CONFIDENCE, *categorical]
    definition = DataDefinition(
        numerical_columns=[*columns, CONFIDENCE],
        categorical_columns=categorical,
        classification=[MulticlassClassification(target=TARGET, prediction_labels=PREDICTION)]
        if labels_known
        else None,
    )
    metrics = [
        DataDriftPreset(
            columns=columns,
            drift_share=float(params.get("drift_share", 0.5)),
            **drift_args,
        ),
        ValueDrift(column=PREDICTION, **drift_args),
        ValueDrift(column=CONFIDENCE, **drift_args),
    ]
    if labels_known:
        metrics.append(ClassificationPreset())
    current_ds = Dataset.from_pandas(
        current[keep].dropna(subset=categorical).reset_index(drop=True),
        data_definition=definition,
    )
    reference_ds = Dataset.from_pandas(
        reference[keep].reset_index(drop=True), data_definition=definition
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's ill-defined-recall notes for a small batch
        snapshot = Report(metrics, metadata={"title": title}).run(current_ds, reference_ds)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "report.html"
        snapshot.save_html(str(page))
        html = page.read_text(encoding="utf-8")
    return with_heading(html, title), snapshot.dict()["metrics"]


def with_heading(html: str, title: str) -> str:
    """The page's title and a heading line naming the batch and the model (Evidently shows neither)."""
    import html as markup

    text = markup.escape(title)
    heading = f'<h2 style="font-family: sans-serif; margin: 16px 24px 0">{text}</h2>'
    head_end = html.find("</head>")
    start = html.find("<title>", 0, head_end)
    if start >= 0:
        start += len("<title>")
        html = html[:start] + text + html[html.index("</title>", start) :]
    else:
        html = html.replace("</head>", f"<title>{text}</title></head>", 1)
    at = html.find("<body")
    if at >= 0:
        close = html.index(">", at) + 1
        html = html[:close] + heading + html[close:]
    return html


def summarize_metrics(
    entries: list[dict],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    classes: list[str],
    params: Mapping,
) -> dict:
    """The figures a scheduler and MLflow need, from Evidently's metrics and the two frames."""
    threshold = float(params.get("stattest_threshold") or 0.05)
    drifted, per_column = [], {}
    prediction_drift = confidence_drift = False
    share = 0.0
    for entry in entries:
        name = str(entry.get("metric_name", ""))
        if name.startswith("DriftedColumnsCount"):
            share = float(entry["value"]["share"])
        elif name.startswith("ValueDrift("):
            column = entry["config"]["column"]
            is_drift = _metric_drift(entry, float(entry["config"].get("threshold") or threshold))
            if column == PREDICTION:
                prediction_drift = is_drift
            elif column == CONFIDENCE:
                confidence_drift = is_drift
            else:
                per_column[column] = float(entry["value"])
                if is_drift:
                    drifted.append(column)
    labelled = current[TARGET].notna()
    known = current.loc[labelled, TARGET].isin(classes)
    metrics = {
        "n_tracks": len(current),
        "n_reference": len(reference),
        "drift_share": share,
        "drifted_columns": drifted,
        "n_drifted_columns": len(drifted),
        "n_drift_columns": len(columns),
        # what the columns are, in the verdict's words (drift_columns names components pc_01, ...)
        "drift_column_kind": "components"
        if columns and all(c.startswith(PC_PREFIX) for c in columns)
        else "features",
        "drift_scores": per_column,
        "prediction_drift": prediction_drift,
        "confidence_drift": confidence_drift,
        "mean_confidence": float(current[CONFIDENCE].mean()) if len(current) else math.nan,
        "reference_mean_confidence": float(reference[CONFIDENCE].mean()),
        "genre_shares": current[PREDICTION].value_counts(normalize=True).round(4).to_dict(),
        "reference_genre_shares": reference[PREDICTION]
        .value_counts(normalize=True)
        .round(4)
        .to_dict(),
        "n_labelled": int(labelled.sum()),
        "unseen_genre_labels": int((~known).sum()),
        "unseen_genres": sorted(set(current.loc[labelled, TARGET][~known].astype(str))),
        "reference_accuracy": float((reference[PREDICTION] == reference[TARGET]).mean()),
        "batch_accuracy": None,
        **unfamiliar_figures(reference, current),
    }
    if labelled.any():
        part = current[labelled]
        metrics["batch_accuracy"] = float((part[PREDICTION] == part[TARGET]).mean())
    return metrics


def unfamiliar_figures(reference: pd.DataFrame, current: pd.DataFrame) -> dict:
    """How many of the batch's files the model flagged as unlike its training music, and the share of the
    reference tracks flagged (about ``modeling.familiarity.flag_share``); None without the check."""

    def share(frame: pd.DataFrame) -> float | None:
        flags = frame[UNFAMILIAR].dropna() if UNFAMILIAR in frame else pd.Series(dtype=bool)
        return float(flags.astype(bool).mean()) if len(flags) else None

    flags = current[UNFAMILIAR].dropna() if UNFAMILIAR in current else pd.Series(dtype=bool)
    return {
        "n_unfamiliar": int(flags.astype(bool).sum()) if len(flags) else None,
        "unfamiliar_share": share(current),
        "reference_unfamiliar_share": share(reference),
    }


def unfamiliar_line(metrics: Mapping) -> str:
    """One line for the report's page: the batch's unfamiliar files."""
    if metrics.get("unfamiliar_share") is None:
        return "Unfamiliar files: not measured (the model has no familiarity check; retrain it)"
    reference = metrics.get("reference_unfamiliar_share")
    return (
        f"Unfamiliar files (unlike the training music): {metrics['n_unfamiliar']} of "
        f"{metrics['n_tracks']} ({metrics['unfamiliar_share']:.0%})"
        + ("" if reference is None else f"; reference tracks {reference:.0%}")
    )


def with_note(html: str, text: str) -> str:
    """A line of text under the page's heading (after :func:`with_heading`)."""
    import html as markup

    note = f'<p style="font-family: sans-serif; margin: 4px 24px 0">{markup.escape(text)}</p>'
    at = html.find("</h2>")
    return html[: at + 5] + note + html[at + 5 :] if at >= 0 else html


def with_verdict(html: str, lines: list[str]) -> str:
    """The decision's verdicts at the top of the page, right under the heading (after :func:`with_heading`),
    in the words of the log and ``decision.json``."""
    import html as markup

    block = "".join(
        f'<p style="font-family: sans-serif; font-weight: bold; margin: 4px 24px 0">'
        f"{markup.escape(line)}</p>"
        for line in lines
    )
    block = f'<div class="music-genre-verdict">{block}</div>'
    at = html.find("</h2>", max(html.find("<body"), 0))
    return html[: at + 5] + block + html[at + 5 :] if at >= 0 else html


def decide(metrics: Mapping, params: Mapping) -> dict:
    """Drift? Retrain? With the verdicts (:mod:`music_genre.monitoring.verdict`), every reason, and the
    thresholds used (monitoring.thresholds, drift.drift_share, min_reference_tracks)."""
    return verdict.judge(metrics, params)
