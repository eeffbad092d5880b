"""The block a run ends with: what it used, what it got, where the results are, what to do next.

Plain functions over what the run wrote (plain dicts and frames); :class:`music_genre.hooks.RunSummaryHook`
loads them from the catalog and prints the block last, after MLflow and the registry are done.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd


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
) -> list[tuple[str, str]]:
    """(label, text) rows of a training run's summary."""
    rows: list[tuple[str, str]] = []
    used = 0 if manifest is None else len(manifest)
    excluded = 0 if exclusions is None else len(exclusions)
    reasons = _reasons(exclusions)
    rows.append(
        ("Data", f"{used} tracks used, {excluded} excluded" + (f" ({reasons})" if reasons else ""))
    )
    failed = 0 if extraction_failures is None else len(extraction_failures)
    feature_set = (feature_settings or {}).get("feature_set") or model_metrics.get(
        "feature_set", "handcrafted"
    )
    features = f"{feature_set}"
    if failed:
        features += f"; {failed} tracks failed extraction ({_reasons(extraction_failures)})"
    rows.append(("Features", features))
    model = str(model_metrics.get("model_type"))
    selection = model_metrics.get("model_selection") or []
    if selection:
        best = selection[0]
        how = f"{int(best['folds'])}-fold cross-validation" if best.get("folds") else "validation"
        model += (
            f", chosen by {how}: accuracy {best['accuracy_mean']:.2f} +- {best['accuracy_std']:.2f}"
        )
    rows.append(("Model", model))
    splits = model_metrics.get("splits", {})
    test = splits.get("test")
    chance = (model_metrics.get("chance") or {}).get("test", {}).get("chance")
    if test:
        line = (
            f"accuracy {test['accuracy']:.2f}, macro F1 {test['f1_macro']:.2f} on {int(test.get('n_tracks', 0))} "
            "test tracks"
        )
        if chance is not None:
            line += f" (always answering the most frequent genre: {chance:.2f})"
        rows.append(("Test", line))
    if model_metrics.get("better_than_chance") is False:
        rows.append(
            ("WARNING", "no better than chance: not registered; add tracks (docs/configuration.md)")
        )
    rows.append(("Registry", _registry_line(registration)))
    rows.append(("Report", report_path))
    env_flag = f" --env {env}" if env and env != "local" else ""
    rows.append(("Next", f"music-genre predict song.mp3{env_flag}"))
    rows.append(("", "mlflow ui --backend-store-uri sqlite:///mlflow.db"))
    if dataset == "sample":
        rows.append(("Note", "the built-in sample is synthesized: this model exercises the pipeline, it does "
                             "not know real music (README: On real music)"))  # fmt: skip
    return rows


def _registry_line(registration: Mapping | None) -> str:
    if not registration:
        return "not registered (no registration step in this run)"
    if registration.get("registered_version") is not None:
        return (
            f"registered as {registration['model_name']} version {registration['registered_version']} "
            f"({registration.get('reason')})"
        )
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
    if report.get("genres"):
        rows.append(("Genres", report["genres"]))
    rows.append(("Model", str(report.get("model_version"))))
    rows.append(("Output", str(report.get("output"))))
    return rows


def render(title: str, rows: list[tuple[str, str]]) -> str:
    width = max([len(label) for label, _ in rows] + [4])
    lines = [f"== {title} " + "=" * max(4, 76 - len(title))]
    lines += [f"{label:<{width}}  {text}" for label, text in rows]
    lines.append("=" * 80)
    return "\n".join(lines)
