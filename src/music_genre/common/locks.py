"""Locks between processes on one project: ``fcntl.flock`` on a file under the dataset's data folders.

The kernel releases a flock when its process ends, however it ends (``kill -9`` included), so a killed run
never leaves a lock that blocks the next one: there is no stale lock to clean up. While held, the file
says who holds it (pid, start time, command line), so a run that waits or is refused can say for whom.

Two locks per dataset (docs/operations.md, "Concurrent runs"):

- the **promotion lock**, ``data/06_models/<dataset>/.promotion.lock``: registration, the comparison with
  the champion as it is now, the alias move and the champion's local copy happen inside it; a second run
  waits for it (seconds), saying so in one line;
- the **batch loop lock**, ``data/07_model_output/<dataset>/.batch_loop.lock``: held by a run of
  ``inference``, ``monitoring`` or ``retraining`` and by ``music-genre daily`` for the whole day; a second
  such run does not wait: it is refused with one ``error:`` line naming the holder.

A lock is re-entrant within one process (``music-genre daily`` holds the loop lock and runs its pipelines,
which take it again, in the same process). flock works on local file systems and on NFS v4 (where Linux
emulates it with byte-range locks); processes on two machines sharing a project folder over older network
file systems are not excluded.

Nor are two machines that train against one MLflow tracking server, each with its own project folder: when
the registry is in PostgreSQL, :func:`promotion_lock` is a PostgreSQL advisory lock instead
(:mod:`music_genre.common.database_lock`), with the same interface; the batch loop lock stays a flock (the
loop's files are one project's).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from music_genre.common.lock_holder import (
    HeldLock,
    LockBusyError,
    command_line,
    describe,
)

log = logging.getLogger(__name__)

PROMOTION_LOCK = "06_models/{dataset}/.promotion.lock"
BATCH_LOOP_LOCK = "07_model_output/{dataset}/.batch_loop.lock"

# path -> [file descriptor, depth]: the locks this process holds (re-entrant per process)
_HELD: dict[str, list[int]] = {}
_GUARD = threading.Lock()


def lock_path(project: str | os.PathLike, dataset: str, which: str) -> Path:
    """``which`` (PROMOTION_LOCK or BATCH_LOOP_LOCK) for ``dataset`` under the project's ``data/``."""
    return Path(project) / "data" / which.format(dataset=dataset)


def holder_of(path: str | os.PathLike) -> dict | None:
    """Who holds (or last held) the lock at ``path``, as it wrote itself into the file; None if unknown."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        return None


class FileLock(HeldLock):
    """An exclusive flock on ``path``; ``what`` names what it protects, for messages."""

    def __init__(self, path: str | os.PathLike, what: str):
        self.path = Path(path)
        self.what = what
        self._key = os.path.realpath(self.path)

    @property
    def held_here(self) -> bool:
        return self._key in _HELD

    def acquire(self, *, wait: bool, on_wait: Callable[[dict | None], None] | None = None) -> bool:
        """Take the lock. Already held by this process: only counted. Held by another: ``wait`` blocks
        until it is free (``on_wait(holder)`` called once first), else :class:`LockBusyError`.
        Returns whether this process had to wait."""
        with _GUARD:
            if self._key in _HELD:
                _HELD[self._key][1] += 1
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            waited = False
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = holder_of(self.path)
                    if not wait:
                        raise LockBusyError(
                            f"another run ({describe(holder)}) is using {self.what}: wait for it to "
                            "end, or stop it (a killed run frees it at once)"
                        ) from None
                    if on_wait is not None:
                        on_wait(holder)
                    waited = True
                    fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            me = {
                "pid": os.getpid(),
                "started": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": command_line(),
                "what": self.what,
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
            _HELD[self._key] = [fd, 1]
            return waited

    def release(self) -> None:
        with _GUARD:
            entry = _HELD.get(self._key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] > 0:
                return
            del _HELD[self._key]
            fd = entry[0]
            try:
                os.ftruncate(fd, 0)  # nobody holds it now
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


def promotion_lock(project: str | os.PathLike, dataset: str):
    """The promotion lock of ``dataset``, chosen here and only here: a PostgreSQL advisory lock when the
    registry is in PostgreSQL or ``$MUSIC_GENRE_LOCK_DATABASE`` names one (it holds across machines:
    :mod:`music_genre.common.database_lock`), else the flock on this project's file. Both have the same
    ``acquire``/``release``/``hold``."""
    from music_genre.common.database_lock import lock_database, promotion_advisory_lock

    database = lock_database()
    if database is not None:
        return promotion_advisory_lock(database, dataset)
    return FileLock(
        lock_path(project, dataset, PROMOTION_LOCK), f"{dataset}'s model registry and champion"
    )


def batch_loop_lock(project: str | os.PathLike, dataset: str) -> FileLock:
    return FileLock(
        lock_path(project, dataset, BATCH_LOOP_LOCK),
        f"{dataset}'s batch loop (batch predictions, monitoring history and batch labels)",
    )
