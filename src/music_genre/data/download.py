"""Fetch the FMA archives: resumable, checksummed downloads and safe extraction.

Plain code, no Kedro: ``music_genre.pipelines.download`` is a thin wrapper around :func:`fetch_archives`.

The archives are large (fma_small 7.2 GiB, fma_large 93 GiB) and the mirror is slow, so every step is
built to be re-run cheaply:

* a download streams into ``<archive>.part`` and a later attempt (same run or the next one) resumes it
  with an HTTP ``Range`` request;
* a complete archive is checked against its published SHA-1, then renamed into place and stamped
  (``<archive>.verified``: sha1 and size), so it is never fetched or hashed again;
* extraction goes through a temporary folder inside the destination and is stamped too
  (``<dest_root>/.<archive>.extracted``), so a finished extraction is skipped on the next run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from music_genre.common.errors import ExpectedError

log = logging.getLogger(__name__)

FMA_BASE_URL = "https://os.unil.cloud.switch.ch/fma/"

# Published SHA-1 of each archive (mdeff/fma README).
FMA_ARCHIVES: dict[str, str] = {
    "fma_metadata": "f0df49ffe5f2a6008d7dc83c6915b31835dfe733",
    "fma_small": "ade154f733639d52e35e32f5593efe5be76c6d70",
    "fma_medium": "c67b69ea232021025fca9231fc1c7c1a063ab50b",
    "fma_large": "497109f4dd721066b5ce5e5f250ec604dc78939e",
    "fma_full": "0f0ace23fbe9ba30ecb7e95f763e435ea802b8ab",
}

VERIFIED_SUFFIX = ".verified"
PART_SUFFIX = ".part"
DEFAULT_CHUNK_SIZE = 1 << 20
_HASH_BLOCK = 1 << 22


class DownloadError(ExpectedError, RuntimeError):
    """A download, checksum or extraction failure, with one line that says what to do next."""


# ---- small helpers ------------------------------------------------------------------------------


def sha1_of(path: str | os.PathLike, block_size: int = _HASH_BLOCK) -> str:
    """SHA-1 of a file, read in blocks (archives do not fit in memory)."""
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        while block := fh.read(block_size):
            digest.update(block)
    return digest.hexdigest()


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


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _write_json_atomic(path: Path, payload: Mapping[str, Any]) -> None:
    """Write through a temporary file and rename, so a crash never leaves half a stamp."""
    tmp = _sidecar(path, ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def read_verified_stamp(dest: str | os.PathLike) -> dict | None:
    """The archive's stamp if it still describes the file next to it (same size), else None.

    The size check catches an archive replaced or truncated after it was verified, without re-hashing.
    """
    dest = Path(dest)
    stamp = _read_json(_sidecar(dest, VERIFIED_SUFFIX))
    if not stamp or not dest.is_file():
        return None
    if stamp.get("size") != dest.stat().st_size or not stamp.get("sha1"):
        return None
    return stamp


def is_verified(dest: str | os.PathLike, sha1: str | None = None) -> bool:
    """True when ``dest`` carries a valid stamp (and, if given, the stamp's SHA-1 is ``sha1``)."""
    stamp = read_verified_stamp(dest)
    if stamp is None:
        return False
    return sha1 is None or stamp["sha1"].lower() == sha1.lower()


def _write_verified_stamp(dest: Path, sha1: str, size: int, url: str | None) -> None:
    _write_json_atomic(
        _sidecar(dest, VERIFIED_SUFFIX),
        {
            "sha1": sha1,
            "size": size,
            "url": url,
            "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )


def archive_url(base_url: str, name: str) -> str:
    """``<base_url>/<name>.zip`` with exactly one slash between them."""
    return f"{base_url.rstrip('/')}/{name}.zip"


# ---- download -----------------------------------------------------------------------------------


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
    import requests  # noqa: PLC0415

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
    import requests  # noqa: PLC0415
    from tqdm.auto import tqdm  # noqa: PLC0415

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
    text = " ".join(text.split())
    return f"{type(exc).__name__}: {text[:200]}"


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


# ---- extraction ---------------------------------------------------------------------------------


def _extracted_stamp(archive: Path, dest_root: Path) -> Path:
    return dest_root / f".{archive.name}.extracted"


def read_extracted_stamp(archive: str | os.PathLike, dest_root: str | os.PathLike) -> dict | None:
    """The extraction stamp of ``archive`` under ``dest_root`` if its folders are all still there."""
    archive, dest_root = Path(archive), Path(dest_root)
    stamp = _read_json(_extracted_stamp(archive, dest_root))
    if not stamp or not stamp.get("sha1"):
        return None
    if not all((dest_root / name).exists() for name in stamp.get("top_level", [])):
        return None
    return stamp


def _archive_identity(archive: Path) -> str:
    """The archive's SHA-1: from its verified stamp when there is one, else hashed once."""
    stamp = read_verified_stamp(archive)
    return stamp["sha1"].lower() if stamp else sha1_of(archive)


def _safe_members(zf, archive: Path) -> list:
    """Every member, after checking none would land outside the destination (zip-slip)."""
    members = zf.infolist()
    for info in members:
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if (
            not name
            or name.startswith("/")
            or (len(name) > 1 and name[1] == ":")
            or ".." in parts
            or (info.external_attr >> 16) & 0o170000 == 0o120000  # a symbolic link
        ):
            raise DownloadError(
                f"{archive.name}: refusing to extract unsafe member {info.filename!r} "
                f"(it would land outside the destination); the archive is not a genuine FMA archive"
            )
    return members


def extract_zip(
    archive: str | os.PathLike,
    dest_root: str | os.PathLike,
    *,
    progress: bool = True,
) -> list[str]:
    """Unzip ``archive`` into ``dest_root`` and return its top-level folder names (``["fma_small"]``).

    Skipped when ``dest_root`` holds a stamp saying this exact archive (same SHA-1) was already
    extracted and its folders are still there. Members go to a temporary folder inside ``dest_root``
    first; each top-level folder is then renamed into place (merged file by file if it already exists),
    so an interrupted extraction never leaves a half-filled folder that looks complete.
    """
    import zipfile  # noqa: PLC0415
    import zlib  # noqa: PLC0415

    from tqdm.auto import tqdm  # noqa: PLC0415

    archive, dest_root = Path(archive), Path(dest_root)
    if not archive.is_file():
        raise DownloadError(f"{archive}: archive not found; run the download again")
    identity = _archive_identity(archive)
    stamp = read_extracted_stamp(archive, dest_root)
    if stamp and stamp["sha1"] == identity:
        log.info("%s is already extracted into %s; skipping", archive.name, dest_root)
        return [name for name in stamp["top_level"] if (dest_root / name).is_dir()]

    dest_root.mkdir(parents=True, exist_ok=True)
    tmp = dest_root / f".extracting-{archive.stem}"
    if tmp.exists():
        shutil.rmtree(tmp)  # left by an interrupted run
    bad_zip = (
        f"{archive.name} is not a readable zip archive ({{reason}}): delete {archive} and "
        f"{_sidecar(archive, VERIFIED_SUFFIX).name} and run the download again"
    )
    started = time.monotonic()
    try:
        with zipfile.ZipFile(archive) as zf:
            members = _safe_members(zf, archive)
            tmp.mkdir()
            for info in tqdm(
                members,
                desc=f"unzip {archive.name}",
                unit="file",
                disable=not progress,
                mininterval=0.5,
            ):
                zf.extract(info, tmp)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DownloadError(bad_zip.format(reason=_short(exc))) from None
    except DownloadError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DownloadError(
            f"cannot extract {archive.name} into {dest_root}: {exc} (disk full?)"
        ) from None

    top_level = sorted(p.name for p in tmp.iterdir())
    for name in top_level:
        _move_into_place(tmp / name, dest_root / name)
    shutil.rmtree(tmp, ignore_errors=True)

    _write_json_atomic(
        _extracted_stamp(archive, dest_root),
        {
            "archive": archive.name,
            "sha1": identity,
            "size": archive.stat().st_size,
            "top_level": top_level,
            "files": len(members),
        },
    )
    log.info(
        "Extracted %s (%d entries) into %s in %.1f s: %s",
        archive.name,
        len(members),
        dest_root,
        time.monotonic() - started,
        ", ".join(top_level),
    )
    return [name for name in top_level if (dest_root / name).is_dir()]


def _move_into_place(src: Path, target: Path) -> None:
    """Rename ``src`` to ``target``; if ``target`` is an existing folder, merge into it (files overwrite)."""
    if not target.exists():
        os.replace(src, target)
        return
    if src.is_dir() and target.is_dir():
        log.info("%s already exists: merging the archive's files into it", target)
        for path in sorted(src.rglob("*")):
            dest = target / path.relative_to(src)
            if path.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, dest)
        return
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    os.replace(src, target)


# ---- the whole job ------------------------------------------------------------------------------


def fetch_archives(
    base_url: str,
    names: Iterable[str],
    dest_root: str | os.PathLike,
    archive_dir: str | os.PathLike | None = None,
    checksums: Mapping[str, str | None] | None = None,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    timeout_s: float = 60.0,
    retries: int = 5,
    backoff_s: float = 1.0,
    keep_archives: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Download, verify and unzip each archive (``["fma_metadata", "fma_small"]``) into ``dest_root``.

    Archives go to ``archive_dir`` (default ``<dest_root>/archives``). ``checksums`` overrides
    :data:`FMA_ARCHIVES` per name. An archive already extracted from the expected SHA-1 is neither
    fetched nor unzipped again, even when ``keep_archives=False`` deleted it. Returns a JSON-ready report.
    """
    started = time.monotonic()
    dest_root = Path(dest_root).expanduser().resolve()
    archive_dir = (
        Path(archive_dir).expanduser().resolve() if archive_dir else dest_root / "archives"
    )
    table = {**FMA_ARCHIVES, **(dict(checksums) if checksums else {})}
    names = list(names)
    unknown = [name for name in names if name not in table]
    if unknown:
        raise DownloadError(
            f"no SHA-1 known for {', '.join(unknown)}: add it under download.checksums "
            f"(known: {', '.join(sorted(table))})"
        )

    report: dict[str, Any] = {
        "base_url": base_url,
        "dest_root": str(dest_root),
        "archive_dir": str(archive_dir),
        "archives": {},
    }
    for name in names:
        t0 = time.monotonic()
        expected = table[name].lower() if table[name] else None
        url = archive_url(base_url, name)
        path = archive_dir / f"{name}.zip"
        entry: dict[str, Any] = {"url": url, "path": str(path), "expected_sha1": expected}

        extracted = read_extracted_stamp(path, dest_root)
        if (
            extracted
            and (expected is None or extracted["sha1"] == expected)
            and not is_verified(path, expected)
        ):
            # Unzipped earlier from the right archive, which was since deleted (keep_archives: false).
            log.info(
                "%s was already extracted into %s from the expected archive; nothing to fetch",
                name,
                dest_root,
            )
            entry.update(
                download="cached",
                extraction="already_extracted",
                sha1=extracted["sha1"],
                bytes=extracted.get("size"),
                archive_kept=path.is_file(),
                folders=[n for n in extracted["top_level"] if (dest_root / n).is_dir()],
            )
        else:
            was_verified = is_verified(path, expected)
            download_file(
                url,
                path,
                expected,
                chunk_size=chunk_size,
                timeout_s=timeout_s,
                retries=retries,
                progress=progress,
                backoff_s=backoff_s,
            )
            stamp = read_verified_stamp(path) or {}
            already = read_extracted_stamp(path, dest_root)
            folders = extract_zip(path, dest_root, progress=progress)
            entry.update(
                download="cached" if was_verified else "downloaded",
                extraction="already_extracted"
                if already and already["sha1"] == stamp.get("sha1")
                else "extracted",
                sha1=stamp.get("sha1"),
                bytes=stamp.get("size"),
                folders=folders,
            )
            if not keep_archives:
                path.unlink(missing_ok=True)
                _sidecar(path, VERIFIED_SUFFIX).unlink(missing_ok=True)
                log.info("Deleted %s (download.keep_archives is false)", path)
            entry["archive_kept"] = path.is_file()
        entry["seconds"] = round(time.monotonic() - t0, 3)
        report["archives"][name] = entry
        log.info(
            "%s: %s, %s (%.1f s)",
            name,
            entry["download"],
            entry["extraction"].replace("_", " "),
            entry["seconds"],
        )
    report["seconds"] = round(time.monotonic() - started, 3)
    return report
