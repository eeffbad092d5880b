"""The HTTP transfer of one archive: streamed into ``<archive>.part``, resumed, retried, verified.

Why a module of its own: this is the part that deals with the network (``Range`` requests, servers that
ignore them or answer 416, resets, timeouts, 5xx, short bodies, a wrong base URL), which has little to do
with what happens to the archive afterwards. ``requests`` and ``tqdm`` load inside the functions.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Any

from .checksums import _HASH_BLOCK, _sidecar, _write_verified_stamp, is_verified, sha1_of
from .errors import DownloadError, _short

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"
DEFAULT_CHUNK_SIZE = 1 << 20


def _missing_parents(folder: Path) -> list[Path]:
    """The folders ``mkdir(parents=True)`` would create for ``folder``, deepest first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        try:
            folder.rmdir()
        except OSError:  # not empty (a .part was kept), or already gone
            return


class _Transient(Exception):
    """An attempt failed in a way worth retrying (reset, timeout, 5xx, short body)."""

    def __init__(self, reason: str, received: int = 0, *, reached: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.received = received  # bytes this attempt added to the .part
        self.reached = reached  # False: no HTTP answer at all (refused, DNS, connect timeout)


# A server never reached in this call (refused, unknown host) is most likely a wrong base_url: give up
# after this many retries instead of `retries`, so the user hears about it within seconds.
_UNREACHED_RETRIES = 2


def download_file(
    url: str,
    dest: str | os.PathLike,
    sha1: str | None,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    timeout_s: float = 60.0,
    retries: int = 5,
    progress: bool = True,
    backoff_s: float = 1.0,
    session: Any = None,
) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest.part``, and verify its SHA-1.

    Returns ``dest``. An archive with a valid ``.verified`` stamp is returned at once (no request, no
    hash). ``retries`` counts failures in a row: an attempt that received bytes resets the count, so a
    long transfer over a flaky link keeps going as long as it makes progress; a server never reached
    at all (refused, unknown host) gets at most 2 retries. ``sha1=None`` skips the check (the
    computed SHA-1 is still stamped). Raises :class:`DownloadError`.
    """
    import requests

    dest = Path(dest)
    if is_verified(dest, sha1):
        log.info("%s is already downloaded and verified; not fetching it again", dest)
        return dest
    created = _missing_parents(dest.parent)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _sidecar(dest, PART_SUFFIX)

    if dest.is_file():
        # There but never stamped (copied in by hand, or the stamp was lost): check it once.
        actual = sha1_of(dest)
        if sha1 is None or actual == sha1.lower():
            _write_verified_stamp(dest, actual, dest.stat().st_size, url)
            log.info("%s was already there and its SHA-1 matches; stamped it as verified", dest)
            return dest
        log.warning(
            "%s is there but its SHA-1 is %s, not %s: downloading it again", dest, actual, sha1
        )
        dest.unlink()

    own_session = session is None
    if own_session:
        session = requests.Session()
    # Byte offsets must be the file's own bytes: no transparent gzip.
    headers = {"Accept-Encoding": "identity"}

    # Running SHA-1 of the bytes in `part`, so the finished file is read only once.
    state: dict[str, Any] = {"digest": None}
    failures = 0
    restarted = False
    reached = part.is_file()  # a .part means the server answered before
    try:
        while True:
            offset = part.stat().st_size if part.is_file() else 0
            if state["digest"] is None:
                digest = state["digest"] = hashlib.sha1()
                if offset:
                    log.info(
                        "Resuming %s from %s (hashing the %d bytes already there)",
                        dest.name,
                        _fmt_bytes(offset),
                        offset,
                    )
                    with open(part, "rb") as fh:
                        while block := fh.read(_HASH_BLOCK):
                            digest.update(block)
            try:
                received = _attempt(
                    session, url, part, offset, state, headers, chunk_size, timeout_s, progress
                )
            except _RestartFromZero as exc:
                if restarted:
                    raise DownloadError(
                        f"{url}: the server does not resume downloads consistently ({exc}); "
                        f"delete {part} and run again"
                    ) from None
                restarted = True
                log.warning("%s; restarting %s from zero", exc, dest.name)
                part.unlink(missing_ok=True)
                state["digest"] = None
                continue
            except _Transient as exc:
                reached = reached or exc.reached or exc.received > 0
                failures = 1 if exc.received else failures + 1
                limit = retries if reached else min(retries, _UNREACHED_RETRIES)
                if failures > limit:
                    raise DownloadError(
                        f"could not download {url} after {failures} attempts in a row ({exc.reason}): "
                        f"check download.base_url, the network and any proxy (HTTPS_PROXY); "
                        f"{_part_note(part)}"
                    ) from None
                wait = min(backoff_s * 2 ** (failures - 1), 30.0)
                have = part.stat().st_size if part.is_file() else 0
                log.warning(
                    "%s: %s; retry %d/%d in %.1f s (%s)",
                    dest.name,
                    exc.reason,
                    failures,
                    limit,
                    wait,
                    f"resuming from {_fmt_bytes(have)}" if have else "nothing received yet",
                )
                time.sleep(wait)
                continue
            if received is _COMPLETE_416:
                log.info("%s: the server says %s is already complete; verifying it", url, part.name)
            break
    except DownloadError:
        _remove_empty(created)  # a download that never started leaves no empty folders behind
        raise
    finally:
        if own_session:
            session.close()

    actual = state["digest"].hexdigest()
    size = part.stat().st_size
    if sha1 is not None and actual != sha1.lower():
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{dest.name}: SHA-1 mismatch (expected {sha1.lower()}, got {actual}, {size} bytes from {url}); "
            f"the bad download was deleted: run again, and if it persists check download.base_url "
            f"(the mirror) and download.checksums.{_archive_name(dest)}"
        )
    if sha1 is None:
        log.warning("%s: no checksum to compare with; its SHA-1 is %s", dest.name, actual)
    os.replace(part, dest)
    _write_verified_stamp(dest, actual, size, url)
    log.info("Downloaded and verified %s (%s, sha1 %s)", dest, _fmt_bytes(size), actual)
    return dest


class _RestartFromZero(Exception):
    """The server answered a resume in a way that makes the partial file unusable."""


_COMPLETE_416 = object()


def _attempt(session, url, part, offset, state, headers, chunk_size, timeout_s, progress):
    """One request: append to ``part`` from ``offset`` (or rewrite it when the server ignores Range).

    Returns the bytes received, or ``_COMPLETE_416``; ``state["digest"]`` follows the bytes in ``part``.
    """
    import requests
    from tqdm.auto import tqdm

    request_headers = dict(headers)
    if offset:
        request_headers["Range"] = f"bytes={offset}-"
    received = 0
    try:
        response = session.get(
            url, headers=request_headers, stream=True, timeout=(timeout_s, timeout_s)
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _Transient(_short(exc), 0, reached=False) from None
    except requests.RequestException as exc:  # invalid URL, missing schema, too many redirects
        raise DownloadError(
            f"cannot request {url}: {_short(exc)}; check download.base_url"
        ) from None

    with response:
        status = response.status_code
        if status == 416 and offset:
            return _COMPLETE_416
        if status in (408, 429) or status >= 500:
            raise _Transient(f"HTTP {status} {response.reason}", 0)
        if status >= 400:
            raise DownloadError(
                f"{url} answered HTTP {status} {response.reason}: check download.base_url "
                f"(it must be the folder holding {url.rsplit('/', 1)[-1]}) and any proxy"
            )
        if status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != offset:
                raise _RestartFromZero(
                    f"asked for bytes from {offset}, got a range starting at {start}"
                )
            mode = "ab"
        elif status == 200:
            if offset:
                # The server ignored Range and sends the whole file: take it from the first byte.
                log.warning("%s ignored the Range request (HTTP 200): restarting from zero", url)
                offset = 0
                state["digest"] = hashlib.sha1()
            total = _int_or_none(response.headers.get("Content-Length"))
            mode = "wb"
        else:
            raise DownloadError(f"{url} answered an unexpected HTTP {status} {response.reason}")

        bar = tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=Path(part.name).stem,  # "fma_small.zip"
            disable=not progress,
            mininterval=0.5,
            dynamic_ncols=True,
        )
        try:
            with open(part, mode) as fh:
                try:
                    for chunk in response.iter_content(chunk_size=chunk_size):
                        if not chunk:
                            continue
                        fh.write(chunk)
                        state["digest"].update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                except (
                    requests.ConnectionError,
                    requests.Timeout,
                    requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError,
                ) as exc:
                    fh.flush()
                    raise _Transient(
                        f"transfer interrupted after {_fmt_bytes(offset + received)}: {_short(exc)}",
                        received,
                    ) from None
        except OSError as exc:
            raise DownloadError(
                f"cannot write {part}: {exc} (disk full or no permission?)"
            ) from None
        finally:
            bar.close()

    if total is not None and offset + received < total:
        raise _Transient(f"connection closed at {offset + received} of {total} bytes", received)
    return received


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes 100-199/1000`` -> (100, 1000); total is None for ``/*``."""
    if not value or not value.startswith("bytes "):
        return None, None
    span, _, total = value[6:].partition("/")
    start = _int_or_none(span.partition("-")[0])
    return start, _int_or_none(total)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _part_note(part: Path) -> str:
    if part.is_file() and part.stat().st_size:
        return f"the partial file {part} ({_fmt_bytes(part.stat().st_size)}) is kept and the next run resumes it"
    return "run again once the server is reachable"


def _archive_name(dest: Path) -> str:
    return dest.name[:-4] if dest.name.endswith(".zip") else dest.name


def _fmt_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover
