"""rrlib.datasets.archives: verified, checked extraction (real archives written by the tests)."""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
import zipfile

import pytest
from conftest import jpeg_bytes, tar_gz_bytes

from rrlib.datasets import archives
from rrlib.datasets.archives import UnsafeArchiveError, extract_archive
from rrlib.datasets.leftovers import owner_tag, remove_stale


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


# --------------------------------------------------------------------------------------------
# Verified to the last byte
# --------------------------------------------------------------------------------------------
def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz"])
def test_compressed_tar_with_a_flipped_byte_is_refused(tmp_path, mode):
    # random bytes do not compress: the streams store them, so a flipped byte changes the data
    # (not the structure) and only the CRC at the end of the stream can tell
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for i in range(3):
            payload = os.urandom(200_000)
            info = tarfile.TarInfo(f"d/{i}.bin")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    data = buf.getvalue()
    archive = tmp_path / "x.tgz"
    archive.write_bytes(_flip(data, len(data) // 2))
    with pytest.raises(ValueError, match="corrupt or incomplete") as info:
        extract_archive(archive, tmp_path / "out")
    assert str(archive) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tgz"]


def test_plain_tar_with_a_damaged_header_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(3):
            info = tarfile.TarInfo(f"d/{i}.bin")
            info.size = 1000
            tar.addfile(info, io.BytesIO(os.urandom(1000)))
    data = buf.getvalue()
    second_header = 512 + 1024  # header + 1,000 bytes padded to 1,024
    archive = tmp_path / "x.tar"
    archive.write_bytes(_flip(data, second_header + 148))  # its checksum field: tar stops there silently
    with pytest.raises(ValueError, match="corrupt or incomplete"):
        extract_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tar"]


def test_zip_with_a_flipped_byte_is_refused(tmp_path):
    good = os.urandom(50_000)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("a.bin", good)
    data = buf.getvalue()
    archive = tmp_path / "x.zip"
    archive.write_bytes(_flip(data, data.index(good[:64]) + 25_000))
    with pytest.raises(ValueError, match="corrupt or incomplete"):
        extract_archive(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.zip"]


def test_bz2_and_xz_tars_extract(tmp_path):
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        info = tarfile.TarInfo("a.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    for name, compress in (("x.tar.bz2", bz2.compress), ("x.tar.xz", lzma.compress), ("x.tar.gz", gzip.compress)):
        (tmp_path / name).write_bytes(compress(tar_bytes.getvalue()))
        assert extract_archive(tmp_path / name, tmp_path / name.replace(".", "_")) == [tmp_path / name.replace(".", "_") / "a.txt"]


# --------------------------------------------------------------------------------------------
# Links checked against what earlier members created (with and without tarfile's data filter)
# --------------------------------------------------------------------------------------------
@pytest.fixture(params=[True, False], ids=["data-filter", "no-data-filter"])
def data_filter(request, monkeypatch):
    """Run a test with tarfile's data filter and as on Pythons without it (3.10.0-11, 3.11.0-3)."""
    monkeypatch.setattr(archives, "HAS_DATA_FILTER", request.param)
    return request.param


def _dir(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info


CHAINS = {
    # each link looks harmless by its name: d/up -> .. is the root; d/up/esc is created at the
    # root and points above it; a file written through it lands outside
    "symlink-chain": [(_dir("d"), b""), (_link("d/up", ".."), b""), (_link("d/up/esc", ".."), b""),
                      (_file("d/up/esc/pwned.txt"), b"evil")],
    # a hard link through a symbolic link to a file outside, then a write through the hard link
    "hardlink-through-symlink": [(_dir("d"), b""), (_link("d/up", ".."), b""),
                                 (_link("h", "d/up/../secret.txt", hard=True), b""), (_file("h"), b"evil")],
    # an earlier link changes its meaning once a later member replaces a folder by a link
    "later-link": [(_dir("p"), b""), (_dir("p/d"), b""), (_link("a", "p/d/../.."), b""), (_link("p/d", "."), b"")],
}


@pytest.mark.parametrize("chain", CHAINS.values(), ids=CHAINS.keys())
def test_chained_links_are_refused(tmp_path, data_filter, chain):
    dest = tmp_path / "area" / "out"
    dest.parent.mkdir()
    secret = dest.parent / "secret.txt"
    secret.write_bytes(b"untouched")
    archive = _tar_with(tmp_path, *chain)
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        extract_archive(archive, dest)
    assert secret.read_bytes() == b"untouched"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["secret.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["area", "evil.tar.gz"]


def test_links_inside_the_folder_still_extract(tmp_path, data_filter):
    archive = _tar_with(tmp_path, (_dir("d"), b""), (_file("d/a.txt"), b"A"), (_link("d/b.txt", "a.txt"), b""),
                        (_link("c.txt", "d/a.txt", hard=True), b""))
    out = tmp_path / "out"
    extract_archive(archive, out)
    assert (out / "d" / "b.txt").read_bytes() == b"A" and (out / "c.txt").read_bytes() == b"A"
    assert (out / "d" / "b.txt").is_symlink()


def test_without_the_data_filter_modes_are_plain(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "HAS_DATA_FILTER", False)
    info = _file("x.sh")
    info.mode = 0o4777  # set-uid, world-writable
    archive = _tar_with(tmp_path, (info, b"#!/bin/sh\n"))
    extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out" / "x.sh").stat().st_mode & 0o7777 == 0o755


# --------------------------------------------------------------------------------------------
# Nothing existing is deleted; staging folders of killed runs are removed
# --------------------------------------------------------------------------------------------
def test_member_named_like_an_existing_folder_is_refused(tmp_path):
    dest = tmp_path / "roxford5k"
    (dest / "jpg").mkdir(parents=True)
    (dest / "jpg" / "all_souls_000001.jpg").write_bytes(b"image")
    archive = tmp_path / "x.tgz"
    archive.write_bytes(tar_gz_bytes({"jpg": b"a file named like the folder", "other.txt": b"1"}))
    with pytest.raises(UnsafeArchiveError, match="jpg"):
        extract_archive(archive, dest)
    assert (dest / "jpg" / "all_souls_000001.jpg").read_bytes() == b"image"
    assert not (dest / "other.txt").exists()  # refused before anything moved
    # flattened: the same
    archive.write_bytes(tar_gz_bytes({"sub/jpg": b"x"}))
    with pytest.raises(UnsafeArchiveError, match="jpg"):
        extract_archive(archive, dest, flatten=True)
    assert (dest / "jpg" / "all_souls_000001.jpg").read_bytes() == b"image"


def test_staging_folders_of_killed_runs_are_removed(tmp_path):
    dest = tmp_path / "jpg"
    host = owner_tag().split("@", 1)[1]
    dead = tmp_path / f".jpg.extract-4999999@{host}@k2j3"  # no such process (above pid_max)
    live = tmp_path / f".jpg.extract-{os.getppid()}@{host}@abcd"  # a running process: a concurrent run
    other_host = tmp_path / ".jpg.extract-4999999@another-machine@x"
    for d in (dead, live, other_host):
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "big.jpg").write_bytes(b"x" * 1000)
    archive = tmp_path / "x.tgz"
    archive.write_bytes(tar_gz_bytes({"a.jpg": b"1"}))
    extract_archive(archive, dest)
    assert not dead.exists() and live.is_dir() and other_host.is_dir()
    assert remove_stale(tmp_path, ".jpg.extract-") == []
