"""rrlib.nets.extract: arguments that used to give a wrong descriptor or an obscure error, and the
descriptor cache of describe_dataset (keyed by everything that determines the descriptors)."""
from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import rrlib.nets.extract as E
from rrlib.datasets.retrieval import RetrievalDataset
from rrlib.nets import GeM, backbone, describe_dataset, extract_features, extract_global, gem, mac
from rrlib.nets import weights as W


@pytest.fixture(scope="module")
def net():
    if W.packaged_mobilenet_v2_file() is None and not (W.checkpoint_dir() / W.MOBILENET_V2_FILE).is_file():
        pytest.skip("MobileNetV2 weights absent")
    return backbone("mobilenet_v2")


def _pictures(seed: int, n: int = 2, size=(64, 96)):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)) for _ in range(n)]


# ------------------------------------------------------------------ arguments
@pytest.mark.parametrize("kwargs, match", [
    (dict(max_size=0), "max_size"), (dict(max_size=-5), "max_size"), (dict(max_size=2.5), "max_size"),
    (dict(scale_power=0), "scale_power"), (dict(scale_power=-1.0), "scale_power"),
    (dict(scale_power=float("nan")), "scale_power"),
    (dict(scales=(float("nan"),)), "scales"), (dict(scales=(1.0, float("inf"))), "scales"), (dict(scales=()), "scales"),
    (dict(batch_size=0), "batch_size"),
])
def test_extract_features_rejects_bad_arguments(kwargs, match):
    """max_size=0 used to describe a 1x1 image; scale_power=0 and scales=(nan,) failed deep in the
    loop (float division by zero, cannot convert NaN to integer)."""
    model = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=match):
        extract_features(model, _pictures(0, 1), {"mac": mac}, **kwargs)


