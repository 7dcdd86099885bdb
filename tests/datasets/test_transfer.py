"""rrlib.datasets.transfer (download_file) against a real HTTP server on 127.0.0.1 (see conftest.py)."""
from __future__ import annotations

import hashlib
import os
import time

import pytest

from rrlib.datasets.transfer import OVERLAP, ChecksumError, DownloadError, download_file, file_matches

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
    # the rerun re-reads the last OVERLAP bytes it has, checks them, and continues from byte 100,000
    assert file_server.requests_for("/f.bin") == [None, f"bytes={100_000 - OVERLAP}-"]
    assert not part.exists()


def test_truncated_transfer_is_retried_and_resumed_within_one_call(file_server, payload, tmp_path):
    data, digest = payload
    url = file_server.add("/f.bin", data)
    file_server.plan("/f.bin", "truncate:1000", "truncate:5000", "truncate:100000", "truncate:70000")
    dest = tmp_path / "f.bin"
    download_file(url, dest, digest, len(data), retries=5, **FAST)
    assert dest.read_bytes() == data
    # a .part shorter than the overlap is re-read from 0; the 4th answer is cut inside the overlap
    assert file_server.requests_for("/f.bin") == [
        None, "bytes=0-", "bytes=0-", f"bytes={100_000 - OVERLAP}-", f"bytes={100_000 - OVERLAP + 70_000 - OVERLAP}-"]


def test_server_ignoring_range_restarts_cleanly(file_server, payload, tmp_path):
    data, digest = payload
    url = file_server.add("/f.bin", data)
    file_server.ignore_range = True
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(data[:70_000])  # left by an interrupted run
    download_file(url, dest, digest, len(data), retries=0, **FAST)
    # appending the 200 body to the partial file would give 370,000 bytes
    assert dest.read_bytes() == data
    assert file_server.requests_for("/f.bin") == [f"bytes={70_000 - OVERLAP}-"]


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
    with pytest.raises(ChecksumError, match="announces 300,000 bytes, expected 300,001"):
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
# Downloads without a checksum: lengths, overlaps, bounds
# --------------------------------------------------------------------------------------------
def test_body_without_length_cut_short_is_resumed_not_accepted(file_server, payload, tmp_path):
    data, _ = payload
    url = file_server.add("/f.bin", data)
    file_server.plan("/f.bin", "nolength+truncate:100000")  # nothing says the body is short
    dest = tmp_path / "f.bin"
    download_file(url, dest, retries=0, **FAST)  # no sha256, no size: only the server's word
    assert dest.read_bytes() == data
    # the end of a body of unknown length is confirmed by a range request (its Content-Range
    # gives the total), which here fetches the rest
    assert file_server.requests_for("/f.bin") == [None, f"bytes={100_000 - OVERLAP}-"]


def test_complete_body_without_length_is_confirmed(file_server, payload, tmp_path):
    data, _ = payload
    url = file_server.add("/f.bin", data)
    file_server.plan("/f.bin", "nolength")
    download_file(url, tmp_path / "f.bin", retries=0, **FAST)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert file_server.requests_for("/f.bin") == [None, f"bytes={len(data) - OVERLAP}-"]


def test_no_length_and_no_ranges_cannot_be_confirmed(file_server, payload, tmp_path):
    data, _ = payload
    url = file_server.add("/f.bin", data)
    file_server.ignore_range = True
    file_server.plan("/f.bin", "nolength+truncate:1000", "nolength+truncate:1000")
    with pytest.raises(DownloadError, match="no length and ignores range requests") as info:
        download_file(url, tmp_path / "f.bin", retries=0, **FAST)
    assert str(tmp_path / "f.bin") in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_part_that_is_not_a_prefix_is_not_spliced(file_server, payload, tmp_path):
    data, _ = payload
    url = file_server.add("/f.bin", data)
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(os.urandom(70_000))  # another file's beginning
    download_file(url, dest, retries=0, **FAST)  # no checksum to catch a splice afterwards
    assert dest.read_bytes() == data
    # the overlap did not match: restarted from byte 0
    assert file_server.requests_for("/f.bin") == [f"bytes={70_000 - OVERLAP}-", None]


def test_part_shorter_than_the_overlap_is_checked_from_byte_zero(file_server, payload, tmp_path):
    data, _ = payload
    url = file_server.add("/f.bin", data)
    (tmp_path / "f.bin.part").write_bytes(data[:1000])
    download_file(url, tmp_path / "f.bin", retries=0, **FAST)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert file_server.requests_for("/f.bin") == ["bytes=0-"]


def test_reading_stops_at_the_pinned_size(file_server, payload, tmp_path):
    data, _ = payload
    url = file_server.add("/f.bin", data)
    # 30 MB more than the file, with no length announced: the old reader read it all
    file_server.plan("/f.bin", "nolength+extra:30000000", "nolength+extra:30000000")
    with pytest.raises(ChecksumError, match=f"more than {len(data):,} bytes"):
        download_file(url, tmp_path / "f.bin", size=len(data), retries=0, **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_announced_size_other_than_the_pinned_one_is_refused_before_reading(file_server, payload, tmp_path):
    data, _ = payload
    url = file_server.add("/f.bin", data + bytes(1_000_000))
    with pytest.raises(ChecksumError, match=f"announces {len(data) + 1_000_000:,} bytes, expected {len(data):,}"):
        download_file(url, tmp_path / "f.bin", size=len(data), retries=0, **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_sha256_prefix_as_in_torch_hub_file_names(file_server, payload, tmp_path):
    data, digest = payload
    url = file_server.add("/f.bin", data)
    assert download_file(url, tmp_path / "a.bin", digest[:8], retries=0, **FAST).read_bytes() == data
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:8]
    with pytest.raises(ChecksumError, match=wrong):
        download_file(url, tmp_path / "b.bin", wrong, retries=0, **FAST)
    assert not (tmp_path / "b.bin").exists()
    with pytest.raises(ValueError, match="sha256 must be"):
        download_file(url, tmp_path / "c.bin", "xyz", retries=0, **FAST)
    with pytest.raises(ValueError, match="size must be"):
        download_file(url, tmp_path / "c.bin", size=-1, retries=0, **FAST)
