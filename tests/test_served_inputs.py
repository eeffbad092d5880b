"""What a served request may read (music_genre.serving.served_inputs), on a real file system; the served model
itself is tested over HTTP in test_inference.py."""

from __future__ import annotations

import base64
import stat

import pytest

from music_genre.serving import served_inputs as guard


@pytest.fixture
def tree(tmp_path):
    root, outside = tmp_path / "music", tmp_path / "private"
    (root / "album").mkdir(parents=True)
    outside.mkdir()
    (root / "album" / "song.mp3").write_bytes(b"ID3 song")
    (outside / "secret.mp3").write_bytes(b"ID3 secret")
    (root / "out.mp3").symlink_to(outside / "secret.mp3")
    (root / "in.mp3").symlink_to(root / "album" / "song.mp3")
    return root, outside


def test_no_roots_means_no_path_is_read(tree, monkeypatch):
    monkeypatch.delenv(guard.ROOTS_ENV, raising=False)
    root, _ = tree
    refused = guard.check_path(str(root / "album" / "song.mp3"), guard.allowed_roots({}))
    assert isinstance(refused, guard.Refusal) and refused.reason == guard.FORBIDDEN_PATH
    assert "allowed_roots is empty" in refused.message


def test_only_paths_that_resolve_under_a_root_are_read(tree, monkeypatch):
    monkeypatch.delenv(guard.ROOTS_ENV, raising=False)
    root, outside = tree
    roots = guard.allowed_roots({"allowed_roots": [str(root)]})
    assert guard.check_path(str(root / "album" / "song.mp3"), roots) == root / "album" / "song.mp3"
    assert guard.check_path(str(root / "in.mp3"), roots) == root / "album" / "song.mp3"
    for path in (
        str(outside / "secret.mp3"),  # outside
        str(root / "out.mp3"),  # a link inside pointing outside
        str(root / "album" / ".." / "album" / "song.mp3"),  # '..' even when it stays inside
        str(root / ".." / "private" / "secret.mp3"),
        "album/song.mp3",  # relative
        "",
    ):
        refused = guard.check_path(path, roots)
        assert isinstance(refused, guard.Refusal) and refused.reason == "forbidden_path", path
    # a root named only where the server runs
    monkeypatch.setenv(guard.ROOTS_ENV, str(outside))
    assert guard.check_path(str(outside / "secret.mp3"), guard.allowed_roots({})) == (
        outside / "secret.mp3"
    )


def test_content_is_size_limited_decoded_and_named_by_its_bytes(monkeypatch):
    monkeypatch.delenv(guard.MAX_MB_ENV, raising=False)
    assert guard.max_bytes({"max_mb": 2}) == 2 * 1024 * 1024
    monkeypatch.setenv(guard.MAX_MB_ENV, "0.5")
    assert guard.max_bytes({"max_mb": 2}) == 512 * 1024
    data = b"RIFF" + bytes(1000)
    assert guard.decode_content(base64.b64encode(data).decode(), 10_000) == data
    too_large = guard.decode_content(base64.b64encode(bytes(20_000)).decode(), 10_000)
    assert too_large.reason == "too_large"
    assert guard.decode_content("not base64 at all!", 10_000).reason == "bad_content"
    assert guard.decode_content("", 10_000).reason == "bad_content"
    assert guard.suffix_for(data, None) == ".wav"
    assert guard.suffix_for(b"fLaC...", None) == ".flac"
    assert guard.suffix_for(b"\xff\xfb\x90", None) == ".mp3"
    assert guard.suffix_for(b"anything", "Song.OGG") == ".ogg"
    assert guard.suffix_for(b"hello", None) == ".bin"


def test_uploads_are_private_and_deleted():
    with guard.PrivateUploads() as uploads:
        path = uploads.write(b"ID3 audio", ".mp3")
        assert path.read_bytes() == b"ID3 audio"
        assert stat.S_IMODE(uploads.folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        folder = uploads.folder
    assert not folder.exists()
