"""The ``music-genre`` Typer app: its commands in the order ``--help`` lists them, ``--version``, and
:func:`main`, the console script's entry point."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from music_genre.serving.commands.daily import daily
from music_genre.serving.commands.options import EXIT_OK
from music_genre.serving.commands.predict import predict
from music_genre.serving.commands.serve import serve
from music_genre.serving.commands.similar import playlist_command, similar_command
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
    from music_genre import __version__  # noqa: PLC0415
    from music_genre.common.stack import version_report  # noqa: PLC0415
    from music_genre.modeling.store import find_project  # noqa: PLC0415

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
app.command("similar")(similar_command)
app.command("playlist")(playlist_command)


def main() -> None:
    """Console entry point; usage errors exit 2 (click's convention), failures 1."""
    try:
        app(standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
