"""rrlib.datasets.pickles: data pickles load, pickles that would run code are refused unrun."""
from __future__ import annotations

import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import rrlib.datasets as ds
from rrlib.datasets import registry
from rrlib.datasets.pickles import UnsafePickleError, load_pickle
from rrlib.datasets.registry import DatasetSpec, FileSpec

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "revisitop"


class _Shell:
    """What a crafted pickle holds: unpickling it calls os.system."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_and_numpy_arrays_load(tmp_path, protocol):
    obj = {"imlist": ["a", "b"], "gnd": [{"bbx": np.array([1.0, 2, 3, 4]), "easy": np.arange(3), "hard": [],
                                          "junk": {1, 2}}],
           "scalars": [np.float64(2.5), np.int64(3), 1j, b"raw"], "ordered": collections.OrderedDict(a=1)}
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    out = load_pickle(path)
    assert out["imlist"] == ["a", "b"] and out["scalars"][:2] == [2.5, 3] and out["scalars"][3] == b"raw"
    np.testing.assert_array_equal(out["gnd"][0]["easy"], [0, 1, 2])


def test_crafted_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "gnd_x.pkl"
    path.write_bytes(pickle.dumps({"imlist": [], "qimlist": [], "gnd": [_Shell(marker)]}, protocol=2))
    with pytest.raises(UnsafePickleError, match="system") as info:
        load_pickle(path)
    assert str(path) in str(info.value) and isinstance(info.value, ValueError)
    assert not marker.exists()


def test_crafted_gnd_through_load_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    marker = tmp_path / "ran"
    folder = tmp_path / "datasets" / "evil-set"
    folder.mkdir(parents=True)
    gnd = folder / "gnd_evil-set.pkl"
    gnd.write_bytes(pickle.dumps({"imlist": ["a"], "qimlist": ["q"], "gnd": _Shell(marker)}))
    registry.register(DatasetSpec(name="evil-set", description="crafted", files=(
        FileSpec("http://127.0.0.1:9/gnd_evil-set.pkl", "datasets/evil-set/gnd_evil-set.pkl"),)))
    with pytest.raises(ValueError, match="refusing") as info:
        ds.load("evil-set", root=tmp_path)
    assert str(gnd) in str(info.value)
    assert not marker.exists()


def test_sha256_is_checked_when_given(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ValueError, match="expected 00") as info:
        load_pickle(path, sha256="00" * 32)
    assert str(path) in str(info.value)


def test_garbage_names_the_file(tmp_path):
    path = tmp_path / "gnd_x.pkl"
    path.write_bytes(b"\x80\x04garbage that is no pickle")
    with pytest.raises(ValueError, match="not a readable pickle") as info:
        load_pickle(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name", ["roxford5k", "rparis6k"])
def test_the_real_ground_truth_loads_with_its_pinned_checksum(name):
    fixture = FIXTURES / f"gnd_{name}.pkl"
    if not fixture.is_file():
        pytest.skip(f"{fixture} absent")
    pinned = ds.get(name).file_for(f"datasets/{name}/gnd_{name}.pkl")
    data = load_pickle(fixture, sha256=pinned.sha256)
    assert len(data["qimlist"]) == 70 and {"easy", "hard", "junk", "bbx"} <= set(data["gnd"][0])


def test_crafted_sfm120k_database_runs_nothing(tmp_path):
    from rrlib.learn.sfm import sfm120k_training

    marker = tmp_path / "ran"
    (tmp_path / "ims").mkdir()
    db = tmp_path / "retrieval-SfM-120k.pkl"
    db.write_bytes(pickle.dumps({"train": {"cids": _Shell(marker), "cluster": [], "qidxs": [], "pidxs": []}}))
    with pytest.raises(ValueError, match="refusing") as info:
        sfm120k_training(tmp_path)
    assert str(db) in str(info.value) and not marker.exists()
    db.write_bytes(pickle.dumps({"train": {"cids": ["abcdefgh"], "cluster": [0], "qidxs": [0], "pidxs": [0]}}))
    paths, clusters, (q, p) = sfm120k_training(tmp_path)
    assert paths == [tmp_path / "ims" / "gh" / "ef" / "cd" / "abcdefgh"] and list(clusters) == [0]
    db.write_bytes(pickle.dumps({"train": {"cids": "abc"}}))
    with pytest.raises(ValueError, match="retrieval-SfM database") as info:
        sfm120k_training(tmp_path)
    assert str(db) in str(info.value)
