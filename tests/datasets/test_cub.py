"""rrlib.datasets.cub: CUB-200-2011's metric-learning split, read from the archive's own index files
(downloaded from the local HTTP server in the real format)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import jpeg_bytes, tar_gz_bytes

import rrlib.datasets as ds
from rrlib.datasets import DatasetNotFoundError, cub200_split, registry

# (image id, class id, relative path): classes 1 and 100 train, 101 and 200 test
IMAGES = [(1, 1, "001.Black_footed_Albatross/a.jpg"), (2, 1, "001.Black_footed_Albatross/b.jpg"),
          (3, 100, "100.Brown_Pelican/c.jpg"), (4, 101, "101.White_Pelican/d.jpg"),
          (5, 200, "200.Common_Yellowthroat/e.jpg")]
CLASSES = {1: "001.Black_footed_Albatross", 100: "100.Brown_Pelican", 101: "101.White_Pelican",
           200: "200.Common_Yellowthroat"}


def _members(images=IMAGES, labels_text=None, skip_image=None):
    root = "CUB_200_2011/"
    members = {
        root + "images.txt": "".join(f"{i} {p}\n" for i, _, p in images).encode(),
        root + "image_class_labels.txt": (labels_text or "".join(f"{i} {c}\n" for i, c, _ in images)).encode(),
        root + "classes.txt": "".join(f"{c} {n}\n" for c, n in CLASSES.items()).encode(),
        root + "train_test_split.txt": "".join(f"{i} {i % 2}\n" for i, _, _ in images).encode(),
    }
    for i, c, p in images:
        if i != skip_image:
            members[root + "images/" + p] = jpeg_bytes((40, 30), (20 * i, 100, 50))
    return members


@pytest.fixture
def served_cub(file_server, monkeypatch):
    """cub200 as registered, but its archive served by the test."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    spec = registry.get("cub200")
    archive = tar_gz_bytes(_members())
    url = file_server.add("/cub/CUB_200_2011.tgz", archive)
    files = (dataclasses.replace(spec.files[0], url=url, approx_size=len(archive)),)
    registry._REGISTRY["cub200"] = dataclasses.replace(spec, files=files)


def test_downloaded_archive_gives_the_class_split(served_cub, tmp_path):
    ds.download("cub200", tmp_path, progress=False)
    split = cub200_split(tmp_path)
    train_paths, train_labels = split["train"]
    test_paths, test_labels = split["test"]
    np.testing.assert_array_equal(train_labels, [1, 1, 100])
    np.testing.assert_array_equal(test_labels, [101, 200])
    assert [p.name for p in train_paths] == ["a.jpg", "b.jpg", "c.jpg"]
    assert all(p.is_file() for p in train_paths + test_paths)
    assert split["classes"][101] == "101.White_Pelican"


def _unpack(tmp_path, **kwargs):
    folder = tmp_path / "datasets" / "cub200"
    for name, data in _members(**kwargs).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return tmp_path


def test_absent_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="download cub200"):
        cub200_split(tmp_path)


def test_a_missing_image_is_an_error_not_a_smaller_set(tmp_path):
    root = _unpack(tmp_path, skip_image=4)
    with pytest.raises(DatasetNotFoundError, match="d.jpg is missing"):
        cub200_split(root)
    assert len(cub200_split(root, check_files=False)["test"][0]) == 2


@pytest.mark.parametrize("labels_text, match", [
    ("1 1\n2 1\n3 100\n4 101\n", "image id 5 .* no class"),
    ("1 1\n2 1\n3 100\n4 101\n5 201\n", "not in 1..200"),
    ("1 1\n2 1\n3 100\n4 101\nfive 200\n", "line 5"),
    ("1 1\n1 1\n3 100\n4 101\n5 200\n", "appears twice"),
])
def test_broken_index_files_are_named(tmp_path, labels_text, match):
    root = _unpack(tmp_path, labels_text=labels_text)
    with pytest.raises(ValueError, match=match):
        cub200_split(root)
