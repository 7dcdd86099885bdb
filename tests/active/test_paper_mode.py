"""Paper mode of notebook 09 ([S3] chapter 3): the classification loaders, the 13-layer ConvNet and
the recipe of Table 3.1.

The loaders are tested offline: tiny MNIST (idx-ubyte.gz), CIFAR-10/100 (python-pickle tar.gz) and
SVHN (.mat) sets in the real formats, served by the real HTTP server of ``tests/conftest.py`` on
127.0.0.1; torchvision's URLs and MD5s are pointed at them (``monkeypatch``, undone after each test).
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import pickle
import struct

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd
from conftest import tar_gz_bytes

from rrlib.active.paper import PAPER_SETTINGS, SOURCES, PaperSetting, paper_setting
from rrlib.datasets import ChecksumError, DatasetNotFoundError, DownloadError, load_classification
from rrlib.datasets.classification import ClassificationDataset
from rrlib.datasets.leftovers import owner_tag
from rrlib.nets.convlarge import ConvLarge


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _images(rng, n, shape):
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


# --------------------------------------------------------------------------------------------
# Fixtures in the real formats
# --------------------------------------------------------------------------------------------
def _idx(array: np.ndarray) -> bytes:
    """The idx format of LeCun's MNIST files: magic (0, 0, 0x08 = uint8, ndim), big-endian dims, bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def serve_mnist(server, monkeypatch, n_train=7, n_test=4, corrupt=None):
    """Tiny MNIST at ``server``/mnist/; torchvision's MNIST points there. Returns the arrays."""
    rng = np.random.default_rng(0)
    arrays = {"train": (_images(rng, n_train, (28, 28)), rng.integers(0, 10, n_train).astype(np.uint8)),
              "test": (_images(rng, n_test, (28, 28)), rng.integers(0, 10, n_test).astype(np.uint8))}
    resources = []
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = arrays[split]
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte.gz"
            data = _gz(_idx(array))
            served = data[:-5] + b"XXXXX" if name == corrupt else data
            server.add(f"/mnist/{name}", served)
            resources.append((name, _md5(data)))
    monkeypatch.setattr(tvd.MNIST, "mirrors", [server.base + "/mnist/"])
    monkeypatch.setattr(tvd.MNIST, "resources", resources)
    return arrays


def serve_cifar(server, monkeypatch, hundred=False, n_per_batch=3, n_test=4):
    """Tiny CIFAR-10 (5 training batches) or CIFAR-100 in the python-pickle tar.gz of Krizhevsky's site."""
    rng = np.random.default_rng(1)
    cls = tvd.CIFAR100 if hundred else tvd.CIFAR10
    n_classes = 100 if hundred else 10
    label_key = "fine_labels" if hundred else "labels"
    names = [f"class{i:03d}" for i in range(n_classes)]

    def batch(n):
        images = _images(rng, n, (32, 32, 3))
        labels = rng.integers(0, n_classes, n)
        # rows of 3072 bytes: the red plane, then green, then blue (channels first)
        entry = {"data": images.transpose(0, 3, 1, 2).reshape(n, 3072), label_key: labels.tolist()}
        return images, labels, pickle.dumps(entry, protocol=2)

    train_files = ["train"] if hundred else [f"data_batch_{i}" for i in range(1, 6)]
    members, train_list, train_images, train_labels = {}, [], [], []
    for fname in train_files:
        images, labels, data = batch(n_per_batch * (5 if hundred else 1))
        members[f"{cls.base_folder}/{fname}"] = data
        train_list.append([fname, _md5(data)])
        train_images.append(images)
        train_labels.append(labels)
    test_images, test_labels, test_data = batch(n_test)
    test_name = "test" if hundred else "test_batch"
    members[f"{cls.base_folder}/{test_name}"] = test_data
    meta_key = "fine_label_names" if hundred else "label_names"
    meta_data = pickle.dumps({meta_key: names}, protocol=2)
    members[f"{cls.base_folder}/{cls.meta['filename']}"] = meta_data
    archive = tar_gz_bytes(members)
    url = server.add(f"/cifar/{cls.filename}", archive)
    monkeypatch.setattr(cls, "url", url)
    monkeypatch.setattr(cls, "tgz_md5", _md5(archive))
    monkeypatch.setattr(cls, "train_list", train_list)
    monkeypatch.setattr(cls, "test_list", [[test_name, _md5(test_data)]])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(meta_data)})
    return {"train": (np.concatenate(train_images), np.concatenate(train_labels)), "test": (test_images, test_labels),
            "classes": names, "path": f"/cifar/{cls.filename}"}


