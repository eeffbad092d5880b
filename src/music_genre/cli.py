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
import os
import sys

import click
from kedro.framework.cli.project import run as kedro_run

from music_genre.common.errors import expected_message, unknown_environment
from music_genre.common.run_logging import VERBOSE_ENV


@click.group(name="music-genre")
def cli() -> None:
    """Project commands of music-genre."""


# A run stopped with Ctrl+C (or killed by a scheduler's SIGINT): what survives and how to go on.
INTERRUPTED = (
    "interrupted: run the same command again to resume; the features extracted so far are cached "
    "(data/04_feature/<dataset>/) and a batch's scored rows are kept, so they are not redone"
)


def _one_line_on_expected_errors(callback):
    @functools.wraps(callback)
    def wrapper(*args, verbose: bool = False, **kwargs):
        if (
            verbose
        ):  # every record on the console, the libraries' included (run_logging.StoryFilter)
            os.environ[VERBOSE_ENV] = "1"
        problem = unknown_environment(kwargs.get("env"))
        if problem:
            click.echo(f"error: {problem}", err=True)
            sys.exit(2)
        try:
            return callback(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo(INTERRUPTED, err=True)
            sys.exit(130)
        except Exception as error:
            message = expected_message(error)
            if message is None:
                raise
            # Kedro's own failure notes (the failed node, a `--from-nodes` resume hint that would fail
            # the same way, kedro-mlflow's PipelineML warnings while Kedro computes that hint) went to
            # info.log: this line is the run's last.
            click.echo(f"error: {message}", err=True)
            sys.exit(1)

    return wrapper


run = copy.copy(kedro_run)
run.params = [
    *kedro_run.params,
    click.Option(
        ["--verbose"],
        is_flag=True,
        default=False,
        help="Show every log record on the console (Kedro's per-node lines, the libraries' notes); "
        "by default they go to info.log only.",
    ),
]
run.callback = _one_line_on_expected_errors(kedro_run.callback)
cli.add_command(run, "run")
