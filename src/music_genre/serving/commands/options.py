"""What the commands share: exit statuses, the ``--project``/``--env``/``--host`` options, finding the
project (or a usage error naming what is wrong) and quieting the libraries' logs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
ProjectOption = Annotated[
    Path | None,
    typer.Option(
        "--project", metavar="DIR", help="The Kedro project folder (default: found from here)."
    ),
]
EnvOption = Annotated[
    str | None, typer.Option("--env", metavar="ENV", help="Kedro environment (dataset).")
]
# servers bind this machine only unless told otherwise
HostOption = Annotated[
    str,
    typer.Option("--host", metavar="HOST", help="Address to bind (127.0.0.1: this machine only)."),
]


def project_or_exit(project: Path | None, env: str | None) -> Path:
    """The Kedro project to work in, or a usage error (exit 2) naming what is wrong."""
    from music_genre.common.errors import unknown_environment
    from music_genre.modeling import store as model_store

    project_dir = model_store.find_project(project)
    if project_dir is None:
        print("error: not inside the music-genre project: pass --project DIR", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE)
    problem = unknown_environment(env, project_dir)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE)
    return project_dir


def quiet_libraries() -> None:
    """A person asked for genres, not for Kedro's INFO logs or omegaconf's deprecation warnings."""
    import os
    import warnings

    # stdout carries predictions only (one JSON object per line with --json): Kedro logs nothing there.
    os.environ["KEDRO_LOGGING_CONFIG"] = str(
        Path(__file__).resolve().parents[2] / "quiet_logging.yml"
    )
    warnings.filterwarnings("ignore", category=UserWarning, module="kedro")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
