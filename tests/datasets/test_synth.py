"""synth-landmarks: determinism, revisitop format, splits, geometry truth, cache, calibration."""
from __future__ import annotations

import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rrlib.datasets import synth
from rrlib.datasets.synth import NAME, SynthConfig, generate, label

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT.parent / "shared" / "fixtures" / "revisitop" / "gnd_roxford5k.pkl"
SMALL = SynthConfig.small()
SIZE = 160


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("synth"), seed=3, image_size=SIZE, config=SMALL)


def _load(folder: Path, prefix: str) -> dict:
    with open(folder / f"{prefix}_{NAME}.pkl", "rb") as fh:
        return pickle.load(fh)


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ determinism and cache
def test_same_seed_same_bytes(small, tmp_path):
    again = generate(tmp_path, seed=3, image_size=SIZE, config=SMALL, n_jobs=2)  # worker processes too
    a, b = _tree_bytes(small), _tree_bytes(again)
    assert a.keys() == b.keys() and len(a) > 50
    assert [k for k in a if a[k] != b[k]] == []


def test_other_seed_other_pictures(small, tmp_path):
    other = generate(tmp_path, seed=4, image_size=SIZE, config=SMALL)
    a, b = _tree_bytes(small), _tree_bytes(other)
    assert a[f"gnd_{NAME}.pkl"] != b[f"gnd_{NAME}.pkl"]


def test_cache_force_and_stamp(tmp_path):
    folder = generate(tmp_path, seed=1, image_size=SIZE, config=SMALL)
    sentinel = folder / "sentinel"
    sentinel.write_text("kept while cached")
    assert generate(tmp_path, seed=1, image_size=SIZE, config=SMALL) == folder and sentinel.exists()
    generate(tmp_path, seed=1, image_size=SIZE, config=SMALL, force=True)
    assert not sentinel.exists()
    sentinel.write_text("x")
    generate(tmp_path, seed=2, image_size=SIZE, config=SMALL)  # other parameters: regenerated
    assert not sentinel.exists() and synth.writer._read_stamp(folder)["seed"] == 2
    assert [p.name for p in folder.parent.iterdir()] == [NAME]  # no temporary folders left


def test_interrupted_generation_leaves_nothing_half_made(tmp_path, monkeypatch):
    folder = generate(tmp_path, seed=1, image_size=SIZE, config=SMALL)
    before = _tree_bytes(folder)

    def crash(out, *args):
        (out / "jpg").mkdir(parents=True)
        (out / "jpg" / "half.jpg").write_bytes(b"...")
        raise KeyboardInterrupt

    monkeypatch.setattr(synth.writer, "_write", crash)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path, seed=1, image_size=SIZE, config=SMALL, force=True)
    assert _tree_bytes(folder) == before
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "fresh", seed=1, image_size=SIZE, config=SMALL)
    assert not (tmp_path / "fresh" / "datasets" / NAME).exists()
    assert [p.name for p in folder.parent.iterdir()] == [NAME]


def test_temporary_folders_of_killed_runs_are_removed(tmp_path, monkeypatch):
    from rrlib.datasets.leftovers import owner_tag

    host = owner_tag().split("@", 1)[1]
    parent = tmp_path / "datasets"
    dead_tmp = parent / f".{NAME}.tmp-4999999@{host}"  # a run killed while rendering (no such pid)
    dead_old = parent / f".{NAME}.old-4999999@{host}"
    live_tmp = parent / f".{NAME}.tmp-{os.getppid()}@{host}"  # a concurrent run: left alone
    for d in (dead_tmp, dead_old, live_tmp):
        (d / "jpg").mkdir(parents=True)
        (d / "jpg" / "x.jpg").write_bytes(b"x" * 1000)

    def write(out, *args):  # no rendering: the cleanup is what is tested
        out.mkdir(parents=True)
        (out / f"gnd_{NAME}.pkl").write_bytes(b"")

    monkeypatch.setattr(synth.writer, "_write", write)
    generate(tmp_path, seed=1, image_size=SIZE, config=SMALL)
    assert sorted(p.name for p in parent.iterdir()) == sorted([NAME, live_tmp.name])


