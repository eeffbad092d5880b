"""The promotion lock across machines: a PostgreSQL session-level advisory lock.

A ``flock`` (:mod:`music_genre.common.locks`) excludes processes on one machine only: two machines training
against one MLflow tracking server each lock a file of their own, and both may promote against a champion
that the other has just replaced. When the registry lives in PostgreSQL (the tracking server's backend
store), the promotion lock is ``pg_advisory_lock(key)`` in that database instead, ``key`` a stable 64-bit
hash of ``music-genre promotion <dataset>``: every machine that reaches the database meets the same lock.

The lock is held on a connection of its own, opened for it and closed at release; the server releases a
session-level advisory lock when its session ends, however it ends (a holder killed with ``kill -9``, or
its machine lost once the server's TCP keepalive notices), so there is no stale lock to clean up either.

Which database (:func:`lock_database`): ``$MUSIC_GENRE_LOCK_DATABASE`` when set (``postgresql://...``:
the one to give when MLflow is reached through an ``http(s)://`` tracking server, whose backend store the
client cannot see), else the MLflow registry URI itself when it is ``postgresql://...`` (MLflow used
directly on the database). Anything else (SQLite, a file store): no database, the flock.

While held, the lock's session names its holder in ``application_name`` (``<pid>@<host> <command>``), so a
run that waits can say for whom, as the flock's file does. psycopg (3; ``pip install 'music-genre[postgres]'``,
the driver SQLAlchemy 2.1 and so MLflow use for ``postgresql://``) is imported only here, and only when a
database is configured.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import threading
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from music_genre.common.errors import ExpectedError
from music_genre.common.lock_holder import HeldLock, LockBusyError, command_line, describe

log = logging.getLogger(__name__)

LOCK_DATABASE_ENV = "MUSIC_GENRE_LOCK_DATABASE"
SCHEMES = ("postgresql", "postgres")
# How long one pg_advisory_lock call waits before it is asked again: a waiting run stays interruptible
# (Ctrl-C) without polling fast.
WAIT_SECONDS = 2
APPLICATION_NAME = re.compile(r"^(?P<pid>\d+)@(?P<host>\S+) ?(?P<command>.*)$")

# (database, key) -> [connection, depth]: the advisory locks this process holds (re-entrant per process)
_HELD: dict[tuple[str, int], list] = {}
_GUARD = threading.Lock()


class LockDatabaseError(ExpectedError):
    """The promotion lock's database is configured but cannot be used."""


def is_postgres(uri: str | None) -> bool:
    """Whether ``uri`` names a PostgreSQL database (``postgresql://``, ``postgresql+psycopg2://``, ...)."""
    scheme = urlsplit(uri or "").scheme
    return scheme.split("+")[0] in SCHEMES


def libpq_dsn(uri: str) -> str:
    """``uri`` as libpq reads it: SQLAlchemy's ``postgresql+psycopg://`` loses its driver name."""
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(scheme="postgresql"))


def redacted(uri: str) -> str:
    """``uri`` without its password, for messages."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def lock_key(text: str) -> int:
    """A stable signed 64-bit key for ``text`` (the same on every machine and Python: not ``hash()``)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


def lock_database() -> str | None:
    """The PostgreSQL database the promotion lock is taken in, or None (the flock): see the module."""
    given = os.environ.get(LOCK_DATABASE_ENV, "").strip()
    if given:
        if not is_postgres(given):
            raise LockDatabaseError(
                f"{LOCK_DATABASE_ENV}={redacted(given)} is not a PostgreSQL database: give "
                "postgresql://user:password@host:port/database, or unset it"
            )
        return given
    import mlflow

    registry = mlflow.get_registry_uri()
    if is_postgres(registry):
        return registry
    if urlsplit(registry or "").scheme in ("http", "https"):
        log.warning(
            "The model registry is the tracking server %s, and %s is not set: the promotion lock is "
            "this machine's file lock, which does not exclude runs on other machines (docs/operations.md,"
            " 'A shared tracking server on PostgreSQL')",
            registry,
            LOCK_DATABASE_ENV,
        )
    return None


def _application_name() -> str:
    """``<pid>@<host> <command>``, cut to PostgreSQL's 63 bytes."""
    text = f"{os.getpid()}@{socket.gethostname()} {command_line()}".strip()
    return text.encode()[:63].decode(errors="ignore")