def svhn_mat(images: np.ndarray, digits: np.ndarray) -> bytes:
    """SVHN's format 2 ``.mat``: ``X`` (32, 32, 3, N) uint8, ``y`` (N, 1) with 10 for the digit 0."""
    import scipy.io

    buf = io.BytesIO()
    y = np.where(digits == 0, 10, digits).astype(np.uint8)[:, None]
    scipy.io.savemat(buf, {"X": np.ascontiguousarray(images.transpose(1, 2, 3, 0)), "y": y})
    return buf.getvalue()


def serve_svhn(server, monkeypatch, sizes=(6, 5)):
    rng = np.random.default_rng(2)
    split_list, arrays = {}, {}
    for split, n in zip(("train", "test"), sizes):
        images, digits = _images(rng, n, (32, 32, 3)), np.arange(n) % 10
        data = svhn_mat(images, digits)
        url = server.add(f"/svhn/{split}_32x32.mat", data)
        split_list[split] = [url, f"{split}_32x32.mat", _md5(data)]
        arrays[split] = (images, digits)
    split_list["extra"] = [server.base + "/svhn/extra_32x32.mat", "extra_32x32.mat", "0" * 32]
    monkeypatch.setattr(tvd.SVHN, "split_list", split_list)
    return arrays


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# --------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------
def test_mnist_round_trip_and_no_second_download(file_server, monkeypatch, tmp_path):
    arrays = serve_mnist(file_server, monkeypatch)
    train = load_classification("mnist", "train", root=tmp_path)
    assert isinstance(train, ClassificationDataset) and (train.name, train.split) == ("mnist", "train")
    assert train.images.dtype == np.uint8 and train.images.shape == (7, 28, 28)
    assert train.labels.dtype == np.int64 and train.labels.shape == (7,)
    np.testing.assert_array_equal(train.images, arrays["train"][0])
    np.testing.assert_array_equal(train.labels, arrays["train"][1])
    assert len(train) == 7 and train.n_classes == 10 and train.classes[3] == "3 - three"
    hits = len(file_server.requests)
    assert hits > 0
    # the test split was fetched with the training split (torchvision downloads all four files)
    test = load_classification("MNIST", "test", root=tmp_path)
    np.testing.assert_array_equal(test.images, arrays["test"][0])
    again = load_classification("mnist", "train", root=tmp_path, download=False)
    np.testing.assert_array_equal(again.images, train.images)
    assert len(file_server.requests) == hits, "a present copy was downloaded again"
    folder = tmp_path / "datasets" / "mnist"
    assert "MNIST/raw/train-images-idx3-ubyte" in _files(folder)
    assert not any(p.name.startswith(".download-") for p in folder.iterdir()), "staging folder left behind"


@pytest.mark.parametrize("hundred", [False, True], ids=["cifar10", "cifar100"])
def test_cifar_round_trip_and_no_second_download(file_server, monkeypatch, tmp_path, hundred):
    served = serve_cifar(file_server, monkeypatch, hundred=hundred)
    name = "cifar100" if hundred else "cifar-10"
    train = load_classification(name, "train", root=tmp_path)
    assert train.name == ("cifar100" if hundred else "cifar10")
    assert train.images.dtype == np.uint8 and train.images.shape == (15, 32, 32, 3)
    assert train.images.flags["C_CONTIGUOUS"]
    assert train.labels.dtype == np.int64
    np.testing.assert_array_equal(train.images, served["train"][0])
    np.testing.assert_array_equal(train.labels, served["train"][1])
    assert train.classes == tuple(served["classes"])
    test = load_classification(name, "test", root=tmp_path)
    np.testing.assert_array_equal(test.images, served["test"][0])
    np.testing.assert_array_equal(test.labels, served["test"][1])
    # one archive for both splits, fetched once (torchvision asks twice: redirect probe, then body)
    assert len(file_server.requests_for(served["path"])) == 2
    load_classification(name, "train", root=tmp_path)
    assert len(file_server.requests_for(served["path"])) == 2


