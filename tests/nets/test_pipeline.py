"""rrlib.nets.pipeline: the whitened descriptors of notebooks 03 and 05, composed from their parts."""
import numpy as np
import pytest

from rrlib.datasets import load, whitening_split
from rrlib.nets import (POOLINGS, backbone, describe_dataset, learn_lw, pairs_from_labels,
                        whitened_descriptors, whitening_set)
from rrlib.nets import weights as W


@pytest.fixture(scope="module")
def net():
    if W.packaged_mobilenet_v2_file() is None and not (W.checkpoint_dir() / W.MOBILENET_V2_FILE).is_file():
        pytest.skip("MobileNetV2 weights absent")
    return backbone("mobilenet_v2")


@pytest.mark.parametrize("kwargs, match", [
    (dict(pool="NetVLAD"), "not among the poolings"), (dict(dim=0), "dim"), (dict(dim=2.5), "dim"),
    (dict(per_landmark=0), "per_landmark"), (dict(per_landmark=True), "per_landmark"),
])
def test_bad_arguments_are_refused_before_any_extraction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        whitened_descriptors(object(), object(), **kwargs)


def test_whitened_descriptors_are_the_parts_composed_by_hand(net):
    """The same numbers as notebook 03's steps written out: first 15 training images of each
    landmark, L_w on all their matching pairs, reduced to 256 dimensions, applied to GeM."""
    data = load("synth-landmarks")
    paths, labels = whitening_split(data)
    keep = [i for c in np.unique(labels) for i in np.flatnonzero(labels == c)[:15]]
    train = describe_dataset(data, net, POOLINGS, max_size=1024, images=[paths[i] for i in keep],
                             tag="whiten15")["db"]
    lw = learn_lw(train["GeM"], *pairs_from_labels(labels[keep]), reduce=256)
    d = describe_dataset(data, net, POOLINGS, max_size=1024)
    out = whitened_descriptors(data, net)
    np.testing.assert_array_equal(out.db, lw(d["db"]["GeM"]))
    np.testing.assert_array_equal(out.queries, lw(d["queries"]["GeM"]))
    assert out.db.shape == (len(data.images), 256)
    np.testing.assert_allclose(np.linalg.norm(out.queries, axis=1), 1, rtol=1e-5)
    set_descriptors, set_labels = whitening_set(data, net)
    assert len(set_labels) == len(keep) and all(np.bincount(set_labels)[np.unique(labels)] <= 15)
    np.testing.assert_array_equal(set_descriptors["MAC"], train["MAC"])
