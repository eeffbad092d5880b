"""The ``music-genre`` Typer app: its commands in the order ``--help`` lists them, ``--version``, and
:func:`main`, the console script's entry point."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from music_genre.serving.commands.daily import daily
from music_genre.serving.commands.options import EXIT_FAILED, EXIT_OK
from music_genre.serving.commands.predict import predict
from music_genre.serving.commands.serve import serve
from music_genre.serving.commands.similar import playlist_command, similar_command
from music_genre.serving.commands.tag import tag
from music_genre.serving.commands.web_page import app_command

app = typer.Typer(
    name="music-genre",
    help="Tag music with its genre, using a model trained by this Kedro project.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: no "<bool>" type column under flags
)


def _print_version(value: bool) -> None:
    if not value:
        return
    from music_genre import __version__
    from music_genre.common.stack import version_report
    from music_genre.modeling.store import find_project

    typer.echo(version_report(__version__, find_project()))
    raise typer.Exit(EXIT_OK)


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="The project's version, and whether this install is the tested stack (requirements-lock.txt).",
        ),
    ] = False,
) -> None:
    """Tag music with its genre, using a model trained by this Kedro project."""


app.command()(predict)
app.command()(daily)
app.command("app")(app_command)
app.command()(serve)
app.command()(tag)
app.command("similar")(similar_command)
app.command("playlist")(playlist_command)


def plain_argument_help(command) -> None:
    """Arguments in ``--help`` as their metavar alone (``PATH``), not ``PATH <list[str]>``: Typer
    adds the Python type of every argument to its help line, which says nothing to a person."""
    import typer.core

    for sub in getattr(command, "commands", {}).values():
        plain_argument_help(sub)
    for param in getattr(command, "params", []):
        if isinstance(param, typer.core.TyperArgument) and param.metavar:
            param.display_type = lambda ctx=None: ""


def main() -> None:
    """Console entry point; usage errors exit 2 (click's convention), failures 1: one ``error:`` line
    for a failure the user can fix that no command caught (a parameter that does not fit its schema)."""
    from music_genre.common.errors import ExpectedError

    command = typer.main.get_command(app)
    plain_argument_help(command)
    try:
        command(standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
    except ExpectedError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        sys.exit(EXIT_FAILED)