def test_svhn_round_trip_labels_and_layout(file_server, monkeypatch, tmp_path):
    arrays = serve_svhn(file_server, monkeypatch)
    for split in ("train", "test"):
        data = load_classification("svhn", split, root=tmp_path)
        images, digits = arrays[split]
        assert data.images.shape == (len(digits), 32, 32, 3) and data.images.dtype == np.uint8
        assert data.images.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(data.images, images)
        np.testing.assert_array_equal(data.labels, digits)  # the .mat's 10 is the digit 0
        assert data.labels.dtype == np.int64 and data.classes == tuple("0123456789")
    hits = len(file_server.requests)
    load_classification("svhn", "test", root=tmp_path, download=False)
    load_classification("svhn", "train", root=tmp_path)
    assert len(file_server.requests) == hits
    assert _files(tmp_path / "datasets" / "svhn") == ["test_32x32.mat", "train_32x32.mat"]


def test_default_root_is_the_data_root(file_server, monkeypatch, tmp_path):
    serve_svhn(file_server, monkeypatch)
    monkeypatch.setenv("RRLIB_DATA", str(tmp_path / "root"))
    load_classification("svhn", "test")
    assert (tmp_path / "root" / "datasets" / "svhn" / "test_32x32.mat").is_file()


def test_corrupt_download_raises_and_keeps_nothing(file_server, monkeypatch, tmp_path):
    serve_mnist(file_server, monkeypatch, corrupt="t10k-images-idx3-ubyte.gz")
    with pytest.raises(ChecksumError, match="MD5") as info:
        load_classification("mnist", "train", root=tmp_path)
    assert isinstance(info.value, DownloadError) and "by hand" in str(info.value)
    folder = tmp_path / "datasets" / "mnist"
    assert _files(folder) == [] and list(folder.iterdir()) == [], "a failed download left files"
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        load_classification("mnist", "train", root=tmp_path, download=False)
    # the server is fixed: the next load downloads everything afresh and works
    serve_mnist(file_server, monkeypatch)
    assert load_classification("mnist", "test", root=tmp_path).images.shape == (4, 28, 28)


def test_corrupt_file_on_disk_is_not_trusted(file_server, monkeypatch, tmp_path):
    arrays = serve_svhn(file_server, monkeypatch)
    load_classification("svhn", "train", root=tmp_path)
    path = tmp_path / "datasets" / "svhn" / "train_32x32.mat"
    path.write_bytes(path.read_bytes()[:-10])  # truncated: fails torchvision's MD5
    with pytest.raises(DatasetNotFoundError):
        load_classification("svhn", "train", root=tmp_path, download=False)
    np.testing.assert_array_equal(load_classification("svhn", "train", root=tmp_path).images, arrays["train"][0])


def test_damaged_unpacked_mnist_names_the_fix(file_server, monkeypatch, tmp_path):
    # torchvision trusts MNIST's unpacked files by their presence; a damaged one must not pass silently
    serve_mnist(file_server, monkeypatch)
    load_classification("mnist", "train", root=tmp_path)
    path = tmp_path / "datasets" / "mnist" / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(OSError, match="cannot read MNIST .*delete"):
        load_classification("mnist", "train", root=tmp_path)


def test_staging_folder_of_a_killed_run_is_removed(file_server, monkeypatch, tmp_path):
    serve_svhn(file_server, monkeypatch)
    folder = tmp_path / "datasets" / "svhn"
    host = owner_tag().split("@", 1)[1]
    stale = folder / f".download-{2**22 + 12345}@{host}@train"  # above the largest Linux pid (2**22): no such process
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "train_32x32.mat").write_bytes(b"half")
    load_classification("svhn", "test", root=tmp_path)
    assert not stale.exists()
    assert _files(folder) == ["test_32x32.mat"]


