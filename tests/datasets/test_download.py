"""rrlib.datasets.download against a real HTTP server on 127.0.0.1 (see conftest.py)."""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
import zipfile

import pytest
from conftest import jpeg_bytes, tar_gz_bytes

from rrlib.datasets.download import (
    ChecksumError,
    DownloadError,
    UnsafeArchiveError,
    download_file,
    extract_archive,
    file_matches,
)

FAST = dict(backoff=0.01, timeout=5, progress=False)


@pytest.fixture
def payload():
    data = os.urandom(300_000)
    return data, hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# download_file
# --------------------------------------------------------------------------------------------
def test_full_download_verifies_and_leaves_no_part(file_server, payload, tmp_path):
    data, digest = payload
    url = file_server.add("/a/file.bin", data)
    dest = tmp_path / "sub" / "file.bin"
    assert download_file(url, dest, digest, len(data), **FAST) == dest
    assert dest.read_bytes() == data
    assert not (tmp_path / "sub" / "file.bin.part").exists()
    assert file_server.requests_for("/a/file.bin") == [None]  # one plain request


def test_present_and_verified_file_needs_no_network(file_server, payload, tmp_path, closed_port_url):
    data, digest = payload
    dest = tmp_path / "file.bin"
    dest.write_bytes(data)
    assert download_file(closed_port_url, dest, digest, len(data), retries=0, **FAST) == dest
    assert dest.read_bytes() == data


def test_resume_after_truncated_transfer(file_server, payload, tmp_path):
    data, digest = payload
    url = file_server.add("/f.bin", data)
    file_server.plan("/f.bin", "truncate:100000")
    dest = tmp_path / "f.bin"
    # no retry allowed: the first run fails and keeps what it got
    with pytest.raises(DownloadError) as info:
        download_file(url, dest, digest, len(data), retries=0, **FAST)
    part = tmp_path / "f.bin.part"
    assert part.read_bytes() == data[:100_000]
    assert not dest.exists()
    assert "f.bin.part" in str(info.value) and "resume" in str(info.value)
    # the rerun continues from byte 100,000 with a Range request
    download_file(url, dest, digest, len(data), retries=0, **FAST)
    assert dest.read_bytes() == data
    assert file_server.requests_for("/f.bin") == [None, "bytes=100000-"]
    assert not part.exists()


def test_truncated_transfer_is_retried_and_resumed_within_one_call(file_server, payload, tmp_path):
    data, digest = payload
    url = file_server.add("/f.bin", data)
    file_server.plan("/f.bin", "truncate:1000", "truncate:5000")
    dest = tmp_path / "f.bin"
    download_file(url, dest, digest, len(data), retries=3, **FAST)
    assert dest.read_bytes() == data
    assert file_server.requests_for("/f.bin") == [None, "bytes=1000-", "bytes=6000-"]


def test_server_ignoring_range_restarts_cleanly(file_server, payload, tmp_path):
    data, digest = payload
    url = file_server.add("/f.bin", data)
    file_server.ignore_range = True
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(data[:70_000])  # left by an interrupted run
    download_file(url, dest, digest, len(data), retries=0, **FAST)
    # appending the 200 body to the partial file would give 370,000 bytes
    assert dest.read_bytes() == data
    assert file_server.requests_for("/f.bin") == ["bytes=70000-"]


def test_checksum_mismatch_raises_and_keeps_previous_file(file_server, payload, tmp_path):
    data, digest = payload
    url = file_server.add("/f.bin", b"corrupted" + data[9:])  # same size, other bytes
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"previous version")  # an older file that does not match the new checksum
    with pytest.raises(ChecksumError) as info:
        download_file(url, dest, digest, len(data), retries=0, **FAST)
    assert dest.read_bytes() == b"previous version"
    assert not (tmp_path / "f.bin.part").exists()
    msg = str(info.value)
    assert url in msg and digest in msg and "kept" in msg


