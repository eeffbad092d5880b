"""The ``music-genre tag`` command over :mod:`music_genre.serving.tagging`: finds the project and its
model as ``predict`` does, prints one line (or one JSON object) per file and a summary, writes when told,
undoes a journal. Exit status: 0 done, 1 some file could not be handled, 2 a usage error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def run_undo(journal: Path, as_json: bool) -> int:
    from music_genre.serving import tagging

    try:
        results = tagging.undo_journal(journal)
    except (FileNotFoundError, ValueError) as err:
        _error(str(err))
        return EXIT_USAGE
    for result in results:
        if as_json:
            print(
                json.dumps({"path": result.path, "action": result.action, "reason": result.reason})
            )
        else:
            why = f" ({result.reason})" if result.reason else ""
            print(f"{result.path}: {result.action}{why}")
    restored = sum(r.action == "restored" for r in results)
    skipped = sum(r.action == tagging.SKIP for r in results)
    line = {"undo": str(journal), "restored": restored, "skipped": skipped, "files": len(results)}
    print(json.dumps({"summary": line}) if as_json else
          f"undo: {restored} restored, {skipped} skipped, {len(results)} files in {journal}")  # fmt: skip
    return EXIT_FAILED if skipped else EXIT_OK


def _suspect_tags(project_dir: Path, catalog: dict) -> dict:
    """The environment's last ``suspect_tags`` table by path (none when it never ran)."""
    import pandas as pd

    entry = catalog.get("suspect_tags") or {}
    where = (entry.get("dataset") or {}).get("filepath") or entry.get("filepath")
    if not where:
        return {}
    path = Path(where) if Path(where).is_absolute() else project_dir / where
    if not path.is_file():
        return {}
    table = pd.read_csv(path)
    return {
        str(row["path"]): row for row in table.to_dict("records") if isinstance(row["path"], str)
    }


def run(root, as_json, write, overwrite_suspects, journal, undo, env, model, project) -> int:
    """The command; returns its exit status."""
    if undo is not None:
        if root is not None or write:
            _error("--undo JOURNAL takes no ROOT and no --write")
            return EXIT_USAGE
        return run_undo(undo, as_json)
    if root is None:
        _error("give the library folder to tag (ROOT), or --undo JOURNAL")
        return EXIT_USAGE
    if not Path(root).is_dir():
        _error(f"{root}: no such folder")
        return EXIT_USAGE
    from music_genre.common.errors import ExpectedError, unknown_environment
    from music_genre.modeling import store as model_store
    from music_genre.serving import inference, tagging

    project_dir = model_store.find_project(project)
    if project is not None and project_dir is None:
        _error(f"{project} is not a Kedro project folder")
        return EXIT_USAGE
    parameters, dataset, suspects = {}, {}, {}
    if project_dir is not None:
        problem = unknown_environment(env, project_dir)
        if problem:
            _error(problem)
            return EXIT_USAGE
        config = model_store.project_config(project_dir, env)
        parameters = config["parameters"]
        dataset = parameters.get("dataset") or {}
        suspects = _suspect_tags(project_dir, config["catalog"])
    try:
        loaded = model_store.load_model(model, env, project_dir)
    except model_store.ModelNotFoundError as err:
        _error(str(err))
        return EXIT_FAILED
    classifier = loaded.classifier
    windowing = inference.windowing_settings(parameters.get("inference") or {})
    try:
        vocabulary = tagging.vocabulary_for_library(root, dataset)
    except ValueError as err:  # a bad genre_map
        _error(str(err))
        return EXIT_USAGE

    def predict(path):
        return inference.predict_files([path], classifier, windowing).iloc[0].to_dict()

    try:
        rows = tagging.plan_library(
            root, vocabulary, predict, classifier.classes, parameters.get("tagging"), suspects,
            verdict=(parameters.get("inference") or {}).get("verdict"),
        )  # fmt: skip
    except ExpectedError as err:
        _error(str(err))
        return EXIT_FAILED
    if overwrite_suspects:
        tagging.mark_overwrites(rows)
    journal_path = None
    if write and any(r.action == tagging.WRITE for r in rows):
        journal_path = Path(journal) if journal else tagging.default_journal()
        name = loaded.source if loaded.version is None else f"{loaded.source}@{loaded.version}"
        print(f"journal: {journal_path} (undo: music-genre tag --undo {journal_path})",
              file=sys.stderr)  # fmt: skip
        tagging.apply_plan(rows, journal_path, name)
    for row in rows:
        print(json.dumps(row.as_json()) if as_json else tagging.text_line(row), flush=True)
    counts = tagging.summary(rows, written=bool(journal_path))
    if journal_path:
        counts["journal"] = str(journal_path)
    if as_json:
        print(json.dumps({"summary": counts}))
    else:
        print(tagging.summary_text(counts))
    chosen = (tagging.UNFAMILIAR, tagging.UNCERTAIN)  # skipped by choice, not a failure
    failed = any(r.action == tagging.SKIP and not str(r.reason).startswith(chosen) for r in rows)
    return EXIT_FAILED if failed else EXIT_OK