# ------------------------------------------------------------------ revisitop format
def _check_gnd_structure(cfg: dict) -> None:
    assert list(cfg) == ["gnd", "imlist", "qimlist"]
    assert all(type(n) is str for n in cfg["imlist"] + cfg["qimlist"])
    assert len(cfg["gnd"]) == len(cfg["qimlist"])
    n_db = len(cfg["imlist"])
    for g in cfg["gnd"]:
        assert sorted(g) == ["bbx", "easy", "hard", "junk"]
        # the real files store floats (a few boxes have ints); we always write floats
        assert type(g["bbx"]) is list and len(g["bbx"]) == 4 and all(type(v) in (int, float) for v in g["bbx"])
        assert g["bbx"][0] < g["bbx"][2] and g["bbx"][1] < g["bbx"][3]
        for key in ("easy", "hard", "junk"):
            assert type(g[key]) is list and all(type(i) is int and 0 <= i < n_db for i in g[key])
        assert not (set(g["easy"]) & set(g["hard"]) or set(g["easy"]) & set(g["junk"]) or set(g["hard"]) & set(g["junk"]))


def test_gnd_matches_revisitop_field_by_field(small):
    ours = _load(small, "gnd")
    _check_gnd_structure(ours)
    assert all(type(v) is float for g in ours["gnd"] for v in g["bbx"])
    if not FIXTURE.is_file():
        pytest.skip(f"{FIXTURE} absent: structure checked against the documented format only")
    with open(FIXTURE, "rb") as fh:
        real = pickle.load(fh)
    _check_gnd_structure(real)  # the same checks hold for the real file
    assert list(real) == list(ours)
    for key in ("bbx", "easy", "hard", "junk"):
        assert {type(g[key]) for g in real["gnd"]} == {type(g[key]) for g in ours["gnd"]} == {list}
        element_types = {type(v) for g in ours["gnd"] for v in g[key]}
        assert element_types and element_types <= {type(v) for g in real["gnd"] for v in g[key]}
    # 0-based in both: every index is < len(imlist) (checked above), and the real file reaches the last one
    assert max(max(g["easy"] + g["hard"] + g["junk"]) for g in real["gnd"]) == len(real["imlist"]) - 1


def test_queries_are_separate_pictures(small):
    cfg = _load(small, "gnd")
    assert not set(cfg["qimlist"]) & set(cfg["imlist"])
    assert len(set(cfg["imlist"])) == len(cfg["imlist"])
    for name in cfg["imlist"] + cfg["qimlist"]:
        assert (small / "jpg" / f"{name}.jpg").is_file()
    meta = _load(small, "meta")
    w, h = meta["queries"][0]["size"]
    with Image.open(small / "jpg" / f"{cfg['qimlist'][0]}.jpg") as im:
        assert im.size == (w, h) and max(im.size) == SIZE


def test_train_split_is_disjoint_from_test(small):
    cfg, meta, train = _load(small, "gnd"), _load(small, "meta"), _load(small, "train")
    test_ids = {r["landmark"] for r in meta["queries"]} | {r["landmark"] for r in meta["db"]}
    assert set(train["cluster"]).isdisjoint(test_ids)
    assert len(set(train["cluster"])) == SMALL.train_landmarks
    assert set(train["imlist"]).isdisjoint(cfg["imlist"] + cfg["qimlist"])
    train_names = {v["name"] for v in train["landmarks"].values()}
    assert train_names.isdisjoint(v["name"] for v in meta["landmarks"].values())
    assert len(train["imlist"]) == len(train["H"]) == len(train["visible"]) == SMALL.train_landmarks * SMALL.train_per_landmark
    assert all(np.asarray(H).shape == (3, 3) for hs in train["H"] for H in hs)


# ------------------------------------------------------------------ geometry truth
def _alpha(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.getchannel("A")) > 127


