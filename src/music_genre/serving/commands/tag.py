"""``music-genre tag``: propose a genre for a library's untagged files, flag suspect tags, write them on
request (journalled, undoable). The work is :mod:`music_genre.serving.tag_command`'s."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from music_genre.serving.commands.options import EnvOption, ProjectOption, quiet_libraries


def tag(
    root: Annotated[
        Path | None, typer.Argument(help="The library folder to tag.", metavar="ROOT")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file.")] = False,
    write: Annotated[
        bool, typer.Option("--write", help="Write the proposed genres (default: a dry run).")
    ] = False,
    overwrite_suspects: Annotated[
        bool, typer.Option("--overwrite-suspects", help="With --write: replace suspect tags too.")
    ] = False,
    journal: Annotated[
        Path | None, typer.Option("--journal", metavar="FILE", help="Where to journal the changes.")
    ] = None,
    undo: Annotated[
        Path | None,
        typer.Option("--undo", metavar="JOURNAL", help="Put back what a journal changed."),
    ] = None,
    env: EnvOption = None,
    model: Annotated[
        str | None, typer.Option("--model", metavar="MODEL", help="As for `predict`.")
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Propose a genre for every file of a library without one, flag suspect tags; --write writes them
    (journalled: --undo JOURNAL puts every file back byte for byte). Unfamiliar files are never written."""
    quiet_libraries()
    from music_genre.serving import tag_command

    raise typer.Exit(
        tag_command.run(
            root, as_json, write, overwrite_suspects, journal, undo, env, model, project
        )
    )