def test_wrong_md5_on_server_for_cifar(file_server, monkeypatch, tmp_path):
    serve_cifar(file_server, monkeypatch)
    monkeypatch.setattr(tvd.CIFAR10, "tgz_md5", "0" * 32)
    with pytest.raises(ChecksumError, match="CIFAR-10"):
        load_classification("cifar10", "test", root=tmp_path)
    assert _files(tmp_path / "datasets" / "cifar10") == []


def test_offline_is_a_download_error(closed_port_url, monkeypatch, tmp_path):
    monkeypatch.setattr(tvd.SVHN, "split_list", {**tvd.SVHN.split_list,
                                                 "test": [closed_port_url, "test_32x32.mat", "0" * 32]})
    with pytest.raises(DownloadError, match="internet") as info:
        load_classification("svhn", "test", root=tmp_path)
    assert not isinstance(info.value, ChecksumError)
    assert _files(tmp_path / "datasets" / "svhn") == []


def test_absent_without_download(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        load_classification("cifar10", "train", root=tmp_path, download=False)


@pytest.mark.parametrize("name", ["imagenet", "cifar-1000", ""])
def test_unknown_name(name, tmp_path):
    with pytest.raises(ValueError, match="unknown classification dataset"):
        load_classification(name, "train", root=tmp_path)


def test_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="no split 'extra'"):
        load_classification("mnist", "extra", root=tmp_path)
    with pytest.raises(ValueError, match="splits: train, test, extra"):
        load_classification("svhn", "val", root=tmp_path)


# --------------------------------------------------------------------------------------------
# ConvLarge
# --------------------------------------------------------------------------------------------
def _expected_parameters(c_in: int, n_classes: int) -> int:
    """By hand from the layer table: bias-free convolutions, 2 BN parameters per channel, fc with bias."""
    convs = [(c_in, 128, 3), (128, 128, 3), (128, 128, 3),
             (128, 256, 3), (256, 256, 3), (256, 256, 3),
             (256, 512, 3), (512, 256, 1), (256, 128, 1)]
    weights = sum(a * b * k * k for a, b, k in convs)
    batchnorm = sum(2 * b for _, b, _ in convs)
    return weights + batchnorm + 128 * n_classes + n_classes


@pytest.mark.parametrize("c_in,size,n_classes", [(3, 32, 10), (1, 28, 10), (3, 32, 100)])
def test_convlarge_shapes_and_parameters(c_in, size, n_classes):
    torch.manual_seed(0)
    net = ConvLarge(n_classes, in_channels=c_in).eval()
    x = torch.randn(2, c_in, size, size)
    with torch.no_grad():
        phi = net.embed(x)
        logits = net(x)
    assert phi.shape == (2, 128) and net.embed_dim == 128
    assert logits.shape == (2, n_classes)
    torch.testing.assert_close(logits, net.fc(phi))
    assert sum(p.numel() for p in net.parameters()) == _expected_parameters(c_in, n_classes)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 9


