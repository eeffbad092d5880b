"""The project's ``kedro`` commands: Kedro's own ``run``, ending an expected failure in one line.

Kedro loads this module for ``kedro ...`` inside the project (its ``cli`` group overrides the built-in
commands of the same name). ``run`` is Kedro's command, unchanged, except that a failure the user can fix
(:class:`music_genre.common.errors.ExpectedError`: no data, no network, a missing extra, too few tracks; or an
environment that does not exist) prints ``error: <what to do>`` on stderr and exits 1 instead of a
150-line traceback. Unexpected errors keep their traceback.
"""

from __future__ import annotations

import copy
import functools
import sys

import click
from kedro.framework.cli.project import run as kedro_run

from music_genre.common.errors import expected_message, unknown_environment


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


run = copy.copy(kedro_run)
run.callback = _one_line_on_expected_errors(kedro_run.callback)
cli.add_command(run, "run")
