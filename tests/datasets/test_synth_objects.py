"""synth-objects: determinism, boxes, one-off distractors, cache, revisitop format; the INSTRE loader."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

import rrlib.datasets as ds
from rrlib.datasets import synth_objects as so
from rrlib.datasets.synth_objects import NAME, ObjectsConfig, generate
from rrlib.evaluate import compute_map, evaluate_revisited, item_labels

SMALL = ObjectsConfig.small()
SIZE = 192


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("objects")
    generate(out, seed=3, image_size=SIZE, config=SMALL, progress=False)
    return out


@pytest.fixture(scope="module")
def folder(root) -> Path:
    return root / "datasets" / NAME


@pytest.fixture(scope="module")
def meta(folder) -> dict:
    with open(folder / f"meta_{NAME}.pkl", "rb") as fh:
        return pickle.load(fh)


@pytest.fixture(scope="module")
def data(root):
    return ds.load(NAME, root=root)  # present: loaded, not regenerated


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _area(box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


# ------------------------------------------------------------------ determinism and cache
def test_same_seed_same_files(folder, tmp_path):
    again = generate(tmp_path, seed=3, image_size=SIZE, config=SMALL, n_jobs=2, progress=False)  # workers too
    a, b = _tree_bytes(folder), _tree_bytes(again)
    assert a.keys() == b.keys() and len(a) > 30
    assert a[f"gnd_{NAME}.pkl"] == b[f"gnd_{NAME}.pkl"]
    first = sorted(k for k in a if k.startswith("jpg/"))[0]
    assert a[first] == b[first]
    assert [k for k in a if a[k] != b[k]] == []


def test_cache_reused_with_same_stamp_and_regenerated_on_another_seed(tmp_path):
    target = generate(tmp_path, seed=1, image_size=SIZE, config=SMALL, progress=False)
    sentinel = target / "sentinel"
    sentinel.write_text("kept while cached")
    assert generate(tmp_path, seed=1, image_size=SIZE, config=SMALL, progress=False) == target
    assert sentinel.exists()
    before = (target / f"gnd_{NAME}.pkl").read_bytes()
    generate(tmp_path, seed=2, image_size=SIZE, config=SMALL, progress=False)
    assert not sentinel.exists()
    assert so.writer._read_stamp(target) == so.stamp_of(2, SIZE, SMALL)
    assert (target / f"gnd_{NAME}.pkl").read_bytes() != before
    assert [p.name for p in target.parent.iterdir()] == [NAME]  # no temporary folder left


# ------------------------------------------------------------------ boxes
def test_every_object_picture_has_a_box_inside_it(folder, meta):
    for rec in meta["db"] + meta["queries"]:
        w, h = rec["size"]
        assert Image.open(folder / "jpg" / f"{rec['name']}.jpg").size == (w, h)
        if rec["instance"] < 0:  # a clutter picture: no object of the dataset
            assert rec["bbx"] is None and rec["name"].startswith("clutter_")
            continue
        x1, y1, x2, y2 = rec["bbx"]
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, rec["name"]
    n_instance = sum(r["instance"] >= 0 for r in meta["db"])
    assert n_instance == SMALL.instances * SMALL.db_per_instance
    assert len(meta["db"]) == n_instance + SMALL.distractor_images


def test_box_is_the_projected_object(meta):
    # the box is the silhouette's bounding box: inside the bounding box of the projected texture
    # corners (clipped to the frame) and not much smaller than it for a fronto-parallel object
    for rec in meta["db"] + meta["queries"]:
        if rec["instance"] < 0:
            continue
        tex = so.instance_texture(3, rec["instance"], SMALL.texture_size)
        xy = so.project_corners(rec["H"], tex.size)
        w, h = rec["size"]
        lo, hi = np.clip(xy.min(0), 0, [w, h]), np.clip(xy.max(0), 0, [w, h])
        x1, y1, x2, y2 = rec["bbx"]
        assert lo[0] - 1 <= x1 and lo[1] - 1 <= y1 and x2 <= hi[0] + 1 and y2 <= hi[1] + 1
        assert _area(rec["bbx"]) >= 0.3 * (hi - lo).prod()


def test_mean_box_covers_at_most_a_third(meta):
    db = [_area(r["bbx"]) / np.prod(r["size"]) for r in meta["db"] if r["bbx"] is not None]
    queries = [_area(r["bbx"]) / np.prod(r["size"]) for r in meta["queries"]]
    assert 0.03 < np.mean(db) <= 1 / 3
    assert 0.03 < np.mean(queries) <= 1 / 3
    assert np.mean([r["size_frac"] for r in meta["queries"]]) > np.mean(
        [r["size_frac"] for r in meta["db"] if r["instance"] >= 0]) - 0.1  # queries show the object well


def test_dataset_object_exposes_the_boxes(data, meta):
    boxes = ds.object_boxes(data)
    assert len(boxes) == data.n_images
    for b, rec, inst in zip(boxes, meta["db"], data.extra["db_instance"]):
        assert rec["instance"] == inst
        assert b.shape == ((1, 4) if inst >= 0 else (0, 4))
        if inst >= 0:
            np.testing.assert_array_equal(b[0], rec["bbx"])
    assert data.bbxs.shape == (data.n_queries, 4)
    np.testing.assert_array_equal(data.bbxs, [r["bbx"] for r in meta["queries"]])
    crop = data.read_query(0)
    x1, y1, x2, y2 = data.bbxs[0]
    assert abs(crop.size[0] - (x2 - x1)) <= 1 and abs(crop.size[1] - (y2 - y1)) <= 1


def test_object_boxes_needs_db_boxes(data):
    bare = ds.RetrievalDataset("toy", data.root, data.folder, data.image_dir, data.imlist, data.qimlist, data.gnd)
    with pytest.raises(ValueError, match="no database boxes"):
        ds.object_boxes(bare)


# ------------------------------------------------------------------ one-off distractors
def test_distractors_are_never_repeated(meta, folder):
    with open(folder / f"train_{NAME}.pkl", "rb") as fh:
        train = pickle.load(fh)["records"]
    records = meta["db"] + meta["queries"] + train
    ids = [d for r in records for d in r["distractors"]]
    assert len(ids) == len(set(ids))
    for r in records:
        assert set(r["in_front"]) <= set(r["distractors"])
        assert len(r["distractor_bbx"]) == len(r["distractors"])
        if r["mode"] in ("db", "anchor"):
            assert len(r["distractors"]) - len(r["in_front"]) >= SMALL.min_distractors
    # an id names one object: two ids, two different drawings; one instance, one drawing
    a, b = so.build._distractor(3, ids[0], 100, 128), so.build._distractor(3, ids[1], 100, 128)
    assert a.size != b.size or np.asarray(a).tobytes() != np.asarray(b).tobytes()
    t0 = so.instance_texture(3, 0, SMALL.texture_size)
    assert np.asarray(t0).tobytes() == np.asarray(so.build.paint_object(
        so.build._rng(3, 1, 0), SMALL.texture_size, so.KINDS[0])).tobytes()


# ------------------------------------------------------------------ revisitop ground truth
def test_gnd_is_revisitop_and_evaluates(data, meta):
    n_db = data.n_images
    assert data.revisited and not set(data.qimlist) & set(data.imlist)
    inst = np.asarray(data.extra["db_instance"])
    labels = item_labels(data.gnd, n_db)
    for q, rec in enumerate(meta["queries"]):
        g = data.gnd[q]
        assert all(type(i) is int for k in ("easy", "hard", "junk") for i in g[k])
        listed = np.isin(labels[q], ("easy", "hard", "junk"))
        np.testing.assert_array_equal(listed, inst == rec["instance"])  # every picture of the instance
        assert len(g["easy"]) + len(g["hard"]) >= 1  # the anchor picture: Medium always has a positive
    oracle = (inst[:, None] == np.array([r["instance"] for r in meta["queries"]])[None, :]).astype(float)
    result = evaluate_revisited(oracle, data.gnd)
    assert result.map["medium"] == pytest.approx(100.0)
    rng = np.random.default_rng(0)
    chance = evaluate_revisited(rng.random((n_db, data.n_queries)), data.gnd)
    assert chance.map["medium"] < 80.0


def test_labels_follow_the_view_parameters():
    assert so.label(1.0, 0.4, 1.0, 5.0, 3.0) == "easy"
    assert so.label(1.0, 0.4, 1.0, 40.0, 3.0) == "hard"           # tilted
    assert so.label(1.0, 0.4, 1.0, 5.0, 90.0) == "hard"           # rotated
    assert so.label(1.0, 0.4, 1.0, 5.0, 355.0) == "easy"          # -5 degrees
    assert so.label(1.0, 0.4, 2.5, 5.0, 0.0) == "hard"            # scale change
    assert so.label(0.6, 0.4, 1.0, 5.0, 0.0) == "hard"            # occluded
    assert so.label(0.2, 0.4, 1.0, 5.0, 0.0) == "junk"            # mostly hidden
    assert so.label(1.0, 0.05, 1.0, 5.0, 0.0) == "junk"           # tiny


def test_training_split_is_disjoint(data):
    paths, cluster = ds.training_split(data)
    assert len(paths) == SMALL.train_instances * SMALL.train_per_instance and all(p.is_file() for p in paths)
    assert set(cluster.tolist()).isdisjoint(set(data.extra["db_instance"]))


def test_registered_and_listed(root, capsys):
    from rrlib.__main__ import main

    spec = ds.get(NAME)
    assert spec.generated and spec.kind == "retrieval"
    assert main(["datasets", "--root", str(root)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(NAME))
    assert "yes" in line and "generated" in line


def test_load_writes_again_a_copy_of_another_generator_version(tmp_path, monkeypatch, capsys):
    import dataclasses
    import json

    from rrlib.datasets import registry

    generate(tmp_path, seed=3, image_size=SIZE, config=SMALL, progress=False)
    calls = []

    def prepare(root, force):                                        # the small config, not the default one
        calls.append(force)
        return generate(root, seed=3, image_size=SIZE, config=SMALL, force=force, progress=False)

    spec = ds.get(NAME)
    monkeypatch.setitem(registry._REGISTRY, NAME, dataclasses.replace(spec, prepare=prepare))
    ds.load(NAME, root=tmp_path)
    assert calls == []                                               # current: loaded as it is
    stamp_file = tmp_path / "datasets" / NAME / "stamp.json"
    old = json.loads(stamp_file.read_text())
    stamp_file.write_text(json.dumps(dict(old, version=old["version"] - 1)))
    data = ds.load(NAME, root=tmp_path)
    assert calls == [True] and "generating it again" in capsys.readouterr().out
    assert json.loads(stamp_file.read_text())["version"] == old["version"] and data.n_images == 20


def test_bad_parameters_are_named(tmp_path):
    with pytest.raises(ValueError, match="min_distractors"):
        generate(tmp_path, config=ObjectsConfig(min_distractors=6, max_distractors=3), progress=False)
    with pytest.raises(ValueError, match="occlusion_rate"):
        generate(tmp_path, config=ObjectsConfig(occlusion_rate=1.5), progress=False)
    with pytest.raises(ValueError, match="image_size"):
        generate(tmp_path, image_size=32, config=SMALL, progress=False)
    with pytest.raises(ValueError, match="tilt"):
        so.placement_homography((10, 10), so.Placement((0, 0), 10, tilt=85))
    with pytest.raises(ValueError, match="kind"):
        so.paint_object(np.random.default_rng(0), 64, "teapot")


def test_placement_homography():
    # fronto-parallel: the texture's long side becomes `size` pixels, centred on `centre`
    H = so.placement_homography((200, 100), so.Placement((50.0, 40.0), 20.0))
    np.testing.assert_allclose(so.project_corners(H, (200, 100)), [[40, 35], [60, 35], [60, 45], [40, 45]], atol=1e-9)
    H = so.placement_homography((200, 100), so.Placement((0.0, 0.0), 20.0, rotation=90.0))
    np.testing.assert_allclose(so.project_corners(H, (200, 100)), [[5, -10], [5, 10], [-5, 10], [-5, -10]], atol=1e-9)
    # a tilt about the vertical axis shortens the width, keeps the centre
    H = so.placement_homography((100, 100), so.Placement((0.0, 0.0), 10.0, tilt=60.0, tilt_axis=90.0))
    xy = so.project_corners(H, (100, 100))
    assert np.ptp(xy[:, 0]) < 0.7 * 10 and np.ptp(xy[:, 1]) > 9
    centre = H @ [50, 50, 1]
    np.testing.assert_allclose(centre[:2] / centre[2], [0, 0], atol=1e-9)


# ------------------------------------------------------------------ INSTRE loader
def _cell(strings: list[str]) -> np.ndarray:
    out = np.empty((1, len(strings)), dtype=object)
    for k, s in enumerate(strings):
        out[0, k] = s
    return out


def _instre_root(tmp_path: Path, bbx_q0=(10.0, 20.0, 50.0, 60.0)) -> Path:
    """A hand-made INSTRE in the layout of Iscen et al.'s gnd_instre.mat (1-based ``ok``, a
    ``bbx`` per query) with INSTRE's ``x y w h`` .txt boxes beside the images."""
    folder = tmp_path / "datasets" / "instre"
    imlist = ["INSTRE-S1/01a_book/001.jpg", "INSTRE-S1/01a_book/002.jpg", "INSTRE-S2/02_toy/001.jpg",
              "INSTRE-M/01_pair/001.jpg"]
    qimlist = ["INSTRE-S1/01a_book/010.jpg", "INSTRE-S2/02_toy/010.jpg"]
    gnd = np.empty((1, 2), dtype=[("ok", object), ("bbx", object)])
    gnd[0, 0] = (np.array([[1.0, 2.0, 4.0]]), np.array([list(bbx_q0)]))
    gnd[0, 1] = (np.array([[3.0]]), np.array([[5.0, 5.0, 30.0, 40.0]]))
    folder.mkdir(parents=True)
    savemat(folder / "gnd_instre.mat", {"imlist": _cell(imlist), "qimlist": _cell(qimlist), "gnd": gnd})
    (folder / ".instre.tar.gz.done").touch()  # the archive's extraction marker: images "present"
    for name, lines in ((imlist[0], "1 2 30 40\n"), (imlist[2], "5 6 7 8"), (imlist[3], "0 0 10 10\n20 20 5 5\n")):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).with_suffix(".txt").write_text(lines)
    return tmp_path