def test_convlarge_known_count_and_spatial_sizes():
    # 3,121,802 trainable parameters for CIFAR-10 (3,116,416 in convolution kernels)
    assert _expected_parameters(3, 10) == 3_121_802
    net = ConvLarge(10).eval()
    sizes = []

    def record(module, inputs, output):
        sizes.append(tuple(output.shape[2:]))  # returns None: the output is left as it is

    hooks = [m.register_forward_hook(record) for m in net.features if isinstance(m, torch.nn.MaxPool2d) or
             (isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) and m.padding == (0, 0))]
    with torch.no_grad():
        net(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert sizes == [(16, 16), (8, 8), (6, 6)]


def test_convlarge_errors():
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        ConvLarge(10, in_channels=1).embed(torch.zeros(1, 3, 28, 28))
    with pytest.raises(ValueError, match="at least 12x12"):
        ConvLarge(10).embed(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="n_classes"):
        ConvLarge(0)


# --------------------------------------------------------------------------------------------
# The recipe
# --------------------------------------------------------------------------------------------
TABLE_3_1 = {  # key: (train, test, image side, batch w/o SEMI, batch SEMI, budget, total labels)
    "mnist-b10": (60000, 10000, 28, 10, 64, 10, 50),
    "svhn-b100": (73257, 26032, 32, 32, 128, 100, 500),
    "cifar10-b100": (50000, 10000, 32, 32, 128, 100, 500),
    "cifar10-b1000": (50000, 10000, 32, 32, 128, 1000, 5000),
    "cifar100-b1000": (50000, 10000, 32, 32, 128, 1000, 5000),
}


def test_five_settings_match_table_3_1():
    assert list(PAPER_SETTINGS) == list(TABLE_3_1)
    for key, (n_train, n_test, side, batch, batch_semi, budget, total) in TABLE_3_1.items():
        s = paper_setting(key)
        assert s.key == key and f"{s.dataset}-b{s.budget}" == key
        assert (s.n_train, s.n_test, s.image_size) == (n_train, n_test, (side, side))
        assert (s.batch_size, s.batch_size_semi, s.budget, s.total_labels) == (batch, batch_semi, budget, total)
        assert s.total_labels == s.cycles * s.budget and s.initial_labels == s.budget
        assert s.labeled_per_batch_semi == (10 if s.dataset == "mnist" else 50)
        assert s.in_channels == (1 if s.dataset == "mnist" else 3)
        assert s.n_classes == (100 if s.dataset == "cifar100" else 10)


def test_shared_training_recipe():
    for s in PAPER_SETTINGS.values():
        assert (s.cycles, s.repetitions, s.epochs, s.lr, s.lr_zero_epoch, s.momentum) == (5, 5, 200, 0.2, 210, 0.9)
        assert (s.pre_epochs, s.knn_k, s.gamma, s.alpha, s.semi_epoch_fraction) == (250, 50, 3.0, 0.99, 0.5)
        assert "translations" in s.augmentation and "flips" in s.augmentation
    assert [s.labels_per_class for s in PAPER_SETTINGS.values()] == [1, 10, 10, 100, 10]
    s = paper_setting("cifar10-b100")
    assert s.lr_at(0) == pytest.approx(0.2)
    assert s.lr_at(105) == pytest.approx(0.1)
    assert s.lr_at(210) == pytest.approx(0.0, abs=1e-12)
    assert 0 < s.lr_at(200) < 0.002
    with pytest.raises(ValueError):
        s.lr_at(211)
    with pytest.raises(ValueError, match="Table 3.1"):
        paper_setting("cifar10-b10")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.lr = 0.1  # type: ignore[misc]


def test_every_field_has_a_source():
    names = [f.name for f in dataclasses.fields(PaperSetting)]
    assert set(SOURCES) == set(names)
    for name in names:
        assert SOURCES[name].strip(), name
        assert "[S3]" in SOURCES[name] or name == "key", name
    for name in ("weight_decay", "nesterov", "gamma", "in_channels"):
        assert SOURCES[name].startswith("not in [S3]"), name
    assert "Table 3.1" in SOURCES["budget"] and "Networks and training" in SOURCES["lr"]


def test_train_config_carries_the_paper_settings():
    from rrlib.active import TrainConfig
    from rrlib.active.paper import PAPER_SETTINGS, train_config

    cfg = train_config("cifar10-b100")
    assert isinstance(cfg, TrainConfig)
    assert (cfg.sup_epochs, cfg.semi_epochs, cfg.pre_epochs) == (200, 200, 250)
    assert (cfg.batch, cfg.semi_batch, cfg.semi_labeled) == (32, 128, 50)
    assert (cfg.lr, cfg.momentum, cfg.k, cfg.gamma, cfg.alpha) == (0.2, 0.9, 50, 3.0, 0.99)
    mnist = train_config(PAPER_SETTINGS["mnist-b10"])
    assert (mnist.batch, mnist.semi_batch, mnist.semi_labeled) == (10, 64, 10)
