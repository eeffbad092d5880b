"""The download capability against a real HTTP server on 127.0.0.1 (started and stopped by each test).

The server serves small zips built here, supports Range requests and can misbehave on demand: cut the
first transfer short, ignore Range, serve other bytes than the checksum says, answer 404.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from music_genre.data.download import (
    FMA_ARCHIVES,
    DownloadError,
    download_file,
    extract_zip,
    fetch_archives,
    is_verified,
)
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(120)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FAST = {"chunk_size": 4096, "timeout_s": 5.0, "retries": 2, "backoff_s": 0.01, "progress": False}

TRACKS_CSV = b",track,track\n,genre_top,title\ntrack_id,,\n2,Hip-Hop,Food\n"
MP3_2 = bytes(range(256)) * 800  # 204,800 bytes, stored uncompressed so the zip is as large
MP3_155066 = b"\xff\xfb\x90\x00" * 5000


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2017, 4, 1, 0, 0, 0))
            zf.writestr(info, data)
    return buf.getvalue()


ARCHIVES = {
    "fma_metadata": _zip(
        {
            "fma_metadata/tracks.csv": TRACKS_CSV,
            "fma_metadata/genres.csv": b"genre_id,title\n21,Hip-Hop\n",
        }
    ),
    "fma_small": _zip({"fma_small/000/000002.mp3": MP3_2, "fma_small/155/155066.mp3": MP3_155066}),
}
SHA1 = {name: hashlib.sha1(data).hexdigest() for name, data in ARCHIVES.items()}


class Mirror:
    """What the fake mirror serves, how it misbehaves, and what it saw."""

    def __init__(self) -> None:
        self.files = {f"/{name}.zip": data for name, data in ARCHIVES.items()}
        self.interrupt_first = {}  # path -> bytes to send on the first GET, then drop the connection
        self.stall_first_s = (
            0.0  # with interrupt_first: hang this long before dropping the connection
        )
        self.fail_first = {}  # path -> HTTP status answered to the first GET (e.g. 503)
        self.ignore_range = False
        self.log: list[dict] = []  # one entry per GET: path, range, status, sent
        self.lock = threading.Lock()
        self.base_url = ""

    def hits(self, name: str) -> int:
        return sum(1 for r in self.log if r["path"] == f"/{name}.zip")

    def sent(self, name: str) -> int:
        """Bytes served for `name`, once every handler has finished (the client can read the last
        byte before the server thread records it)."""
        for r in self.log:
            r["done"].wait(timeout=5)
        return sum(r["sent"] for r in self.log if r["path"] == f"/{name}.zip")


def _handler(mirror: Mirror):
    class Handler(BaseHTTPRequestHandler):
        timeout = 5  # a stuck client cannot hold a server thread

        def log_message(self, *args):  # keep pytest output quiet
            pass

        def do_GET(self):
            record = {"path": self.path, "range": self.headers.get("Range"), "status": 0, "sent": 0}
            record["done"] = threading.Event()
            try:
                self._serve(record)
            finally:
                record["done"].set()

        def _serve(self, record):
            with mirror.lock:
                mirror.log.append(record)
                first = sum(1 for r in mirror.log if r["path"] == self.path) == 1
            data = mirror.files.get(self.path)
            if first and self.path in mirror.fail_first:
                record["status"] = mirror.fail_first[self.path]
                self.send_error(record["status"])
                return
            if data is None:
                record["status"] = 404
                self.send_error(404)
                return
            start = 0
            status = 200
            if record["range"] and not mirror.ignore_range:
                start = int(record["range"].removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    record["status"] = 416
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            body = data[start:]
            record["status"] = status
            self.send_response(status)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            cut = mirror.interrupt_first.get(self.path) if first else None
            if cut is not None:
                body = body[:cut]  # HTTP/1.0: returning closes the connection mid-body
            self.wfile.write(body)
            self.wfile.flush()
            record["sent"] = len(body)
            if cut is not None and mirror.stall_first_s:
                time.sleep(
                    mirror.stall_first_s
                )  # a stalled mirror: the client's read timeout fires

    return Handler


@pytest.fixture
def mirror():
    state = Mirror()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch):
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")


# ---- download_file ------------------------------------------------------------------------------


def test_interrupted_transfer_resumes_with_range(mirror, tmp_path):
    size = len(ARCHIVES["fma_small"])
    cut = 50_000
    mirror.interrupt_first["/fma_small.zip"] = cut
    dest = tmp_path / "fma_small.zip"

    out = download_file(mirror.base_url + "fma_small.zip", dest, SHA1["fma_small"], **FAST)

    assert out == dest
    assert [r["status"] for r in mirror.log] == [200, 206]
    assert mirror.log[0]["range"] is None
    # It resumes where its .part stopped: the cut, less at most one chunk (urllib3 drops the partial
    # chunk it was reading when the connection closed).
    resumed_at = int(mirror.log[1]["range"].removeprefix("bytes=").removesuffix("-"))
    assert cut - FAST["chunk_size"] < resumed_at <= cut
    assert size <= mirror.sent("fma_small") < size + FAST["chunk_size"]  # not fetched twice
    assert hashlib.sha1(dest.read_bytes()).hexdigest() == SHA1["fma_small"]
    assert not (tmp_path / "fma_small.zip.part").exists()
    stamp = json.loads((tmp_path / "fma_small.zip.verified").read_text())
    assert stamp["sha1"] == SHA1["fma_small"] and stamp["size"] == size


def test_stalled_transfer_times_out_and_resumes(mirror, tmp_path):
    data = ARCHIVES["fma_small"]
    mirror.interrupt_first["/fma_small.zip"] = 40_960
    mirror.stall_first_s = 2.0
    started = time.monotonic()

    download_file(
        mirror.base_url + "fma_small.zip",
        tmp_path / "fma_small.zip",
        SHA1["fma_small"],
        **{**FAST, "timeout_s": 0.5},
    )

    # it did not wait for the stalled connection to close (the stall is 2 s; the timeout 0.5 s)
    assert time.monotonic() - started < 2.0
    assert [r["status"] for r in mirror.log] == [200, 206]
    assert mirror.log[1]["range"] == "bytes=40960-"
    assert (tmp_path / "fma_small.zip").read_bytes() == data


def test_server_error_is_retried(mirror, tmp_path):
    mirror.fail_first["/fma_metadata.zip"] = 503

    download_file(
        mirror.base_url + "fma_metadata.zip",
        tmp_path / "fma_metadata.zip",
        SHA1["fma_metadata"],
        **FAST,
    )

    assert [r["status"] for r in mirror.log] == [503, 200]
    assert is_verified(tmp_path / "fma_metadata.zip", SHA1["fma_metadata"])


def test_partial_file_from_an_earlier_run_is_resumed(mirror, tmp_path):
    data = ARCHIVES["fma_small"]
    (tmp_path / "fma_small.zip.part").write_bytes(data[:12_345])

    download_file(
        mirror.base_url + "fma_small.zip", tmp_path / "fma_small.zip", SHA1["fma_small"], **FAST
    )

    assert [r["range"] for r in mirror.log] == ["bytes=12345-"]
    assert mirror.sent("fma_small") == len(data) - 12_345
    assert (tmp_path / "fma_small.zip").read_bytes() == data


def test_server_ignoring_range_restarts_from_zero(mirror, tmp_path):
    mirror.ignore_range = True
    data = ARCHIVES["fma_small"]
    (tmp_path / "fma_small.zip.part").write_bytes(b"garbage that must not stay at the front")

    download_file(
        mirror.base_url + "fma_small.zip", tmp_path / "fma_small.zip", SHA1["fma_small"], **FAST
    )

    # One request: the 200 answer is taken from its first byte, the garbage prefix dropped.
    assert [(r["range"], r["status"]) for r in mirror.log] == [("bytes=39-", 200)]
    assert (tmp_path / "fma_small.zip").read_bytes() == data


def test_complete_part_answered_416_is_verified_not_refetched(mirror, tmp_path):
    data = ARCHIVES["fma_metadata"]
    (tmp_path / "fma_metadata.zip.part").write_bytes(data)

    download_file(
        mirror.base_url + "fma_metadata.zip",
        tmp_path / "fma_metadata.zip",
        SHA1["fma_metadata"],
        **FAST,
    )

    assert [(r["range"], r["status"], r["sent"]) for r in mirror.log] == [
        (f"bytes={len(data)}-", 416, 0)
    ]
    assert is_verified(tmp_path / "fma_metadata.zip", SHA1["fma_metadata"])


def test_verified_archive_is_never_fetched_or_hashed_again(mirror, tmp_path, monkeypatch):
    dest = tmp_path / "fma_small.zip"
    url = mirror.base_url + "fma_small.zip"
    download_file(url, dest, SHA1["fma_small"], **FAST)
    assert mirror.hits("fma_small") == 1

    import music_genre.data.download.transfer as download_module

    def no_hashing(*args, **kwargs):
        raise AssertionError("a verified archive was hashed again")

    monkeypatch.setattr(download_module, "sha1_of", no_hashing)
    assert download_file(url, dest, SHA1["fma_small"], **FAST) == dest
    assert mirror.hits("fma_small") == 1


def test_checksum_mismatch_deletes_the_download_and_says_what_to_do(mirror, tmp_path):
    wrong = "0" * 40
    dest = tmp_path / "fma_small.zip"

    with pytest.raises(DownloadError) as err:
        download_file(mirror.base_url + "fma_small.zip", dest, wrong, **FAST)

    message = str(err.value)
    assert "\n" not in message
    assert "fma_small.zip" in message and wrong in message and SHA1["fma_small"] in message
    assert "run again" in message and "download.base_url" in message
    assert not dest.exists() and not (tmp_path / "fma_small.zip.part").exists()
    assert not (tmp_path / "fma_small.zip.verified").exists()


def test_connection_refused_fails_fast_and_clearly(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/fma_small.zip"
    started = time.monotonic()

    # A server never reached gets 2 retries, whatever `retries` says (a wrong base_url, most likely).
    with pytest.raises(DownloadError) as err:
        download_file(url, tmp_path / "fma_small.zip", SHA1["fma_small"], **{**FAST, "retries": 5})

    assert (
        time.monotonic() - started < 30
    )  # not the 5 retries with their back-off (the count is below)
    message = str(err.value)
    assert url in message and "download.base_url" in message and "after 3 attempts" in message
    assert "\n" not in message
    # the cause is the refused connection itself (its wording is the OS's, so the type is checked)
    assert any(isinstance(e, ConnectionRefusedError) for e in _exception_chain(err.value))


def _exception_chain(error: BaseException) -> list[BaseException]:
    """Every exception reachable from ``error`` through causes, contexts, ``reason`` and ``args``
    (requests wraps urllib3, which wraps the socket's own error)."""
    seen, todo = [], [error]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += list(current.args)
    return seen


def test_http_404_is_not_retried(mirror, tmp_path):
    with pytest.raises(DownloadError, match=r"fma_huge\.zip answered HTTP 404.*download\.base_url"):
        download_file(mirror.base_url + "fma_huge.zip", tmp_path / "fma_huge.zip", "0" * 40, **FAST)
    assert len(mirror.log) == 1


def test_failure_after_retries_keeps_the_part_for_a_later_resume(mirror, tmp_path, monkeypatch):
    data = ARCHIVES["fma_small"]
    mirror.interrupt_first["/fma_small.zip"] = 30_000
    url = mirror.base_url + "fma_small.zip"
    dest = tmp_path / "fma_small.zip"
    # Every retry lands on a dead port: the 30,000 bytes already received must survive.
    import requests

    real_get = requests.Session.get
    dead = f"http://127.0.0.1:{free_port()}/fma_small.zip"

    def flaky_get(self, target, **kwargs):
        return real_get(
            self, target if "Range" not in kwargs.get("headers", {}) else dead, **kwargs
        )

    monkeypatch.setattr(requests.Session, "get", flaky_get)
    with pytest.raises(DownloadError, match="is kept and the next run resumes it"):
        download_file(url, dest, SHA1["fma_small"], **FAST)
    kept = (tmp_path / "fma_small.zip.part").read_bytes()
    assert 30_000 - FAST["chunk_size"] < len(kept) <= 30_000 and kept == data[: len(kept)]

    monkeypatch.setattr(requests.Session, "get", real_get)
    download_file(url, dest, SHA1["fma_small"], **FAST)
    assert mirror.log[-1]["range"] == f"bytes={len(kept)}-"
    assert dest.read_bytes() == data


# ---- extract_zip --------------------------------------------------------------------------------


def test_extract_zip_layout_and_skip_when_already_extracted(tmp_path):
    archive = tmp_path / "archives" / "fma_small.zip"
    archive.parent.mkdir()
    archive.write_bytes(ARCHIVES["fma_small"])
    root = tmp_path / "fma"

    assert extract_zip(archive, root, progress=False) == ["fma_small"]
    mp3 = root / "fma_small" / "000" / "000002.mp3"
    assert mp3.read_bytes() == MP3_2
    assert (root / "fma_small" / "155" / "155066.mp3").read_bytes() == MP3_155066
    assert sorted(p.name for p in root.iterdir()) == [".fma_small.zip.extracted", "fma_small"]

    mp3.write_bytes(b"edited after extraction")  # a skipped extraction leaves it alone
    assert extract_zip(archive, root, progress=False) == ["fma_small"]
    assert mp3.read_bytes() == b"edited after extraction"

    shutil.rmtree(root / "fma_small")  # the folder is gone: the stamp no longer counts
    assert extract_zip(archive, root, progress=False) == ["fma_small"]
    assert mp3.read_bytes() == MP3_2


def test_extract_zip_refuses_members_escaping_the_destination(tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip({"fma_small/ok.mp3": b"x", "../escaped.txt": b"pwned"}))
    root = tmp_path / "root"

    with pytest.raises(
        DownloadError, match=r"evil\.zip: refusing to extract unsafe member '\.\./escaped\.txt'"
    ):
        extract_zip(archive, root, progress=False)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (root / "fma_small").exists()
    assert list(root.iterdir()) == []  # no temporary folder left behind either


def test_extract_zip_corrupt_archive_is_a_clear_error(tmp_path):
    archive = tmp_path / "fma_metadata.zip"
    archive.write_bytes(b"this is not a zip file" * 100)

    with pytest.raises(DownloadError) as err:
        extract_zip(archive, tmp_path / "root", progress=False)
    message = str(err.value)
    assert message.startswith("fma_metadata.zip is not a readable zip archive")
    assert "run the download again" in message and "\n" not in message
    assert not (tmp_path / "root" / "fma_metadata").exists()


def test_extract_zip_damaged_member_leaves_no_half_extracted_folder(tmp_path):
    data = bytearray(ARCHIVES["fma_small"])
    data[len(data) // 2] ^= 0xFF  # inside 000002.mp3: the zip opens, its CRC check fails
    archive = tmp_path / "fma_small.zip"
    archive.write_bytes(bytes(data))
    root = tmp_path / "root"

    with pytest.raises(DownloadError, match=r"^fma_small\.zip is not a readable zip archive"):
        extract_zip(archive, root, progress=False)
    assert list(root.iterdir()) == []


# ---- fetch_archives -----------------------------------------------------------------------------


def test_fetch_archives_downloads_unzips_and_reports(mirror, tmp_path):
    root = tmp_path / "fma"
    report = fetch_archives(
        mirror.base_url, ["fma_metadata", "fma_small"], root, checksums=SHA1, **FAST
    )

    assert (root / "fma_metadata" / "tracks.csv").read_bytes() == TRACKS_CSV
    assert (root / "fma_small" / "000" / "000002.mp3").read_bytes() == MP3_2
    assert (root / "archives" / "fma_small.zip").is_file()
    small = report["archives"]["fma_small"]
    assert small["url"] == mirror.base_url + "fma_small.zip"
    assert small["path"] == str(root / "archives" / "fma_small.zip")
    assert small["bytes"] == len(ARCHIVES["fma_small"]) and small["sha1"] == SHA1["fma_small"]
    assert (small["download"], small["extraction"], small["folders"]) == (
        "downloaded",
        "extracted",
        ["fma_small"],
    )
    assert small["seconds"] >= 0 and report["dest_root"] == str(root)
    json.dumps(report)  # the Kedro node saves it as JSON

    again = fetch_archives(
        mirror.base_url, ["fma_metadata", "fma_small"], root, checksums=SHA1, **FAST
    )
    assert mirror.hits("fma_metadata") == 1 and mirror.hits("fma_small") == 1
    for entry in again["archives"].values():
        assert (entry["download"], entry["extraction"]) == ("cached", "already_extracted")


def test_fetch_archives_without_kept_archives_does_not_refetch(mirror, tmp_path):
    root = tmp_path / "fma"
    fetch_archives(
        mirror.base_url, ["fma_metadata"], root, checksums=SHA1, keep_archives=False, **FAST
    )
    assert not (root / "archives" / "fma_metadata.zip").exists()

    again = fetch_archives(
        mirror.base_url, ["fma_metadata"], root, checksums=SHA1, keep_archives=False, **FAST
    )
    assert mirror.hits("fma_metadata") == 1
    entry = again["archives"]["fma_metadata"]
    assert (entry["download"], entry["extraction"]) == ("cached", "already_extracted")
    assert entry["bytes"] == len(ARCHIVES["fma_metadata"]) and entry["archive_kept"] is False
    assert entry["folders"] == ["fma_metadata"]


def test_fetch_archives_corrupt_archive_is_refused_and_nothing_extracted(mirror, tmp_path):
    root = tmp_path / "fma"
    mirror.files["/fma_small.zip"] = (
        ARCHIVES["fma_small"][:-10] + b"0123456789"
    )  # what a bad mirror serves

    with pytest.raises(DownloadError) as err:
        fetch_archives(mirror.base_url, ["fma_small"], root, checksums=SHA1, **FAST)

    message = str(err.value)
    assert message.startswith("fma_small.zip: SHA-1 mismatch")
    assert SHA1["fma_small"] in message
    assert not (root / "fma_small").exists()
    assert list((root / "archives").iterdir()) == []


def test_fetch_archives_uses_published_checksums_by_default(mirror, tmp_path):
    # The test zip is not the real archive: the published SHA-1 must refuse it.
    with pytest.raises(DownloadError, match=FMA_ARCHIVES["fma_metadata"]):
        fetch_archives(mirror.base_url, ["fma_metadata"], tmp_path / "fma", **FAST)
    with pytest.raises(DownloadError, match="no SHA-1 known for fma_tiny"):
        fetch_archives(mirror.base_url, ["fma_tiny"], tmp_path / "fma", **FAST)
    assert len(mirror.log) == 1


# ---- the Kedro pipeline -------------------------------------------------------------------------


def test_node_refuses_environments_with_nothing_to_download():
    from music_genre.pipelines.download.nodes import download_fma_archives

    with pytest.raises(
        DownloadError, match=r"needs no download.*--env=fma_small\|fma_medium\|fma_large"
    ):
        download_fma_archives(
            {"base_url": "http://127.0.0.1:9/"},
            {"format": "fma", "root": "x", "make_sample_if_missing": True},
        )
    with pytest.raises(DownloadError, match=r"'folder'.*nothing to download"):
        download_fma_archives(
            {"base_url": "http://127.0.0.1:9/"}, {"format": "folder", "root": "x"}
        )
    with pytest.raises(DownloadError, match=r"dataset.audio_dir is 'fma_large'"):
        download_fma_archives(
            {"base_url": "http://127.0.0.1:9/"},
            {"format": "fma", "root": "x", "subset": "small", "audio_dir": "fma_large"},
        )


@pytest.fixture
def kedro_project(tmp_path):
    """A copy of the project's conf/ and pyproject.toml: runs write under tmp_path, never the repo."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(PROJECT_ROOT / "conf", project / "conf")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", project / "pyproject.toml")
    (project / "src").mkdir()  # bootstrap_project wants it; the package itself is installed
    return project


def test_kedro_download_pipeline_end_to_end(mirror, kedro_project, tmp_path, monkeypatch):
    # As `kedro run` does, from the project root: .viz/, mlflow.db (and info.log, when this is the first
    # test to import Kedro) land in the copy.
    monkeypatch.chdir(kedro_project)
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(kedro_project)
    root = tmp_path / "fma"
    runtime_params = {
        "download": {
            "base_url": mirror.base_url,
            "checksums": SHA1,
            "timeout_s": 5,
            "retries": 2,
            "backoff_s": 0.01,
            "progress": False,
        },
        "dataset": {"root": str(root)},
    }
    with KedroSession.create(
        project_path=kedro_project, env="fma_small", runtime_params=runtime_params
    ) as session:
        session.run(pipeline_names=["download"])

    assert (root / "fma_metadata" / "tracks.csv").read_bytes() == TRACKS_CSV
    assert (root / "fma_small" / "000" / "000002.mp3").read_bytes() == MP3_2
    report = json.loads(
        (kedro_project / "data" / "01_raw" / "fma_small" / "download_report.json").read_text()
    )
    assert set(report["archives"]) == {"fma_metadata", "fma_small"}
    assert report["archives"]["fma_small"]["sha1"] == SHA1["fma_small"]
    assert report["archives"]["fma_small"]["download"] == "downloaded"
    assert report["archive_dir"] == str(root / "archives")
    assert mirror.hits("fma_small") == 1

    # The default environment (the built-in sample) has nothing to download: one clear line, no request.
    with KedroSession.create(
        project_path=kedro_project, runtime_params={"download": {"base_url": mirror.base_url}}
    ) as session:
        with pytest.raises(
            Exception, match=r"needs no download.*--env=fma_small\|fma_medium\|fma_large"
        ):
            session.run(pipeline_names=["download"])
    assert len(mirror.log) == 2
