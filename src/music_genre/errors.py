"""Errors a user can fix: the run ends with their one-line message, not a traceback.

Anything that subclasses :class:`ExpectedError` is a situation the project anticipates (no data where
``dataset.root`` points, no network, a missing extra, too few tracks) and whose message already names the
fix. ``kedro run`` (through :mod:`music_genre.cli`) prints ``error: <message>`` and exits 1; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations


class ExpectedError(Exception):
    """A failure the user can fix; ``str(err)`` is one line that says how."""


class TooFewTracksError(ExpectedError, ValueError):
    """The collection (or one of its genres) is too small for what was asked."""


def expected_cause(error: BaseException | None) -> ExpectedError | None:
    """The ExpectedError behind ``error`` (itself, or one it was raised from), if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ExpectedError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