def test_model_without_out_channels_works():
    """The descriptor size comes from the pooled maps: a plain module (no ``out_channels``) used to
    fail in a numpy broadcast."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4), nn.ReLU())
    ims = _pictures(0, 3)
    out = extract_features(model, ims, {"mac": mac}, max_size=None)["mac"]
    assert out.shape == (3, 8)
    with torch.no_grad():
        direct = torch.cat([mac(model(E.to_tensor(im)[None])) for im in ims])
    np.testing.assert_allclose(out, (direct / direct.norm(dim=1, keepdim=True)).numpy(), atol=1e-6)
    assert extract_features(model, [], {"mac": mac})["mac"].shape[0] == 0


def test_a_pooling_of_the_wrong_shape_is_named():
    with pytest.raises(ValueError, match="'flat'.*\\(N, C\\)"):
        extract_features(nn.Conv2d(3, 4, 3), _pictures(0, 1), {"flat": lambda x: x.flatten()})


# ------------------------------------------------------------------ describe_dataset's cache
def _toy(root, seed=0) -> RetrievalDataset:
    folder = root / "datasets" / "toy"
    (folder / "jpg").mkdir(parents=True, exist_ok=True)
    for n, im in zip(("a", "b", "q"), _pictures(seed, 3)):
        im.save(folder / "jpg" / f"{n}.png")
    gnd = [{"bbx": [10.0, 5.0, 70.0, 50.0], "easy": [0], "hard": [], "junk": []}]
    return RetrievalDataset("toy", root, folder, folder / "jpg", ["a.png", "b.png"], ["q.png"], gnd, {})


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.setenv("RRLIB_DATA", str(tmp_path))
    return _toy(tmp_path)


def _cache_files(root):
    return sorted((root / "features" / "cache").glob("*.npz"))


def test_describe_dataset_caches_in_the_data_root(net, toy, monkeypatch):
    first = describe_dataset(toy, net, {"mac": mac}, max_size=None)
    assert first["db"]["mac"].shape == (2, 1280) and first["queries"]["mac"].shape == (1, 1280)
    # the query was cropped to its 60 x 45 box
    crop = toy.read_query(0)
    np.testing.assert_allclose(first["queries"]["mac"], extract_global(net, [crop], pool=mac, max_size=None), atol=1e-6)
    assert len(_cache_files(toy.root)) == 1
    monkeypatch.setattr(E, "extract_features", lambda *a, **k: pytest.fail("recomputed"))
    again = describe_dataset(toy, net, {"mac": mac}, max_size=None)
    np.testing.assert_array_equal(again["db"]["mac"], first["db"]["mac"])


def test_other_weights_under_the_same_name_are_recomputed(net, toy):
    first = describe_dataset(toy, net, {"mac": mac}, max_size=None)["db"]["mac"]
    other = copy.deepcopy(net)
    with torch.no_grad():
        other[0][0].weight.mul_(-1.0)  # the first convolution, same name "mobilenet_v2"
    assert other.name == net.name
    second = describe_dataset(toy, other, {"mac": mac}, max_size=None)["db"]["mac"]
    np.testing.assert_allclose(second, extract_global(other, toy.images, pool=mac, max_size=None), atol=1e-6)
    assert np.abs(second - first).max() > 1e-3


@pytest.mark.parametrize("make", [lambda p: GeM(p=p), lambda p: functools.partial(gem, p=p),
                                  lambda p: (lambda x: gem(x, p=p))], ids=["module", "partial", "closure"])
def test_gem_p8_after_p3_is_recomputed(net, toy, make):
    three = describe_dataset(toy, net, {"gem": make(3.0)}, max_size=None)["db"]["gem"]
    eight = describe_dataset(toy, net, {"gem": make(8.0)}, max_size=None)["db"]["gem"]
    np.testing.assert_allclose(eight, extract_global(net, toy.images, pool=make(8.0), max_size=None), atol=1e-6)
    assert np.abs(eight - three).max() > 1e-3


def test_images_with_the_default_tag_are_not_the_dataset(net, toy):
    describe_dataset(toy, net, {"mac": mac}, max_size=None)
    part = describe_dataset(toy, net, {"mac": mac}, max_size=None, images=toy.images[1:])
    assert list(part) == ["db"] and part["db"]["mac"].shape == (1, 1280)
    np.testing.assert_allclose(part["db"]["mac"], extract_global(net, toy.images[1:], pool=mac, max_size=None),
                               atol=1e-6)


def test_regenerated_pictures_with_the_same_labels_are_recomputed(net, toy):
    first = describe_dataset(toy, net, {"mac": mac}, max_size=None)
    _toy(toy.root, seed=1)  # same names, same ground truth, other pictures
    second = describe_dataset(toy, net, {"mac": mac}, max_size=None)
    np.testing.assert_allclose(second["db"]["mac"], extract_global(net, toy.images, pool=mac, max_size=None),
                               atol=1e-6)
    assert np.abs(second["db"]["mac"] - first["db"]["mac"]).max() > 1e-3
    assert np.abs(second["queries"]["mac"] - first["queries"]["mac"]).max() > 1e-3


def test_a_corrupt_cache_file_is_reported_recomputed_and_overwritten(net, toy):
    first = describe_dataset(toy, net, {"mac": mac}, max_size=None)
    (path,) = _cache_files(toy.root)
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.warns(UserWarning, match=str(path.name)):
        again = describe_dataset(toy, net, {"mac": mac}, max_size=None)
    np.testing.assert_array_equal(again["db"]["mac"], first["db"]["mac"])
    with np.load(path) as z:  # overwritten with a whole file
        np.testing.assert_array_equal(z["db/mac"], first["db"]["mac"])


@pytest.mark.parametrize("tag", ["../../..", "a/b", "/tmp/x", "..", ""])
def test_tags_cannot_leave_the_data_root(toy, tag):
    with pytest.raises(ValueError, match="tag"):
        describe_dataset(toy, nn.Conv2d(3, 4, 3), {"mac": mac}, tag=tag)
    assert not (toy.root / "features").exists()


def test_prepare_image_shrinks_never_enlarges_then_scales(tmp_path):
    im = Image.new("RGB", (200, 100), (10, 20, 30))
    assert E.prepare_image(im).size == (200, 100)
    assert E.prepare_image(im, max_size=50).size == (50, 25)           # long side 200 -> 50
    assert E.prepare_image(im, max_size=400).size == (200, 100)        # never enlarged
    assert E.prepare_image(im, max_size=100, scale=0.5).size == (50, 25)
    im.convert("L").save(tmp_path / "grey.png")                           # a path; grey becomes RGB
    assert E.prepare_image(tmp_path / "grey.png").mode == "RGB"
    with pytest.raises(ValueError, match="max_size"):
        E.prepare_image(im, max_size=0)


# ------------------------------------------------------------------ sharded extraction
def _toy_many(root, n_db=7, n_q=3) -> RetrievalDataset:
    """A toy dataset of pictures of two sizes (batches of several sizes), queries with boxes."""
    folder = root / "datasets" / "toy"
    (folder / "jpg").mkdir(parents=True, exist_ok=True)
    names = [f"d{i}.png" for i in range(n_db)] + [f"q{i}.png" for i in range(n_q)]
    for i, name in enumerate(names):
        _pictures(100 + i, 1, size=(64, 96) if i % 3 else (80, 72))[0].save(folder / "jpg" / name)
    gnd = [{"bbx": [4.0 + i, 5.0, 60.0, 50.0], "easy": [0], "hard": [], "junk": []} for i in range(n_q)]
    return RetrievalDataset("toy", root, folder, folder / "jpg", names[:n_db], names[n_db:], gnd, {})


@pytest.fixture
def many(tmp_path, monkeypatch):
    monkeypatch.setenv("RRLIB_DATA", str(tmp_path))
    return _toy_many(tmp_path)


def _small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2), nn.ReLU())


SHARD_POOLS = {"mac": mac, "gem": gem}


@pytest.mark.parametrize("model", ["small", "mobilenet_v2"])
def test_merged_shards_are_bit_identical_to_an_unsharded_run(many, model, request, monkeypatch):
    """3 shards of 7 database images and 3 queries in blocks of 2 (db: 4 blocks, shards of 2, 2 and 3
    images; queries: 2 blocks, one shard without a query), in 2 threads: a descriptor depends on its batch
    mates in the last bits (a batch of one runs another kernel; threads split a batch by its composition),
    so the shards must batch as the unsharded run does."""
    model = _small_net() if model == "small" else request.getfixturevalue("net")
    run = dict(max_size=None, threads=2, block=2, progress=False)
    whole = describe_dataset(many, model, SHARD_POOLS, cache=False, **run)
    assert [E.shard_range(k, 3, 7, 2) for k in range(3)] == [(0, 2), (2, 4), (4, 7)]
    assert [E.shard_range(k, 3, 3, 2) for k in range(3)] == [(0, 0), (0, 2), (2, 3)]
    for k in range(3):
        part = describe_dataset(many, model, SHARD_POOLS, shard=(k, 3), **run)
        lo, hi = E.shard_range(k, 3, 7, 2)
        np.testing.assert_array_equal(part["db"]["gem"], whole["db"]["gem"][lo:hi])
    names = sorted(p.name for p in _cache_files(many.root))
    assert len(names) == 3 and all(f"_shard{k}of3_" in n for k, n in zip(range(3), names))
    merged = E.merge_shards(many, model, SHARD_POOLS, 3, max_size=None, block=2)
    for part in ("db", "queries"):
        for name in SHARD_POOLS:
            assert merged[part][name].dtype == np.float32
            np.testing.assert_array_equal(merged[part][name], whole[part][name])
    # the merge is stored where an unsharded describe_dataset looks: nothing is recomputed
    monkeypatch.setattr(E, "extract_features", lambda *a, **k: pytest.fail("recomputed"))
    again = describe_dataset(many, model, SHARD_POOLS, max_size=None)
    np.testing.assert_array_equal(again["queries"]["mac"], whole["queries"]["mac"])
    # the shards were not recomputed either
    np.testing.assert_array_equal(E.merge_shards(many, model, SHARD_POOLS, 3, max_size=None, block=2)["db"]["mac"],
                                  whole["db"]["mac"])


def test_shards_of_an_image_list_merge_to_its_descriptors(many):
    model = _small_net()
    images = many.images[::-1] + many.queries
    run = dict(max_size=None, images=images, tag="train", block=3)
    whole = describe_dataset(many, model, {"mac": mac}, cache=False, progress=False, **run)
    for k in range(3):
        describe_dataset(many, model, {"mac": mac}, shard=f"{k}/3", progress=False, **run)
    merged = E.merge_shards(many, model, {"mac": mac}, 3, **run)
    assert list(merged) == ["db"]
    np.testing.assert_array_equal(merged["db"]["mac"], whole["db"]["mac"])


def test_shard_ranges_are_whole_blocks_covering_every_image_once():
    for total in (0, 1, 7, 70, 1_001_001):
        for n in (1, 3, 8, 100, 2000):
            for block in (1, 2, 1024):
                shards = [E.shard_range(k, n, total, block) for k in range(n)]
                assert shards[0][0] == 0 and shards[-1][1] == total
                assert all(a[1] == b[0] for a, b in zip(shards, shards[1:]))
                assert all(lo % block == 0 and (hi % block == 0 or hi == total) for lo, hi in shards)
                sizes = [-(-(hi - lo) // block) for lo, hi in shards]      # blocks per shard
                assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("spec, match", [
    ("5/4", r"shard 5/4: k must lie in \[0, n - 1\] = \[0, 3\].*--array=0-3"),
    ((4, 4), r"k must lie in \[0, n - 1\] = \[0, 3\]"),
    ("0/0", "shard 0/0: the number of shards n must be at least 1"),
    ("-1/4", "not k/n"), ("3", "not k/n"), ("a/b", "not k/n"), ("1/2/3", "not k/n"), ((True, 2), "not k/n"),
])
def test_bad_shard_specs_are_explained(many, spec, match):
    with pytest.raises(ValueError, match=match):
        describe_dataset(many, nn.Conv2d(3, 4, 3), {"mac": mac}, shard=spec)
    assert not (many.root / "features").exists()


def test_a_missing_shard_is_named_on_merge(many):
    model = _small_net()
    for k in (0, 2, 3):
        describe_dataset(many, model, {"mac": mac}, max_size=None, block=2, shard=(k, 4), progress=False)
    missing = r"1 of 4 shards of toy \(test\) are missing.*: 1/4 \(toy_test_shard1of4_"
    with pytest.raises(FileNotFoundError, match=missing):
        E.merge_shards(many, model, {"mac": mac}, 4, max_size=None, block=2)
    # an unreadable shard file is missing too (with a warning naming it), a merge writes nothing meanwhile
    (bad,) = [p for p in _cache_files(many.root) if "_shard3of4_" in p.name]
    bad.write_bytes(b"not a zip")
    with pytest.warns(UserWarning, match=bad.name), pytest.raises(FileNotFoundError, match=r"2 of 4 .*1/4 .*; 3/4"):
        E.merge_shards(many, model, {"mac": mac}, 4, max_size=None, block=2)
    assert len(_cache_files(many.root)) == 3


def test_command_line_shards_and_merge(many, monkeypatch, capsys):
    """python -m rrlib.nets --dataset NAME --shard k/n, then --merge n (dataset and network stubbed)."""
    import rrlib.nets.__main__ as cli
    model = _small_net()
    monkeypatch.setattr(cli, "load", lambda name: many)
    monkeypatch.setattr(cli, "backbone", lambda name: model)
    common = ["--dataset", "toy", "--pools", "MAC", "GeM", "--max-size", "1024", "--block", "3"]
    assert cli.main(common + ["--shard", "0/2"]) == cli.EXIT_OK
    assert cli.main(common + ["--merge", "2"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert "1 of 2 shards of toy (test) are missing" in err and ": 1/2 (toy_test_shard1of2_" in err
    assert cli.main(common + ["--shard", "1/2"]) == cli.EXIT_OK
    assert cli.main(common + ["--merge", "2"]) == cli.EXIT_OK
    assert "toy: 2 shards merged: db (7, 16), queries (3, 16)" in capsys.readouterr().out
    whole = describe_dataset(many, model, {"MAC": cli.POOLINGS["MAC"], "GeM": cli.POOLINGS["GeM"]}, threads=1,
                             block=3, cache=False, progress=False)
    merged = describe_dataset(many, model, {"MAC": cli.POOLINGS["MAC"], "GeM": cli.POOLINGS["GeM"]})
    np.testing.assert_array_equal(merged["db"]["GeM"], whole["db"]["GeM"])
    for bad in (["--shard", "5/4"], ["--shard", "0/0"], ["--merge", "0"], ["--shard", "1/2", "--merge", "2"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(common + bad)
        assert exc.value.code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "shard 5/4: k must lie in [0, n - 1] = [0, 3]" in err and "shard 0/0: the number of shards n" in err
