"""Errors a user can fix: the run ends with their one-line message, not a traceback.

Anything that subclasses :class:`ExpectedError` is a situation the project anticipates (no data where
``dataset.root`` points, no network, a missing extra, too few tracks) and whose message already names the
fix. ``kedro run`` (through :mod:`music_genre.cli`) prints ``error: <message>`` and exits 1; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class ExpectedError(Exception):
    """A failure the user can fix; ``str(err)`` is one line that says how."""


class TooFewTracksError(ExpectedError, ValueError):
    """The collection (or one of its genres) is too small for what was asked."""


def clipped(text: object, limit: int) -> str:
    """``text`` on one line and at most ``limit`` characters: a longer one is cut after a whole word and
    ends in " ..." so that a reader sees it was cut (a library's message can hold a whole HTML page)."""
    line = " ".join(str(text).split())
    if len(line) <= limit:
        return line
    kept = line[: max(limit - 4, 1)]
    if " " in kept:
        kept = kept[: kept.rindex(" ")]
    return kept.rstrip(" ,;:") + " ..."


def expected_cause(error: BaseException | None) -> ExpectedError | None:
    """The ExpectedError behind ``error`` (itself, or one it was raised from), if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ExpectedError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def unknown_environment(env: str | None, project: Path | None = None) -> str | None:
    """The complaint about ``--env`` naming no folder of ``conf/`` (None when it does, or is not given)."""
    if not env:
        return None
    from kedro.utils import find_kedro_project

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
    from kedro.config import MissingConfigException

    cause = expected_cause(error)
    if cause is not None:
        return " ".join(str(cause).split())
    if isinstance(error, MissingConfigException):
        return f"{' '.join(str(error).split())} (is the --env name right? environments are the folders of conf/)"
    return None