def test_instre_loader_on_a_hand_made_mat(tmp_path):
    data = ds.load_instre(_instre_root(tmp_path))
    assert data.name == "instre" and data.n_images == 4 and data.n_queries == 2 and not data.revisited
    assert data.images[0] == tmp_path / "datasets" / "instre" / "INSTRE-S1" / "01a_book" / "001.jpg"
    np.testing.assert_array_equal(data.gnd[0]["ok"], [0, 1, 3])  # MATLAB's 1-based indices, minus one
    np.testing.assert_array_equal(data.gnd[1]["ok"], [2])
    assert data.gnd[0]["junk"].size == 0
    np.testing.assert_array_equal(data.bbxs, [[10, 20, 50, 60], [5, 5, 30, 40]])
    boxes = ds.object_boxes(data)
    assert [b.shape[0] for b in boxes] == [1, 0, 1, 2] and data.extra["db_bbx_missing"] == 1
    np.testing.assert_array_equal(boxes[0], [[1, 2, 31, 42]])  # x y w h -> x1 y1 x2 y2
    np.testing.assert_array_equal(boxes[3], [[0, 0, 10, 10], [20, 20, 25, 25]])  # INSTRE-M: two objects
    ranks = np.array([[0, 0], [1, 2], [3, 1], [2, 3]])  # (n_db, n_queries): positives first / second
    mean_ap, *_ = compute_map(ranks, data.gnd)
    assert mean_ap == pytest.approx((1.0 + 0.25) / 2)  # trapezoid AP of one positive at rank 2: (0 + 1/2) / 2


