"""``music-genre serve``: the served model over HTTP (MLflow's scoring server plus GET /metrics)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from music_genre.serving.commands.options import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    EnvOption,
    HostOption,
    ProjectOption,
    project_or_exit,
    quiet_libraries,
)


def serve(
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            metavar="MODEL",
            help="models:/music-genre-<dataset>@champion, models:/<name>/<version>, runs:/... or an MLflow "
            "model folder (default: the environment's champion in the project's registry).",
        ),
    ] = None,
    env: EnvOption = None,
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="Port to serve on.")] = 5001,
    host: HostOption = "127.0.0.1",
    project: ProjectOption = None,
) -> None:
    """The served model over HTTP with Prometheus metrics: MLflow's scoring server (POST /invocations,
    GET /ping, /health, /version, as `mlflow models serve`) plus GET /metrics, and similar tracks and
    paths through the collection (POST /similar, /path; GET /rest/getSonicSimilarTracks, findSonicPath)."""
    quiet_libraries()
    from music_genre.common.errors import ExpectedError
    from music_genre.modeling import store as model_store
    from music_genre.serving import server

    project_dir = model_store.find_project(project)
    if project is not None and project_dir is None:
        print(f"error: {project} is not a Kedro project folder", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE)
    if project_dir is not None:
        project_dir = project_or_exit(project_dir, env)
    try:
        served = server.resolve(model, env, project_dir)
        server.serve(
            served, host, port, server.similarity_routes(project_dir, env)
        )  # SIGTERM and Ctrl+C stop it (uvicorn), freeing the port
    except ExpectedError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(EXIT_FAILED) from None
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_OK) from None
