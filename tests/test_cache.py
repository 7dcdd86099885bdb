"""rrlib.cache: names that stay in the data root, content digests, atomic writes by concurrent
writers, unreadable files reported and recomputed."""
from __future__ import annotations

import functools
import multiprocessing
import os
import time

import numpy as np
import pytest
from PIL import Image

from rrlib import cache


@pytest.mark.parametrize("name", ["../../..", "..", "a/../b", "a/b", "a\\b", "/abs", "", ".hidden", "-x", "a\0b",
                                  "C:x"])
def test_names_that_could_leave_the_folder_are_refused(name):
    with pytest.raises(ValueError, match="tag"):
        cache.check_name(name, "tag")


def test_entry_is_inside_the_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("RRLIB_DATA", str(tmp_path))
    path = cache.entry("features/cache", ["roxford5k", "whiten15"], "0123abcd", ".npz")
    assert path == tmp_path / "features" / "cache" / "roxford5k_whiten15_0123abcd.npz"
    with pytest.raises(ValueError, match="cache label"):
        cache.entry("features/cache", ["roxford5k", "../../x"], "0123abcd", ".npz")
    with pytest.raises(TypeError, match="str"):
        cache.check_name(5)


def test_digest_is_stable_and_sees_every_part():
    a = dict(scales=(1.0, 0.5), max_size=1024, w=np.arange(3.0), p=functools.partial(max, 3))
    assert cache.digest(a) == cache.digest(dict(a)) and len(cache.digest(a)) == cache.KEY_DIGITS
    assert cache.digest(1) != cache.digest(1.0) != cache.digest("1")  # types are part of the encoding
    assert cache.digest(np.arange(3.0)) != cache.digest(np.arange(3.0).astype(np.float32))
    assert cache.digest(np.zeros((2, 3))) != cache.digest(np.zeros((3, 2)))
    assert cache.digest(["ab", "c"]) != cache.digest(["a", "bc"])
    assert cache.digest(lambda x: x ** 3) != cache.digest(lambda x: x ** 8)
    with pytest.raises(TypeError, match="cache key"):
        cache.digest(object())


def test_file_digest_follows_the_content(tmp_path):
    f = tmp_path / "im.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(f)
    before = cache.file_digest(f)
    assert before == cache.file_digest(f)  # remembered
    time.sleep(0.01)
    Image.new("RGB", (8, 8), (3, 2, 1)).save(f)
    assert cache.file_digest(f) != before
    # images are identified by content, not by name
    g = tmp_path / "copy.png"
    g.write_bytes(f.read_bytes())
    assert cache.images_digest([f]) == cache.images_digest([g])
    assert cache.images_digest([Image.open(f)]) != cache.images_digest([Image.new("RGB", (8, 8))])


def _slow_writer(path: str, byte: int, started) -> None:
    def write(f):
        started.wait()
        for _ in range(20):
            f.write(bytes([byte]) * 50_000)
            time.sleep(0.002)

    cache.atomic_write(path, write)


def test_two_processes_writing_one_key_install_a_whole_file(tmp_path):
    """Both writers succeed and the file is one writer's whole output, never a mix or a part (a
    shared temporary name let one writer rename the other's half-written file)."""
    path = tmp_path / "entry.bin"
    ctx = multiprocessing.get_context("fork")
    started = ctx.Barrier(2)
    procs = [ctx.Process(target=_slow_writer, args=(str(path), b, started)) for b in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    data = path.read_bytes()
    assert len(data) == 1_000_000 and len(set(data)) == 1
    assert os.listdir(tmp_path) == ["entry.bin"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "entry.bin"
    path.write_bytes(b"old")

    def broken(f):
        f.write(b"new, half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.atomic_write(path, broken)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["entry.bin"]


def test_cached_recomputes_an_unreadable_file_with_a_warning(tmp_path):
    path = tmp_path / "x.npy"
    calls = []

    def compute():
        calls.append(1)
        return np.arange(5)

    save = lambda v, f: np.save(f, v)  # noqa: E731
    np.testing.assert_array_equal(cache.cached(path, compute, save, np.load), np.arange(5))
    np.testing.assert_array_equal(cache.cached(path, compute, save, np.load), np.arange(5))
    assert len(calls) == 1
    path.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="x.npy.*unreadable"):
        np.testing.assert_array_equal(cache.cached(path, compute, save, np.load), np.arange(5))
    assert len(calls) == 2
    np.testing.assert_array_equal(np.load(path), np.arange(5))  # overwritten
    cache.cached(tmp_path / "off.npy", compute, save, np.load, enabled=False)
    assert not (tmp_path / "off.npy").exists()
