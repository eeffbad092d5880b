"""One verdict per monitoring decision (issue 21): the drift and retrain sentences on constructed batch
figures, the numbers, thresholds, "also seen" parts and the weak reference; where they appear (the run's
summary, the daily block, the report page). The real monitoring run is tests/test_monitoring.py's."""

from __future__ import annotations

import html

from music_genre.monitoring import drift, verdict
from music_genre.monitoring.daily import DailyOutcome
from music_genre.serving.run_summary import monitoring_summary

PARAMS = {
    "min_reference_tracks": 50,
    "drift": {"drift_share": 0.5},
    "thresholds": {
        "min_batch_accuracy": 0.5,
        "max_accuracy_drop": 0.25,
        "min_labelled_tracks": 3,
        "retrain_on_drift": False,
    },
}


def figures(**changes) -> dict:
    """A batch's figures as summarize_metrics writes them: 24 tracks, 1 of 20 components drifted, no
    labels, a reference of 60 tracks."""
    return {
        "batch": "2017-03-19",
        "model_version": "v1",
        "n_tracks": 24,
        "n_reference": 60,
        "drift_share": 0.05,
        "drifted_columns": ["pc_03"],
        "n_drifted_columns": 1,
        "n_drift_columns": 20,
        "drift_column_kind": "components",
        "drift_measured_on": "20 principal components (81% of the variance)",
        "prediction_drift": False,
        "confidence_drift": False,
        "mean_confidence": 0.6,
        "reference_mean_confidence": 0.62,
        "n_labelled": 0,
        "unseen_genre_labels": 0,
        "unseen_genres": [],
        "reference_accuracy": 0.6,
        "batch_accuracy": None,
        "empty": False,
        **changes,
    }


def test_no_drift_and_no_labels():
    decision = drift.decide(figures(), PARAMS)
    assert decision["drift"] is False and decision["retrain"] is False and decision["weak"] is False
    assert decision["drift_verdict"] == "drift: no (1 of 20 components drifted: 5%, threshold 50%)"
    assert decision["retrain_verdict"] == "retrain: no (no labels for this batch)"
    assert verdict.verdict_lines(decision) == [
        decision["drift_verdict"],
        decision["retrain_verdict"],
    ]
    assert decision["reasons"] == ["no drift, no quality drop"]  # kept for existing readers
    assert decision["thresholds"]["min_reference_tracks"] == 50


def test_genre_shares_and_confidence_are_seen_but_are_not_the_verdict():
    decision = drift.decide(
        figures(
            prediction_drift=True,
            confidence_drift=True,
            mean_confidence=0.2219,
            reference_mean_confidence=0.3131,
        ),
        PARAMS,
    )
    assert decision["drift"] is False
    assert decision["drift_verdict"] == (
        "drift: no (1 of 20 components drifted: 5%, threshold 50%); also seen: the genre shares differ "
        "from the reference's, mean confidence 0.22 vs 0.31 on the reference (not part of the verdict)"
    )
    # the detailed reasons keep both observations, as before
    assert decision["reasons"] == [
        "prediction drift: the batch's genre shares differ from the reference's",
        "confidence drift: mean confidence 0.22 vs 0.31 on the reference",
    ]


def test_feature_drift_on_features_with_a_custom_share():
    params = {**PARAMS, "drift": {"drift_share": 0.3}}
    decision = drift.decide(
        figures(
            drift_share=0.35,
            n_drifted_columns=7,
            drifted_columns=[f"mfcc_{i}" for i in range(7)],
            drift_column_kind="features",
        ),
        params,
    )
    assert decision["drift"] is True and decision["retrain"] is False
    assert decision["drift_verdict"] == "drift: yes (7 of 20 features drifted: 35%, threshold 30%)"
    assert decision["reasons"][0].startswith("feature drift: 7 of 20 columns drifted")


def test_a_small_reference_makes_the_check_weak_and_warns():
    decision = drift.decide(figures(n_reference=10, n_drift_columns=9, drift_share=0.0,
                                    n_drifted_columns=0, drifted_columns=[]), PARAMS)  # fmt: skip
    assert decision["weak"] is True and decision["n_reference"] == 10
    assert decision["drift_verdict"] == (
        "drift: no (0 of 9 components drifted: 0%, threshold 50%; weak: the reference has 10 tracks, "
        "under min_reference_tracks 50)"
    )
    assert verdict.weak_warning(decision) == (
        "The reference has 10 tracks, under monitoring.min_reference_tracks 50: the drift check is "
        "weak (only a large shift makes a column drift). Train on more tracks, or lower the parameter "
        "to accept the check as it is"
    )
    lowered = drift.decide(figures(n_reference=10), {**PARAMS, "min_reference_tracks": 10})
    assert lowered["weak"] is False and verdict.weak_warning(lowered) is None
    assert "weak" not in lowered["drift_verdict"]