class AdvisoryLock(HeldLock):
    """A session-level ``pg_advisory_lock`` on ``scope``'s key in ``database``; ``what`` names what it
    protects, for messages. The same interface as :class:`music_genre.common.locks.FileLock`."""

    def __init__(self, database: str, scope: str, what: str):
        self.database = database
        self.scope = scope
        self.what = what
        self.key = lock_key(scope)
        self._id = (redacted(libpq_dsn(database)), self.key)

    @property
    def held_here(self) -> bool:
        return self._id in _HELD

    def _connect(self):
        try:
            import psycopg
        except ImportError:
            raise LockDatabaseError(
                f"the promotion lock is taken in PostgreSQL ({redacted(self.database)}), and psycopg "
                "is not installed: pip install 'music-genre[postgres]'"
            ) from None
        try:
            return psycopg.connect(
                libpq_dsn(self.database),
                autocommit=True,
                application_name=_application_name(),
                connect_timeout=30,
                # a holder whose machine is lost: its connection, and so the lock, ends once the
                # server's keepalive gives up; these make the client notice a lost server too
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
            )
        except psycopg.Error as error:
            first = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            raise LockDatabaseError(
                f"cannot reach the promotion lock's database {redacted(self.database)}: {first}"
            ) from None

    def holder(self, connection) -> dict | None:
        """Who holds the key now, as its session names itself (pid, host, command; ``started``: when
        its session last changed state, i.e. took the lock), or None if unknown."""
        high, low = (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT a.application_name, a.state_change, a.client_addr::text FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                "AND l.granted AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid "
                "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())",
                (high, low),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        name, changed, address = row
        match = APPLICATION_NAME.match(name or "")
        holder = {"started": changed.isoformat(timespec="seconds") if changed else "?"}
        if match:
            holder.update(pid=int(match["pid"]), host=match["host"], command=match["command"])
        elif address:
            holder["host"] = address
        return holder

    def acquire(self, *, wait: bool, on_wait: Callable[[dict | None], None] | None = None) -> bool:
        """Take the lock. Already held by this process: only counted. Held by another: ``wait`` blocks
        until it is free (``on_wait(holder)`` called once first), else :class:`LockBusyError`.
        Returns whether this process had to wait."""
        with _GUARD:
            if self._id in _HELD:
                _HELD[self._id][1] += 1
                return False
            connection = self._connect()
            waited = False
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_try_advisory_lock(%s::bigint)", (self.key,))
                    got = cursor.fetchone()[0]
                    if not got:
                        holder = self.holder(connection)
                        if not wait:
                            raise LockBusyError(
                                f"another run ({describe(holder)}) is using {self.what}: wait for "
                                "it to end, or stop it (a killed run frees it at once)"
                            )
                        if on_wait is not None:
                            on_wait(holder)
                        waited = True
                        self._wait(cursor)
            except BaseException:
                connection.close()  # the server drops a lock taken on it, too
                raise
            _HELD[self._id] = [connection, 1]
            return waited

    def _wait(self, cursor) -> None:
        """``pg_advisory_lock`` in slices of ``lock_timeout``, so a waiting run can still be stopped."""
        import psycopg.errors

        cursor.execute(f"SET lock_timeout = '{WAIT_SECONDS}s'")
        while True:
            try:
                cursor.execute("SELECT pg_advisory_lock(%s::bigint)", (self.key,))
                cursor.fetchone()
                break
            except psycopg.errors.LockNotAvailable:  # a signal (Ctrl-C) is raised between slices
                continue
        cursor.execute("RESET lock_timeout")

    def release(self) -> None:
        with _GUARD:
            entry = _HELD.get(self._id)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] > 0:
                return
            del _HELD[self._id]
            connection = entry[0]
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s::bigint)", (self.key,))
                    still = cursor.fetchone()[0]
                if not still:
                    log.warning("The promotion lock (%s) was no longer held at release", self.scope)
            except Exception as error:  # the connection was lost while held: say so, go on
                log.warning(
                    "The promotion lock's connection to %s was lost while held (%s): another run "
                    "may have promoted meanwhile",
                    redacted(self.database),
                    " ".join(str(error).split())[:200],
                )
            finally:
                connection.close()


def promotion_advisory_lock(database: str, dataset: str) -> AdvisoryLock:
    """The promotion lock of ``dataset`` in ``database``: the same scope as the flock's (one per dataset,
    the registered models of every task of it)."""
    return AdvisoryLock(
        database, f"music-genre promotion {dataset}", f"{dataset}'s model registry and champion"
    )