def _dense_in_frame(H, alpha: np.ndarray, size, step: int = 3) -> float:
    """In-frame fraction of the opaque texture, sampled on a dense pixel lattice (independent of the grid)."""
    th, tw = alpha.shape
    vv, uu = np.mgrid[step / 2:th:step, step / 2:tw:step]
    keep = alpha[vv.astype(int), uu.astype(int)]
    p = np.stack([uu[keep], vv[keep], np.ones(keep.sum())]) 
    q = np.asarray(H) @ p
    x, y = q[0] / q[2], q[1] / q[2]
    w, h = size
    return float(np.mean((q[2] > 0) & (x >= 0) & (x < w) & (y >= 0) & (y < h)))


def test_homographies_agree_with_stored_fractions(small):
    meta, train = _load(small, "meta"), _load(small, "train")
    landmarks = {**meta["landmarks"], **train["landmarks"]}
    checked = 0
    for rec in meta["db"] + meta["queries"] + train["records"]:
        if rec["landmark"] not in landmarks:
            continue  # distractor buildings and scenes
        lm = landmarks[rec["landmark"]]
        for k, H in enumerate(rec["H"]):
            alpha = _alpha(small / lm["texture_files"][k])
            assert alpha.shape[::-1] == tuple(lm["texture_size"][k])
            facing = rec["in_frame"][k] > 0 or _dense_in_frame(H, alpha, rec["size"]) == 0
            assert rec["visible"][k] <= rec["in_frame"][k] + 1e-9
            if facing:
                assert abs(_dense_in_frame(H, alpha, rec["size"]) - rec["in_frame"][k]) < 0.08, rec["name"]
            checked += 1
    assert checked > 50


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-9))


def test_homography_maps_the_texture_onto_the_picture(small):
    """Warping the stored canonical texture by the stored H reproduces the picture's pixels."""
    meta = _load(small, "meta")
    scores, shifted = [], []
    for rec in meta["db"] + meta["queries"]:
        lid = rec["landmark"]
        if lid not in meta["landmarks"] or rec["visible"][0] < 0.6 or rec["occluded"] > 0.02:
            continue
        with Image.open(small / meta["landmarks"][lid]["texture_files"][0]) as tex, \
                Image.open(small / "jpg" / f"{rec['name']}.jpg") as pic:
            grey = np.asarray(pic.convert("L"), float)
            for dx, out in ((0.0, scores), (6.0, shifted)):
                T = np.array([[1, 0, dx], [0, 1, 0], [0, 0, 1.0]])
                Hinv = np.linalg.inv(T @ rec["H"][0])
                warped = tex.transform(rec["size"], Image.PERSPECTIVE, tuple((Hinv / Hinv[2, 2]).ravel()[:8]),
                                       Image.BILINEAR)
                mask = np.asarray(warped.getchannel("A")) > 250
                out.append(_ncc(np.asarray(warped.convert("L"), float)[mask], grey[mask]))
    assert len(scores) >= 5
    assert np.median(scores) > 0.6
    assert np.median(scores) > np.median(shifted) + 0.1


def test_labels_follow_the_documented_thresholds():
    assert label(0.9, 10, 1.0, 0, 0, 0.5) == "easy"
    assert label(0.9, 40, 1.0, 0, 0, 0.5) == "hard"      # oblique
    assert label(0.9, 10, 0.5, 0, 0, 0.5) == "hard"      # scale change
    assert label(0.9, 10, 1.0, 20, 0, 0.5) == "hard"     # roll
    assert label(0.5, 10, 1.0, 0, 0, 0.5) == "hard"      # occluded / partial
    assert label(0.2, 10, 1.0, 0, 0, 0.5) == "junk"      # too little visible
    assert label(0.9, 70, 1.0, 0, 0, 0.5) == "junk"      # extreme viewpoint
    assert label(0.9, 10, 1.0, 0, 0, 0.1) == "junk"      # too small
    assert label(0.0, 10, 1.0, 0, 0.5, 0.5) == "junk"    # only another side of the landmark
    assert label(0.0, 10, 1.0, 0, 0.0, 0.5) is None      # landmark not in the picture


