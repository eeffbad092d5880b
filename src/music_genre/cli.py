"""The project's ``kedro`` commands: Kedro's own ``run``, ending an expected failure in one line.

Kedro loads this module for ``kedro ...`` inside the project (its ``cli`` group overrides the built-in
commands of the same name). ``run`` is Kedro's command, unchanged, except that a failure the user can fix
(:class:`music_genre.errors.ExpectedError`: no data, no network, a missing extra, too few tracks; or an
environment that does not exist) prints ``error: <what to do>`` on stderr and exits 1 instead of a
150-line traceback. Unexpected errors keep their traceback.
"""

from __future__ import annotations

import copy
import functools
import sys
from pathlib import Path

import click
from kedro.framework.cli.project import run as kedro_run


@click.group(name="music-genre")
def cli() -> None:
    """Project commands of music-genre."""


def _one_line_on_expected_errors(callback):
    @functools.wraps(callback)
    def wrapper(*args, **kwargs):
        problem = unknown_environment(kwargs.get("env"))
        if problem:
            click.echo(f"error: {problem}", err=True)
            sys.exit(2)
        try:
            return callback(*args, **kwargs)
        except Exception as error:
            message = expected_message(error)
            if message is None:
                raise
            click.echo(f"error: {message}", err=True)
            sys.exit(1)

    return wrapper


def unknown_environment(env: str | None, project: Path | None = None) -> str | None:
    """The complaint about ``--env`` naming no folder of ``conf/`` (None when it does, or is not given)."""
    if not env:
        return None
    from kedro.utils import find_kedro_project  # noqa: PLC0415

    root = project or find_kedro_project(Path.cwd()) or Path.cwd()
    conf = root / "conf"
    if (conf / env).is_dir():
        return None
    known = (
        sorted(p.name for p in conf.iterdir() if p.is_dir() and p.name != "base")
        if conf.is_dir()
        else []
    )
    return f"no environment {env!r}: {conf / env} does not exist; environments: {', '.join(known) or 'none'}"


def expected_message(error: BaseException) -> str | None:
    """The one line to show for an anticipated failure, or None for a bug."""
    from kedro.config import MissingConfigException  # noqa: PLC0415

    from music_genre.errors import expected_cause  # noqa: PLC0415

    cause = expected_cause(error)
    if cause is not None:
        return " ".join(str(cause).split())
    if isinstance(error, MissingConfigException):
        return f"{' '.join(str(error).split())} (is the --env name right? environments are the folders of conf/)"
    return None


run = copy.copy(kedro_run)
run.callback = _one_line_on_expected_errors(kedro_run.callback)
cli.add_command(run, "run")
