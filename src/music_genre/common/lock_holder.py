"""Who holds a lock between processes, and the error when a run does not wait for one: what the project's
locks (the flock of :mod:`music_genre.common.locks`, the PostgreSQL advisory lock of
:mod:`music_genre.common.database_lock`) say about a holder, in the same words."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from music_genre.common.errors import ExpectedError


class LockBusyError(ExpectedError):
    """Another process holds the lock and this run does not wait for it."""


class HeldLock:
    """What both locks share: ``hold``, over their own re-entrant ``acquire`` and ``release``."""

    def acquire(self, *, wait: bool, on_wait: Callable[[dict | None], None] | None = None) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    @contextmanager
    def hold(
        self, *, wait: bool, on_wait: Callable[[dict | None], None] | None = None
    ) -> Iterator[bool]:
        """``with lock.hold(wait=True) as waited:`` the lock for the block."""
        waited = self.acquire(wait=wait, on_wait=on_wait)
        try:
            yield waited
        finally:
            self.release()


def describe(holder: dict | None) -> str:
    """``pid 123, started 2026-12-04T06:00:01+00:00: music-genre daily`` (or what is known of it)."""
    if not holder:
        return "pid unknown"
    where = f" on {holder['host']}" if holder.get("host") else ""  # a lock across machines
    text = f"pid {holder.get('pid', '?')}{where}, started {holder.get('started', '?')}"
    command = holder.get("command")
    return f"{text}: {command}" if command else text


def command_line() -> str:
    """``music-genre daily --env fma_small``, ``kedro run --pipelines=inference``: this process's command."""
    if not sys.argv or not sys.argv[0]:
        return ""
    program = Path(sys.argv[0])
    name = program.parent.name if program.name == "__main__.py" else program.name  # python -m ...
    return " ".join([name.replace("music_genre", "music-genre"), *sys.argv[1:]])[:300]