def test_gnd_labels_agree_with_meta(small):
    cfg, meta = _load(small, "gnd"), _load(small, "meta")
    for q, g in zip(meta["queries"], cfg["gnd"]):
        assert g["bbx"] == q["bbx"]
        for i in g["easy"]:
            rec = meta["db"][i]
            assert rec["landmark"] == q["landmark"]
            assert rec["viewpoint_deg"] <= synth.EASY_MAX_ANGLE and abs(rec["roll_deg"]) <= synth.EASY_MAX_ROLL
        for i in g["easy"] + g["hard"] + g["junk"]:
            assert meta["db"][i]["landmark"] == q["landmark"]


# ------------------------------------------------------------------ calibration guard
def test_default_dataset_difficulty_is_calibrated():
    """Off-the-shelf MobileNetV2 + GeM: Medium mAP within [40, 75], Hard clearly below Medium.

    Uses the default dataset in the data root (generated once there, then shared with the
    notebooks, which load the same cached files)."""
    from rrlib.nets import weights

    if weights.packaged_mobilenet_v2_file() is None and not (weights.checkpoint_dir() / weights.MOBILENET_V2_FILE).is_file():
        pytest.skip("MobileNetV2 ImageNet weights absent")
    spec = importlib.util.spec_from_file_location("calibrate_synth", ROOT / "benchmarks" / "calibrate_synth.py")
    calib = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calib)
    folder = generate()
    cfg = _load(folder, "gnd")
    assert len(cfg["qimlist"]) == 70 and 750 <= len(cfg["imlist"]) <= 850
    res = calib.baseline(folder.parents[1])
    m = res.map
    assert 40 <= m["medium"] <= 75, str(res)
    assert m["hard"] < m["medium"] - 5, str(res)
    assert m["easy"] > m["medium"], str(res)


def test_true_homography_maps_a_query_onto_its_positives(small):
    """The query picture warped by ``true_homography`` matches the database picture on the facade."""
    from types import SimpleNamespace

    meta, gnd = _load(small, "meta"), _load(small, "gnd")
    data = SimpleNamespace(name=NAME, folder=small)
    scores, shifted = [], []
    for q, g in enumerate(gnd["gnd"]):
        for j in g["easy"][:2]:
            rec = meta["db"][j]
            H = synth.true_homography(data, q, j)
            assert H.shape == (3, 3)
            lid = rec["landmark"]
            with Image.open(small / "jpg" / f"{meta['queries'][q]['name']}.jpg") as qpic, \
                    Image.open(small / "jpg" / f"{rec['name']}.jpg") as pic, \
                    Image.open(small / meta["landmarks"][lid]["texture_files"][0]) as tex:
                grey = np.asarray(pic.convert("L"), float)
                Hd = np.linalg.inv(rec["H"][0])
                facade = np.asarray(tex.transform(rec["size"], Image.PERSPECTIVE, tuple((Hd / Hd[2, 2]).ravel()[:8]),
                                                  Image.BILINEAR).getchannel("A")) > 250
                for dx, out in ((0.0, scores), (6.0, shifted)):
                    Hinv = np.linalg.inv(np.array([[1, 0, dx], [0, 1, 0], [0, 0, 1.0]]) @ H)
                    warped = qpic.convert("L").transform(rec["size"], Image.PERSPECTIVE,
                                                         tuple((Hinv / Hinv[2, 2]).ravel()[:8]), Image.BILINEAR)
                    inside = qpic.convert("L").point(lambda v: 255).transform(
                        rec["size"], Image.PERSPECTIVE, tuple((Hinv / Hinv[2, 2]).ravel()[:8]), Image.NEAREST)
                    mask = facade & (np.asarray(inside) > 0)
                    if mask.sum() > 200:
                        out.append(_ncc(np.asarray(warped, float)[mask], grey[mask]))
    assert len(scores) >= 4
    assert np.median(scores) > 0.5 and np.median(scores) > np.median(shifted) + 0.1
    other = next(j for j, r in enumerate(meta["db"]) if r["landmark"] != meta["queries"][0]["landmark"])
    with pytest.raises(ValueError, match="different landmarks"):
        synth.true_homography(data, 0, other)
    with pytest.raises(ValueError, match="generator records"):
        synth.true_homography(SimpleNamespace(name="roxford5k", folder=small), 0, 0)
