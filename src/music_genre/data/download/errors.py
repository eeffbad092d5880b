"""How a download step fails: :class:`DownloadError`, and one-line reasons from library exceptions.

Why a module of its own: the transfer, the checksums and the extraction all fail the same way, with one
line that says what to do next (the project's command line prints an :class:`ExpectedError` without a
traceback); sharing it here keeps those modules independent of one another.
"""

from __future__ import annotations

from music_genre.common.errors import ExpectedError, clipped


class DownloadError(ExpectedError, RuntimeError):
    """A download, checksum or extraction failure, with one line that says what to do next."""


def _short(exc: BaseException) -> str:
    """The innermost useful reason (``Connection refused``, ``Name or service not known``), one line."""
    text = str(exc)
    for marker in (
        "Connection refused",
        "Name or service not known",
        "nodename nor servname",
        "Temporary failure in name resolution",
        "timed out",
        "Connection reset",
        "Connection broken",
        "IncompleteRead",
    ):
        if marker in text:
            return f"{type(exc).__name__}: {marker}"
    return f"{type(exc).__name__}: {clipped(text, 200)}"