def test_retrain_verdicts_name_the_accuracy_and_the_thresholds():
    low = drift.decide(figures(n_labelled=3, batch_accuracy=0.0), PARAMS)
    assert low["retrain"] is True
    assert low["retrain_verdict"] == (
        "retrain: yes (batch accuracy 0.00 < 0.50 on 3 labelled tracks; batch accuracy 0.00 is 0.60 "
        "below the reference's 0.60, more than 0.25)"
    )
    fine = drift.decide(figures(n_labelled=4, batch_accuracy=0.75), PARAMS)
    assert fine["retrain"] is False
    assert fine["retrain_verdict"] == (
        "retrain: no (batch accuracy 0.75 on 4 labelled tracks: not under 0.50, and not more than 0.25 "
        "below the reference's 0.60)"
    )
    few = drift.decide(figures(n_labelled=2, batch_accuracy=0.0), PARAMS)
    assert few["retrain"] is False
    assert few["retrain_verdict"] == (
        "retrain: no (only 2 labelled tracks, under min_labelled_tracks 3: too few to judge accuracy)"
    )


def test_drift_retrains_only_when_asked_and_unseen_genres_are_counted():
    params = {**PARAMS, "thresholds": {**PARAMS["thresholds"], "retrain_on_drift": True}}
    drifted = figures(drift_share=0.75, n_drifted_columns=15)
    decision = drift.decide(drifted, params)
    assert decision["retrain"] is True
    assert decision["retrain_verdict"] == (
        "retrain: yes (the batch drifted and retrain_on_drift is true; no labels for this batch)"
    )
    assert drift.decide(drifted, PARAMS)["retrain"] is False

    genres = ["Polka", "Ska", "Tango", "Zydeco"]
    unseen = drift.decide(
        figures(n_labelled=5, batch_accuracy=0.0, unseen_genre_labels=5, unseen_genres=genres),
        PARAMS,
    )
    assert unseen["retrain_verdict"].endswith(
        "; 5 labels name genres the model never saw (Polka, Ska, Tango and 1 more), counted as wrong)"
    )
    assert (
        unseen["reasons"][-1]
        == "5 labels name genres the model never saw: Polka, Ska, Tango, Zydeco"
    )


def test_an_empty_batch_has_no_drift_measured():
    decision = drift.decide(
        {"batch": "broken", "model_version": "v1", "n_tracks": 0, "empty": True}, PARAMS
    )
    assert decision["drift"] is False and decision["retrain"] is False and decision["weak"] is False
    assert verdict.verdict_lines(decision) == [
        "drift: not measured (batch broken has no scored tracks)",
        "retrain: no (batch broken has no scored tracks)",
    ]
    assert decision["reasons"] == ["batch broken is empty: nothing to monitor"]


def test_a_decision_written_before_verdicts_reads_as_its_flags():
    old = {"retrain": True, "drift": False, "reasons": ["batch accuracy 0.00 < 0.5"]}
    assert verdict.verdict_lines(old) == ["drift: no", "retrain: yes"]


def test_the_summary_the_daily_block_and_the_page_use_the_same_words():
    metrics = figures(prediction_drift=True, n_reference=30, n_labelled=3, batch_accuracy=0.0)
    decision = drift.decide(metrics, PARAMS)
    lines = verdict.verdict_lines(decision)

    rows = monitoring_summary(metrics, decision, "report.html")
    assert ("Decision", lines[0]) in rows and ("", lines[1]) in rows
    texts = [text for _, text in rows]
    assert texts.index(lines[0]) + 1 == texts.index(lines[1])
    assert not any("reference's" in t for t in texts if t not in lines)  # no second verdict
    assert ("Drift on", metrics["drift_measured_on"]) in rows

    day = DailyOutcome(batch="2017-03-19", decision=decision)
    day.steps.append("monitoring: report, metrics and decision written")
    assert ("Decision", lines[0]) in day.lines() and ("", lines[1]) in day.lines()

    page = drift.with_heading("<html><head></head><body><p>report</p></body></html>", "monitoring")
    page = drift.with_note(page, "Unfamiliar files: not measured")
    page = drift.with_verdict(page, lines)
    for line in lines:
        assert html.escape(line) in page
    # at the top: right under the heading, before the note and Evidently's own content
    assert (
        page.index(html.escape(lines[0])) < page.index("Unfamiliar files") < page.index("report<")
    )


def test_the_node_logs_each_verdict_once_and_warns_once_on_a_small_reference(caplog):
    """decide_on_batch, called as Kedro calls it (no MLflow run: its tags and metrics are skipped)."""
    import logging

    from music_genre.pipelines.monitoring.nodes import decide_on_batch

    with caplog.at_level(logging.INFO, logger="music_genre"):
        decision = decide_on_batch(figures(n_reference=10, confidence_drift=True), PARAMS)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("music_genre")]
    lines = verdict.verdict_lines(decision)
    assert decision["batch"] == "2017-03-19" and decision["model_version"] == "v1"
    assert [m for m in messages if m.startswith(("drift:", "retrain:"))] == lines
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [verdict.weak_warning(decision)]
    # nothing else reads as a verdict: the confidence is part of the drift sentence only
    assert not [m for m in messages if "confidence" in m and m not in lines]
