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
