"""``music-genre predict``: the genre of each file, in the order given, errors where they occur."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from music_genre.serving.commands.options import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ProjectOption,
    quiet_libraries,
)
from music_genre.serving.commands.rendering import (
    json_row,
    print_json_error,
    print_prediction,
    report_error,
)


def predict(
    paths: Annotated[
        list[str],
        typer.Argument(help="Audio files or folders (searched recursively).", metavar="PATH"),
    ],
    top: Annotated[
        int, typer.Option("--top", min=1, metavar="N", help="How many genres to show per file.")
    ] = 3,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per file on stdout.")
    ] = False,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            metavar="ENV",
            help="Kedro environment whose champion (else newest) model to use.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            metavar="MODEL",
            help="pretrained (MSD_musicnn's 50 tags, no training), a genre_classifier.pkl file or its "
            "versioned folder (newest version), or "
            "models:/music-genre-<dataset>/<version> or models:/music-genre-<dataset>@champion "
            "(MLflow registry of --project or $MLFLOW_TRACKING_URI).",
        ),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Predict the genre of each file: full songs are cut into 30 s windows whose scores are averaged.
    --model pretrained: MSD_musicnn's general-purpose tags, with no training (after the weights step)."""
    quiet_libraries()
    if model == "pretrained":
        from music_genre.modeling.store import find_project
        from music_genre.serving import pretrained

        raise typer.Exit(pretrained.run(paths, top, as_json, find_project(project), env))
    from rich.console import Console

    from music_genre.common.errors import ExpectedError
    from music_genre.modeling import store as model_store
    from music_genre.serving import inference, wording

    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    # Found also for models:/ URIs: they are looked up in the project's MLflow store.
    project_dir = model_store.find_project(project)
    if project is not None and project_dir is None:
        err.print(f"error: {project} is not a Kedro project folder", markup=False)
        raise typer.Exit(EXIT_USAGE)
    if project_dir is not None:
        from music_genre.common.errors import unknown_environment

        problem = unknown_environment(env, project_dir)
        if problem:
            err.print(f"error: {problem}", markup=False, soft_wrap=True)
            raise typer.Exit(EXIT_USAGE)
    settings = project_settings(project_dir, env)  # the parameters checked before any work
    items = inference.expand_inputs(paths)
    if not any(isinstance(item, Path) for item in items):
        for item in items:
            report_error(out, err, as_json, item.path, item.reason, item.message)
        raise typer.Exit(EXIT_FAILED)
    try:
        loaded = model_store.load_model(model, env, project_dir)
    except model_store.ModelNotFoundError as error:
        err.print(f"error: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    classifier = loaded.classifier
    # the environment's dataset names the model only when it came from that environment's catalog
    facts = wording.model_facts(classifier, loaded.source, None if model else settings["dataset"])
    if classifier.info.get("better_than_chance") is False:
        err.print(
            "warning: this model was no better than chance when it was trained (too few tracks per "
            "genre?): its genres are guesses"
        )
    # who answered, and its caveats: once, before the first answer (none when nothing was answered)
    answered = False

    def announce() -> None:
        nonlocal answered
        if answered:
            return
        answered = True
        if not as_json:  # --json carries the same facts in each object's "model"
            out.print(wording.header_text(facts), markup=False, soft_wrap=True)
        for line in (
            wording.sample_warning(facts),
            wording.familiarity_note(facts),
            wording.weak_model_note(facts, settings["verdict"]),
        ):
            if line:
                err.print(line, markup=False, soft_wrap=True)

    failed = False
    for item in items:  # in the order given, errors where they occur
        if isinstance(item, inference.InputError):
            failed = True
            report_error(out, err, as_json, item.path, item.reason, item.message)
            continue
        try:
            row = inference.predict_files(
                [item], classifier, settings["windowing"], settings["verdict"]
            ).iloc[0]
        except (
            ExpectedError
        ) as error:  # not this file's fault: e.g. the embedding's weights are gone
            err.print(f"error: {error}", markup=False, soft_wrap=True)
            raise typer.Exit(EXIT_FAILED) from None
        if isinstance(row["error_reason"], str):
            failed = True  # a silent file too: no genre was given
            if wording.is_silent(row):
                announce()
            if wording.is_silent(row) and not as_json:
                out.print(f"{row['path']}: {wording.SILENT}", markup=False, soft_wrap=True)
            elif wording.is_silent(row):
                print_json_error(row["path"], row["error_reason"], row["error"])
            else:
                report_error(out, err, as_json, row["path"], row["error_reason"], row["error"])
            continue
        ranked = inference.top_genres(row, classifier.classes, top)
        announce()
        if as_json:
            print(json.dumps(json_row(row, classifier.classes, ranked, loaded, facts)), flush=True)
        else:
            print_prediction(out, row, ranked, classifier, settings["verdict"])
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def project_settings(project_dir: Path | None, env: str | None) -> dict:
    """What the project's configuration says about scoring and wording, read once: the ``inference``
    windowing (window length, hop, count, minimum length), how sure an answer is (its verdict), and the
    environment's dataset (None outside a project: the defaults)."""
    from music_genre.modeling import store as model_store
    from music_genre.serving import inference, wording

    if project_dir is None:
        parameters, dataset = {}, None
    else:
        loader = model_store.project_config(project_dir, env)
        parameters = loader["parameters"].get("inference") or {}
        dataset = loader["globals"].get("dataset_name")
    return {
        "windowing": inference.windowing_settings(parameters),
        "verdict": wording.verdict_settings(parameters),
        "dataset": dataset,
    }
