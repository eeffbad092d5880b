"""One verdict per monitoring decision, in the same words wherever a person reads it: the run's log and
summary block, ``decision.json``, the report page, the daily job's block and the web page.

A decision has two verdicts, one sentence each, the answer first and why in parentheses:

    drift: no (1 of 20 components drifted: 5%, threshold 50%); also seen: the genre shares differ from the
    reference's, mean confidence 0.22 vs 0.31 on the reference (not part of the verdict)
    retrain: yes (batch accuracy 0.00 < 0.50 on 3 labelled tracks)

Only the feature drift decides ``drift``; what else the report saw (the predicted genres' shares, the
confidence) follows as "also seen", said not to be part of the verdict. A reference under
``monitoring.min_reference_tracks`` makes the drift check weak, and the drift verdict says so.

:func:`judge` takes every yes or no and writes its words in the same branch, so a verdict cannot say
otherwise than the flag beside it; :func:`verdict_lines` reads them back from a decision.
"""

from __future__ import annotations

from collections.abc import Mapping

# Below this many reference tracks the drift check is weak. For a batch of m tracks against a reference of n,
# the K-S test flags a column at a distance of about 1.36 * sqrt(1/n + 1/m) (p 0.05): for a day of 25
# tracks, 0.33 with 50 reference tracks, 0.27 with an unlimited reference, 0.37 with 30 and 0.51 with 10.
# And the 20 principal components are fitted on the reference: with 50 tracks they are 20 of 49 directions,
# with 10 tracks there are only 9, which "explain" 100% of those 10 tracks and little of anything else.
MIN_REFERENCE_TRACKS = 50
GENRES_NAMED = 3  # unseen genres named in a verdict; the rest are counted


def judge(metrics: Mapping, params: Mapping) -> dict:
    """Drift? Retrain? ``metrics``: a batch's figures (:func:`music_genre.monitoring.drift.summarize_metrics`);
    ``params``: ``monitoring``. Returns the flags, both verdicts, ``weak``, the detailed ``reasons`` and the
    thresholds used."""
    thresholds = dict(params.get("thresholds") or {})
    drift_share = float((params.get("drift") or {}).get("drift_share", 0.5))
    min_reference = params.get("min_reference_tracks")  # 0: never weak
    min_reference = MIN_REFERENCE_TRACKS if min_reference is None else int(min_reference)
    used = {**thresholds, "drift_share": drift_share, "min_reference_tracks": min_reference}
    if metrics.get("empty") or not metrics.get("n_tracks"):
        why = f"batch {metrics.get('batch')} has no scored tracks"
        return {
            "retrain": False,
            "drift": False,
            "weak": False,
            "drift_verdict": f"drift: not measured ({why})",
            "retrain_verdict": f"retrain: no ({why})",
            "reasons": [f"batch {metrics.get('batch')} is empty: nothing to monitor"],
            "thresholds": used,
        }
    reasons: list[str] = []
    drift, weak, drift_why, also_seen = _drift(metrics, drift_share, min_reference, reasons)
    retrain, retrain_why = _retrain(metrics, thresholds, drift, reasons)
    if not reasons:
        reasons.append("no drift, no quality drop")
    drift_verdict = sentence("drift", drift, drift_why)
    if also_seen:
        drift_verdict += f"; also seen: {', '.join(also_seen)} (not part of the verdict)"
    return {
        "retrain": retrain,
        "drift": drift,
        "weak": weak,
        "n_reference": int(metrics["n_reference"]),
        "drift_verdict": drift_verdict,
        "retrain_verdict": sentence("retrain", retrain, retrain_why),
        "reasons": reasons,
        "thresholds": used,
    }


def sentence(subject: str, yes: bool, why: list[str]) -> str:
    """``subject: yes (why; why)``."""
    return f"{subject}: {'yes' if yes else 'no'} ({'; '.join(why)})"


def verdict_lines(decision: Mapping) -> list[str]:
    """The decision's two verdicts, drift then retrain, as every reader shows them (a decision written
    before verdicts existed: its flags alone)."""
    return [
        decision.get("drift_verdict") or f"drift: {'yes' if decision.get('drift') else 'no'}",
        decision.get("retrain_verdict") or f"retrain: {'yes' if decision.get('retrain') else 'no'}",
    ]


def weak_warning(decision: Mapping) -> str | None:
    """The warning a weak drift check gives once per run (None when the reference is large enough)."""
    if not decision.get("weak"):
        return None
    return (
        f"The reference has {decision['n_reference']} tracks, under monitoring.min_reference_tracks "
        f"{decision['thresholds']['min_reference_tracks']}: the drift check is weak (only a large shift "
        "makes a column drift). Train on more tracks, or lower the parameter to accept the check as it is"
    )


