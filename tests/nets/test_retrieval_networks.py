"""cirtorch checkpoints: downloaded from a local HTTP server, built, checked against the source."""
import hashlib
import io
import os

import numpy as np
import pytest
import torch
import torch.hub
import torchvision

from rrlib.nets import RETRIEVAL_NETWORKS, retrieval_network
from rrlib.nets.weights import WeightsUnavailableError
from rrlib.vectors import normalize_rows


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    return tmp_path


def _checkpoint(whiten: bool):
    """A checkpoint in cirtorch's format for a ResNet-18 trunk (random weights: structure only)."""
    torch.manual_seed(0)
    trunk = torch.nn.Sequential(*list(torchvision.models.resnet18(weights=None).children())[:-2]).eval()
    sd = {f"features.{k}": v for k, v in trunk.state_dict().items()}
    sd["pool.p"] = torch.tensor([2.5])
    if whiten:
        g = torch.Generator().manual_seed(0)  # a general affine map: a transposed W or a lost bias shows
        sd["whiten.weight"] = torch.randn(512, 512, generator=g)
        sd["whiten.bias"] = torch.randn(512, generator=g)
    buf = io.BytesIO()
    torch.save({"state_dict": sd, "meta": {"architecture": "resnet18", "pooling": "gem", "outputdim": 512}}, buf)
    return trunk, buf.getvalue()


def data_whitening(data: bytes):
    """The whitening (W, b) stored in checkpoint bytes, as numpy arrays."""
    sd = torch.load(io.BytesIO(data), weights_only=True)["state_dict"]
    return sd["whiten.weight"].numpy(), sd["whiten.bias"].numpy()


def test_checkpoint_is_downloaded_built_and_equal_to_its_source(file_server, torch_home):
    trunk, data = _checkpoint(whiten=True)
    name = f"toy-resnet18-gem-w-{_prefix(data)}.pth"  # torch.hub's naming: sha256 prefix in the name
    url = file_server.add(f"/networks/{name}", data)
    net = retrieval_network("toy", url=url)
    assert (torch_home / "hub" / "checkpoints" / name).is_file()
    x = torch.randn(2, 3, 64, 96)
    with torch.inference_mode():
        torch.testing.assert_close(net.features(x), trunk(x), atol=1e-4, rtol=1e-4)  # channels-last rounding
    assert float(net.pool.p) == 2.5 and net.features.out_channels == 512
    v = np.random.default_rng(0).random((3, 512)).astype(np.float32)
    W, b = data_whitening(data)
    np.testing.assert_allclose(net.whiten(v), normalize_rows(v @ W.T + b), rtol=1e-4, atol=1e-6)
    # a second call reads the cached file without network
    file_server.files.clear()
    assert retrieval_network("toy", url=url).name == "toy"


def test_offline_and_unknown_names_fail_clearly(closed_port_url, torch_home):
    with pytest.raises(WeightsUnavailableError, match="toy-net.pth"):
        retrieval_network("toy", url=f"{closed_port_url}/toy-net.pth", retries=1)
    with pytest.raises(ValueError, match="unknown retrieval network"):
        retrieval_network("resnet-9000")
    assert "rSfM120k-tl-resnet101-gem-w" in RETRIEVAL_NETWORKS


def test_a_file_that_is_not_a_checkpoint_is_refused(file_server, torch_home):
    buf = io.BytesIO()
    torch.save({"weights": 1}, buf)
    url = file_server.add("/bad.pth", buf.getvalue())
    with pytest.raises(ValueError, match="not a cirtorch checkpoint"):
        retrieval_network("bad", url=url)


def _prefix(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:7]


class _Shell:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_checkpoint_that_would_run_code_is_refused_unrun(file_server, torch_home, tmp_path):
    marker = tmp_path / "ran"
    _, good = _checkpoint(whiten=False)
    state = torch.load(io.BytesIO(good), weights_only=True)
    state["meta"]["payload"] = _Shell(marker)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    url = file_server.add(f"/networks/evil-{_prefix(data)}.pth", data)
    with pytest.raises(ValueError, match="could run code"):
        retrieval_network("evil", url=url)
    assert not marker.exists()


def test_a_file_that_does_not_match_the_hash_in_its_name_is_not_kept(file_server, torch_home):
    _, data = _checkpoint(whiten=False)
    wrong = "0000000" if _prefix(data) != "0000000" else "1111111"
    url = file_server.add(f"/networks/toy-{wrong}.pth", data)
    with pytest.raises(WeightsUnavailableError, match=f"expected {wrong}"):
        retrieval_network("toy", url=url, retries=0)
    assert not (torch_home / "hub" / "checkpoints" / f"toy-{wrong}.pth").exists()
