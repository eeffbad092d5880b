"""The block a run ends with: what it used, what it got, where the results are, what to do next.

Plain functions over what the run wrote (plain dicts and frames); :class:`music_genre.hooks.run_summary.RunSummaryHook`
loads them from the catalog and prints the block last, after MLflow and the registry are done.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from music_genre.modeling.tasks import get_task
from music_genre.monitoring.daily import verdict_line
from music_genre.monitoring.verdict import verdict_lines
from music_genre.serving.tasks import wording_of


def _reasons(frame: pd.DataFrame | None) -> str:
    if frame is None or frame.empty or "reason" not in frame:
        return ""
    counts = frame["reason"].fillna("unknown").value_counts()
    return ", ".join(f"{reason} {count}" for reason, count in counts.items())


def training_summary(
    *,
    dataset: str,
    env: str | None,
    manifest: pd.DataFrame | None,
    exclusions: pd.DataFrame | None,
    extraction_failures: pd.DataFrame | None,
    feature_settings: Mapping | None,
    model_metrics: Mapping,
    registration: Mapping | None,
    report_path: str,
    new_releases: pd.DataFrame | None = None,
    serving_task: str | None = None,
    label_issue_summary: Mapping | None = None,
) -> list[tuple[str, str]]:
    """(label, text) rows of a training run's summary (``serving_task``: what the environment serves,
    said when the run trained another task; ``label_issue_summary``: the evaluation's count of suspect
    labels, with one line of advice)."""
    rows: list[tuple[str, str]] = []
    used = 0 if manifest is None else len(manifest)
    excluded = 0 if exclusions is None else len(exclusions)
    reasons = _reasons(exclusions)
    data = f"{used} tracks used, {excluded} excluded" + (f" ({reasons})" if reasons else "")
    if new_releases is not None and not new_releases.empty:
        data += (
            f"; {len(new_releases)} new releases held out in {new_releases['batch'].nunique()} "
            "batches"
        )
    rows.append(("Data", data))
    failed = 0 if extraction_failures is None else len(extraction_failures)
    selection = model_metrics.get("model_selection") or []
    sets = sorted({row["feature_set"] for row in selection if row.get("feature_set")})
    if len(sets) > 1:  # feature_set auto: the set the model reads, and among what
        features = (
            f"{model_metrics.get('feature_set')} ({model_metrics.get('n_features')} columns), "
            f"chosen among {', '.join(sets)}"
        )
    else:
        features = str(
            model_metrics.get("feature_set")
            or (feature_settings or {}).get("feature_set")
            or "handcrafted"
        )
    if failed:
        features += f"; {failed} tracks failed extraction ({_reasons(extraction_failures)})"
    rows.append(("Features", features))
    model = str(model_metrics.get("model_type"))
    if selection and "accuracy_mean" in selection[0]:
        best = next((row for row in selection if row.get("chosen")), selection[0])
        if best.get("members"):
            model += f" of {', '.join(best['members'])}"
        how = f"{int(best['folds'])}-fold cross-validation" if best.get("folds") else "validation"
        model += (
            f", chosen by {how}: accuracy {best['accuracy_mean']:.2f} +- {best['accuracy_std']:.2f}"
        )
        if len(selection) > 1:  # the winner's own score: the best of several is optimistic
            model += f" (the best of {len(selection)} candidates: optimistic, the test says more)"
    if model_metrics.get("fitted_on") == "training+validation":
        model += "; refit on training + validation"
    task = get_task(model_metrics.get("task"))
    words = wording_of(task)
    rows.append(("Model", model + words.model_summary(model_metrics)))
    test = model_metrics.get("splits", {}).get("test")
    if test:
        rows.append(("Test", words.test_summary(test, model_metrics)))
        tracks = int(test.get("n_tracks", 0) or 0)
        if 0 < tracks < SMALL_TEST:
            rows.append(("", small_test_advice(tracks)))
    if model_metrics.get("better_than_chance") is False:
        rows.append(("WARNING", words.summary_warning))
    issues = label_issue_advice(label_issue_summary)
    if issues:
        rows.append(("Labels", issues))
    rows.append(("Registry", _registry_line(registration)))
    if serving_task is not None and serving_task != task.name:
        rows.append(
            (
                "Serving",
                f"this environment serves {serving_task} (serving.task): predict, the page and the "
                f"daily job keep that task's champion; this {task.name} model competes with its own",
            )
        )
    rows.append(("Report", report_path))
    env_flag = f" --env {env}" if env and env != "local" else ""
    rows.append(("Next", f"music-genre predict song.mp3{env_flag}"))
    if new_releases is not None and not new_releases.empty:
        rows.append(("", f"music-genre daily{env_flag}   (score, monitor, retrain the next batch)"))
    rows.append(("", "mlflow ui --backend-store-uri sqlite:///mlflow.db"))
    if dataset == "sample":
        rows.append(("Note", "the built-in sample is synthesized: this model exercises the pipeline, it does "
                             "not know real music (README: On real music)"))  # fmt: skip
    return rows


# Under this many test tracks a test score is noise: one track moves accuracy by more than 3 points and
# its 95% interval is wider than +-0.17 (binomial, accuracy near 0.5)
SMALL_TEST = 30
# Over this share of suspect training labels, the labels deserve a look before more tuning
SUSPECT_SHARE = 0.05


def small_test_advice(tracks: int, accuracy: float = 0.5) -> str:
    """One line saying a test split of ``tracks`` tracks is too small to measure the model with, and
    how wide its figure's 95% interval is (binomial, at accuracy 0.5: the widest)."""
    half_width = 1.96 * (accuracy * (1 - accuracy) / tracks) ** 0.5
    return (
        f"only {tracks} test tracks: this figure is noise (+-{half_width:.2f} at 95%); judge the model "
        f"on {SMALL_TEST}+ test tracks (more music, or a larger data_split.test_size)"
    )


