"""cirtorch checkpoints: downloaded from a local HTTP server, built, checked against the source."""
import io

import numpy as np
import pytest
import torch
import torch.hub
import torchvision

from rrlib.nets import RETRIEVAL_NETWORKS, retrieval_network
from rrlib.nets.weights import WeightsUnavailableError


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
        sd["whiten.weight"] = torch.eye(512) * 2
        sd["whiten.bias"] = torch.zeros(512)
    buf = io.BytesIO()
    torch.save({"state_dict": sd, "meta": {"architecture": "resnet18", "pooling": "gem", "outputdim": 512}}, buf)
    return trunk, buf.getvalue()


def test_checkpoint_is_downloaded_built_and_equal_to_its_source(file_server, torch_home):
    trunk, data = _checkpoint(whiten=True)
    url = file_server.add("/networks/toy-resnet18-gem-w-0000000.pth", data)
    net = retrieval_network("toy", url=url)
    assert (torch_home / "hub" / "checkpoints" / "toy-resnet18-gem-w-0000000.pth").is_file()
    x = torch.randn(2, 3, 64, 96)
    with torch.inference_mode():
        torch.testing.assert_close(net.features(x), trunk(x), atol=1e-4, rtol=1e-4)  # channels-last rounding
    assert float(net.pool.p) == 2.5 and net.features.out_channels == 512
    v = np.random.default_rng(0).random((3, 512)).astype(np.float32)
    np.testing.assert_allclose(net.whiten(v), v / np.linalg.norm(v, axis=1, keepdims=True), rtol=1e-5)
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