def test_checksum_mismatch_leaves_no_final_file(file_server, payload, tmp_path):
    data, digest = payload
    url = file_server.add("/f.bin", data[::-1])
    dest = tmp_path / "f.bin"
    with pytest.raises(ChecksumError):
        download_file(url, dest, digest, retries=0, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_size_is_checked_when_no_checksum_is_known(file_server, payload, tmp_path):
    data, _ = payload
    url = file_server.add("/f.bin", data)
    with pytest.raises(ChecksumError, match="size 300,000 bytes, expected 300,001"):
        download_file(url, tmp_path / "f.bin", size=len(data) + 1, retries=0, **FAST)
    assert not (tmp_path / "f.bin").exists()


def test_404_fails_at_once_naming_the_url_and_the_manual_path(file_server, tmp_path):
    url = file_server.base + "/missing/gnd_x.pkl"
    dest = tmp_path / "datasets" / "x" / "gnd_x.pkl"
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_file(url, dest, retries=1, backoff=3.0, timeout=5, progress=False)
    assert time.monotonic() - start < 2.5  # a retry would have slept 3 s
    assert file_server.requests_for("/missing/gnd_x.pkl") == [None]
    msg = str(info.value)
    assert url in msg and "404" in msg and str(dest) in msg and "by hand" in msg
    assert info.value.url == url and info.value.dest == dest
    assert not dest.exists()


def test_500_is_retried_with_backoff_then_succeeds(file_server, payload, tmp_path):
    data, digest = payload
    url = file_server.add("/f.bin", data)
    file_server.plan("/f.bin", "500", "500")
    download_file(url, tmp_path / "f.bin", digest, retries=2, **FAST)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert len(file_server.requests_for("/f.bin")) == 3


def test_persistent_500_gives_a_clear_error(file_server, payload, tmp_path):
    data, digest = payload
    url = file_server.add("/f.bin", data)
    file_server.plan("/f.bin", *["500"] * 10)
    with pytest.raises(DownloadError) as info:
        download_file(url, tmp_path / "f.bin", digest, retries=2, **FAST)
    msg = str(info.value)
    assert url in msg and "HTTP 500" in msg and "3 attempt" in msg and "by hand" in msg
    assert len(file_server.requests_for("/f.bin")) == 3
    assert not (tmp_path / "f.bin").exists()


def test_offline_gives_manual_instructions(closed_port_url, tmp_path):
    dest = tmp_path / "features" / "x.mat"
    with pytest.raises(DownloadError) as info:
        download_file(closed_port_url, dest, retries=1, **FAST)
    msg = str(info.value)
    assert closed_port_url in msg and "offline" in msg and str(dest) in msg and "by hand" in msg
    assert not dest.exists()


def test_file_matches(tmp_path):
    f = tmp_path / "x"
    assert not file_matches(f)
    f.write_bytes(b"abc")
    assert file_matches(f) and file_matches(f, size=3) and not file_matches(f, size=4)
    assert file_matches(f, sha256=hashlib.sha256(b"abc").hexdigest())
    assert not file_matches(f, sha256=hashlib.sha256(b"abd").hexdigest())


# --------------------------------------------------------------------------------------------
# extract_archive
# --------------------------------------------------------------------------------------------
def _tar_with(tmp_path, *infos: tuple[tarfile.TarInfo, bytes]) -> os.PathLike:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for info, data in infos:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


def test_extract_tar_gz_flat_and_nested(tmp_path):
    members = {"paris/defense/a.jpg": jpeg_bytes(), "paris/eiffel/b.jpg": jpeg_bytes(color=(0, 0, 255))}
    archive = tmp_path / "paris_1.tgz"
    archive.write_bytes(tar_gz_bytes(members))
    flat = extract_archive(archive, tmp_path / "jpg", flatten=True)
    assert flat == [tmp_path / "jpg" / "a.jpg", tmp_path / "jpg" / "b.jpg"]
    assert (tmp_path / "jpg" / "b.jpg").read_bytes() == members["paris/eiffel/b.jpg"]
    nested = extract_archive(archive, tmp_path / "tree")
    assert (tmp_path / "tree" / "paris" / "defense" / "a.jpg").read_bytes() == members["paris/defense/a.jpg"]
    assert len(nested) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jpg", "paris_1.tgz", "tree"]  # no temp folder left


def test_extract_zip(tmp_path):
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("d/one.txt", "1")
    assert extract_archive(archive, tmp_path / "out") == [tmp_path / "out" / "d" / "one.txt"]


@pytest.mark.parametrize(
    "infos",
    [
        [(_file("ok.jpg"), b"fine"), (_file("../escape.txt"), b"evil")],
        [(_file("ok.jpg"), b"fine"), (_file("a/../../escape.txt"), b"evil")],
        [(_file("ok.jpg"), b"fine"), (_file("/tmp/abs_escape.txt"), b"evil")],
        [(_file("ok.jpg"), b"fine"), (_link("link", "../../escape.txt"), b"")],
        [(_file("ok.jpg"), b"fine"), (_link("link", "/etc/passwd"), b"")],
        [(_file("ok.jpg"), b"fine"), (_link("hard", "../escape.txt", hard=True), b"")],
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "symlink-absolute", "hardlink-out"],
)
def test_unsafe_tar_is_refused_before_writing_anything(tmp_path, infos):
    archive = _tar_with(tmp_path, *infos)
    with tarfile.open(archive) as tar:  # the archive really holds the unsafe name
        assert any(m.name == infos[1][0].name for m in tar.getmembers())
    dest = tmp_path / "out" / "jpg"
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        extract_archive(archive, dest)
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar.gz"]


def test_unsafe_zip_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", "fine")
        zf.writestr("../escape.txt", "evil")
    with pytest.raises(UnsafeArchiveError):
        extract_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.zip"]


def test_flatten_name_clash_is_refused(tmp_path):
    archive = tmp_path / "x.tgz"
    archive.write_bytes(tar_gz_bytes({"a/x.jpg": b"1", "b/x.jpg": b"2"}))
    with pytest.raises(ValueError, match="x.jpg"):
        extract_archive(archive, tmp_path / "jpg", flatten=True)
    assert not (tmp_path / "jpg").exists()


def test_truncated_archive_is_reported_and_nothing_is_written(tmp_path):
    data = tar_gz_bytes({f"d/{i}.bin": os.urandom(50_000) for i in range(4)})
    archive = tmp_path / "x.tgz"
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or incomplete"):
        extract_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tgz"]


def test_not_an_archive(tmp_path):
    f = tmp_path / "x.tgz"
    f.write_bytes(b"<html>404</html>")
    with pytest.raises(ValueError, match="neither a tar nor a zip"):
        extract_archive(f, tmp_path / "out")