def _drift(
    metrics: Mapping, drift_share: float, min_reference: int, reasons: list[str]
) -> tuple[bool, bool, list[str], list[str]]:
    """(drift, weak, why, also seen): only the feature drift decides."""
    drift = bool(metrics["drift_share"] >= drift_share)
    kind = metrics.get("drift_column_kind") or "columns"
    why = [
        f"{metrics['n_drifted_columns']} of {metrics['n_drift_columns']} {kind} drifted: "
        f"{metrics['drift_share']:.0%}, threshold {drift_share:.0%}"
    ]
    if drift:
        reasons.append(
            f"feature drift: {metrics['n_drifted_columns']} of {metrics['n_drift_columns']} columns "
            f"drifted (share {metrics['drift_share']:.2f} >= {drift_share}): "
            + ", ".join(metrics["drifted_columns"][:5])
        )
    weak = int(metrics["n_reference"]) < min_reference
    if weak:
        why.append(
            f"weak: the reference has {metrics['n_reference']} tracks, under min_reference_tracks "
            f"{min_reference}"
        )
    also_seen = []
    if metrics["prediction_drift"]:
        reasons.append("prediction drift: the batch's genre shares differ from the reference's")
        also_seen.append("the genre shares differ from the reference's")
    if metrics["confidence_drift"]:
        confidence = (
            f"mean confidence {metrics['mean_confidence']:.2f} vs "
            f"{metrics['reference_mean_confidence']:.2f} on the reference"
        )
        reasons.append(f"confidence drift: {confidence}")
        also_seen.append(confidence)
    return drift, weak, why, also_seen


def _retrain(
    metrics: Mapping, thresholds: Mapping, drift: bool, reasons: list[str]
) -> tuple[bool, list[str]]:
    """(retrain, why): the batch's accuracy against ``monitoring.thresholds``, and drift when
    ``retrain_on_drift``."""
    retrain = False
    why: list[str] = []
    accuracy = metrics.get("batch_accuracy")
    n = int(metrics["n_labelled"])
    need = int(thresholds.get("min_labelled_tracks", 1))
    if accuracy is None:
        why.append("no labels for this batch")
    elif n < need:
        why.append(
            f"only {n} labelled tracks, under min_labelled_tracks {need}: too few to judge accuracy"
        )
        reasons.append(
            f"only {n} labelled tracks: too few to judge accuracy "
            f"(min_labelled_tracks {thresholds.get('min_labelled_tracks')})"
        )
    else:
        floor = float(thresholds.get("min_batch_accuracy", 0.0))
        reference = float(metrics["reference_accuracy"])
        drop = reference - accuracy
        max_drop = float(thresholds.get("max_accuracy_drop", 1.0))
        if accuracy < floor:
            retrain = True
            why.append(f"batch accuracy {accuracy:.2f} < {floor:.2f} on {n} labelled tracks")
            reasons.append(f"batch accuracy {accuracy:.2f} < {floor} on {n} labelled tracks")
        if drop > max_drop:
            retrain = True
            why.append(
                f"batch accuracy {accuracy:.2f} is {drop:.2f} below the reference's {reference:.2f}, "
                f"more than {max_drop:.2f}"
            )
            reasons.append(
                f"batch accuracy {accuracy:.2f} is {drop:.2f} below the reference's {reference:.2f} "
                f"(more than {max_drop})"
            )
        if not retrain:
            why.append(
                f"batch accuracy {accuracy:.2f} on {n} labelled tracks: not under {floor:.2f}, and "
                f"not more than {max_drop:.2f} below the reference's {reference:.2f}"
            )
    if drift and thresholds.get("retrain_on_drift"):
        retrain = True
        why.insert(0, "the batch drifted and retrain_on_drift is true")
        reasons.append("retrain_on_drift is true")
    unseen = int(metrics.get("unseen_genre_labels") or 0)
    if unseen:
        genres = list(metrics.get("unseen_genres") or [])
        named = ", ".join(genres[:GENRES_NAMED])
        if len(genres) > GENRES_NAMED:
            named += f" and {len(genres) - GENRES_NAMED} more"
        why.append(
            f"{unseen} label{'s' if unseen != 1 else ''} name genres the model never saw "
            f"({named}), counted as wrong"
        )
        reasons.append(
            f"{unseen} labels name genres the model never saw: "
            + ", ".join(metrics["unseen_genres"])
        )
    return retrain, why