def test_instre_box_format_and_errors(tmp_path):
    root = _instre_root(tmp_path, bbx_q0=(10.0, 20.0, 30.0, 5.0))  # as x y w h: x2 < x1 read as corners
    with pytest.raises(ValueError, match="box_format"):
        ds.load_instre(root)
    data = ds.load_instre(root, box_format="xywh", db_boxes=False)
    np.testing.assert_array_equal(data.bbxs[0], [10, 20, 40, 25])
    assert "db_bbx" not in data.extra
    with pytest.raises(ValueError, match="box_format must be"):
        ds.load_instre(root, box_format="yxyx")
    with pytest.raises(ds.DatasetNotFoundError, match="download instre"):
        ds.load_instre(tmp_path / "empty")  # never the network without download=True


def test_instre_ground_truth_rejects_bad_indices():
    gnd = np.empty((1, 1), dtype=[("ok", object), ("bbx", object)])
    gnd[0, 0] = (np.array([[0.0, 1.0]]), np.array([[0.0, 0.0, 5.0, 5.0]]))  # 0 is not a MATLAB index
    mat = {"imlist": _cell(["a.jpg"]), "qimlist": _cell(["q.jpg"]), "gnd": gnd}
    with pytest.raises(ValueError, match="1-based"):
        so.instre_ground_truth(mat)
    with pytest.raises(ValueError, match="lacks 'gnd'"):
        so.instre_ground_truth({"imlist": mat["imlist"], "qimlist": mat["qimlist"]})