def label_issue_advice(summary: Mapping | None) -> str | None:
    """The count of suspect training labels with one line of advice (None when none were looked for)."""
    if not summary or summary.get("skipped") or not summary.get("n_training"):
        return None
    count, share = int(summary.get("count", 0)), float(summary.get("fraction_of_training", 0.0))
    line = f"{count} suspect labels ({100 * share:.1f}% of training)"
    if share > SUSPECT_SHARE:
        line += (
            ": listen to the first ones in the report's label issues, fix or drop the wrong ones "
            "(exclude them from the collection), and retrain"
        )
    return line


def _registry_line(registration: Mapping | None) -> str:
    if not registration:
        return "not registered (no registration step in this run)"
    if registration.get("registered_version") is not None:
        how = "registered as" if registration.get("new_version", True) else "same model as"
        line = (
            f"{how} {registration['model_name']} version {registration['registered_version']} "
            f"({registration.get('reason')})"
        )
        alias = registration.get("alias")
        if alias == "champion":
            line += "; it is the champion"
        elif alias:
            reason = (registration.get("promotion") or {}).get("reason", "")
            line += (
                f"; challenger, version {registration.get('champion_version')} stays champion "
                f"({reason})"
            )
        return line
    return f"not registered: {registration.get('reason')}"


def inference_summary(report: Mapping) -> list[tuple[str, str]]:
    rows = [
        (
            "Files",
            f"{report['files']} found, {report['already_scored']} already scored by this model, "
            f"{report['scored']} scored now",
        ),  # fmt: skip
    ]
    if report.get("failed"):
        rows.append(("Failed", f"{report['failed']} ({report.get('failure_reasons', '')})"))
    verdicts = report.get("verdicts") or {}
    if any(verdicts.values()):
        rows.append(("Answers", verdict_line(verdicts)))
    if report.get("genres"):
        rows.append(("Genres", f"{report.get('confident_genres') or 'none'} (confident answers)"))
        rows.append(("", f"{report['genres']} (every answer)"))
    if report.get("resumed"):
        rows.append(("Resumed", f"{report['resumed']} files scored before the last run stopped"))
    if report.get("batch"):
        rows.insert(0, ("Batch", str(report["batch"])))
    model = str(report.get("model_version"))
    if report.get("model_role") == "champion":
        model += f" (champion: {report.get('model_name')} version {report.get('registry_version')})"
    elif report.get("model_role"):
        model += f" ({report['model_role']})"
    rows.append(("Model", model))
    rows.append(("Output", str(report.get("output"))))
    if report.get("files"):
        rows.append(("Next", "kedro run --pipelines=monitoring"))
    return rows


def monitoring_summary(
    metrics: Mapping, decision: Mapping, report_path: str
) -> list[tuple[str, str]]:
    """(label, text) rows of a monitoring run's summary."""
    rows = [("Batch", f"{metrics['batch']} (model {metrics.get('model_version')})")]
    if metrics.get("empty"):
        rows.append(("Tracks", "none scored: nothing to monitor, no report"))
    else:
        rows.append(("Tracks", f"{metrics['n_tracks']} (reference: {metrics['n_reference']})"))
        rows.append(("Drift on", str(metrics["drift_measured_on"])))
        rows.append(
            (
                "Confidence",
                f"mean {metrics['mean_confidence']:.2f} (reference "
                f"{metrics['reference_mean_confidence']:.2f})",
            )
        )
        if metrics.get("batch_accuracy") is not None:
            rows.append(
                (
                    "Accuracy",
                    f"{metrics['batch_accuracy']:.2f} on {metrics['n_labelled']} labelled tracks "
                    f"(reference {metrics['reference_accuracy']:.2f})",
                )
            )
        rows.append(("Report", report_path))
    # the verdicts as decision.json, the log and the report page say them
    drift_line, retrain_line = verdict_lines(decision)
    rows += [("Decision", drift_line), ("", retrain_line)]
    if decision["retrain"]:
        rows.append(
            ("Next", "kedro run --pipelines=retraining (music-genre daily does it for you)")
        )
    return rows


def render(title: str, rows: list[tuple[str, str]]) -> str:
    width = max([len(label) for label, _ in rows] + [4])
    lines = [f"== {title} " + "=" * max(4, 76 - len(title))]
    lines += [f"{label:<{width}}  {text}" for label, text in rows]
    lines.append("=" * 80)
    return "\n".join(lines)
