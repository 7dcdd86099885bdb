"""The exact reproduction path: revisitop's .mat descriptors + gnd -> evaluate_revisited.

The real descriptor files cannot be downloaded here, so a .mat of the same layout (X: d x n_db,
Q: d x n_queries) is written next to the real ground truth from the shared fixtures.
"""
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from rrlib.datasets import DatasetNotFoundError, revisitop_features
from rrlib.evaluate import evaluate_revisited

FIXTURE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "revisitop" / "gnd_roxford5k.pkl"


@pytest.fixture
def root(tmp_path):
    if not FIXTURE.is_file():
        pytest.skip(f"{FIXTURE} absent")
    for name in ("roxford5k", "rparis6k"):
        src = FIXTURE.with_name(f"gnd_{name}.pkl")
        (tmp_path / "datasets" / name).mkdir(parents=True)
        shutil.copy(src, tmp_path / "datasets" / name / src.name)
    (tmp_path / "features").mkdir()
    return tmp_path


def _write_mat(root, name, X, Q):
    savemat(root / "features" / f"{name}_resnet_rsfm120k_gem.mat", {"X": X, "Q": Q})


def test_features_that_encode_the_labels_score_as_designed(root):
    import pickle

    cfg = pickle.load(open(root / "datasets/roxford5k/gnd_roxford5k.pkl", "rb"))
    n_db, nq = len(cfg["imlist"]), len(cfg["qimlist"])
    # one dimension per query; its easy images match it fully, its hard ones half
    X = np.zeros((nq + 1, n_db))
    X[nq] = 1.0  # everything else points elsewhere
    for q, g in enumerate(cfg["gnd"]):
        X[q, g["easy"]] += 1.0
        X[q, g["hard"]] += 0.5
    Q = np.eye(nq + 1)[:, :nq]
    _write_mat(root, "roxford5k", X, Q)
    _write_mat(root, "rparis6k", np.zeros((3, 6322)), np.zeros((3, 70)))
    Xr, Qr, gnd = revisitop_features("roxford5k", root)
    assert Xr.shape == (n_db, nq + 1) and Qr.shape == (nq, nq + 1)
    res = evaluate_revisited(Xr @ Qr.T, gnd)
    # easy first, then hard: every setup is perfect (junk is ignored, hard are junk in Easy)
    assert res.map == pytest.approx({"easy": 100.0, "medium": 100.0, "hard": 100.0})
    assert len(res.excluded["easy"]) == 2


def test_mismatched_features_and_missing_files_are_clear_errors(root):
    _write_mat(root, "roxford5k", np.zeros((4, 10)), np.zeros((4, 70)))
    _write_mat(root, "rparis6k", np.zeros((4, 6322)), np.zeros((4, 70)))
    with pytest.raises(ValueError, match="do not match the gnd"):
        revisitop_features("roxford5k", root)
    with pytest.raises(ValueError, match="not 'oxford5k'"):
        revisitop_features("oxford5k", root)
    (root / "features" / "rparis6k_resnet_rsfm120k_gem.mat").unlink()
    with pytest.raises(DatasetNotFoundError, match="python -m rrlib download revisitop-r101-gem"):
        revisitop_features("rparis6k", root)


def test_whitening_split_of_a_real_benchmark_is_the_other_city(root):
    import pickle

    from rrlib.datasets import get, load, whitening_split

    for name in ("roxford5k", "rparis6k"):  # pretend the image archives were extracted
        for f in get(name).files:
            if f.extract_to:
                f.marker(root).parent.mkdir(parents=True, exist_ok=True)
                f.marker(root).touch()
    data = load("roxford5k", root)
    paths, labels = whitening_split(data)
    paris = pickle.load(open(root / "datasets/rparis6k/gnd_rparis6k.pkl", "rb"))
    assert all("rparis6k" in str(p) for p in paths) and len(paths) == len(labels) > 1000
    q = labels[0]  # the first image is an easy positive of its query
    name = paths[0].stem
    assert paris["imlist"].index(name) in paris["gnd"][q]["easy"]
    assert len(set(labels)) > 10
