"""rrlib.learn: losses on hand-computed values, the tuple miner's rules, a short fine-tuning run."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rrlib.learn import (ContrastiveLoss, MultiSimilarityLoss, TripletLoss, TupleMiner, co_observed_cells,
                         contrastive_loss, contrastive_similarity_loss, hard_negatives, multi_similarity_loss,
                         triplet_loss, tuple_pairs)


# --------------------------------------------------------------------------- losses
def test_contrastive_loss_by_hand():
    d = torch.tensor([0.2, 0.5, 0.9, 0.7])
    t = torch.tensor([1, 0, 0, 0])
    # positive: 0.5 * 0.04 = 0.02; negatives with m = 0.7: 0.5 * 0.2^2 = 0.02, 0 (beyond), 0 (on the margin)
    assert contrastive_loss(d, t, margin=0.7).item() == pytest.approx((0.02 + 0.02 + 0 + 0) / 4)
    assert contrastive_loss(torch.tensor([0.0, 1.0]), torch.tensor([1, 0]), 0.7).item() == 0.0  # zero loss
    with pytest.raises(ValueError):
        contrastive_loss(d, torch.tensor([1, 0, 2, 0]))
    with pytest.raises(ValueError):
        contrastive_loss(d, t, margin=-1)


def test_contrastive_gradients_pull_and_push():
    d = torch.tensor([0.4, 0.3], requires_grad=True)
    contrastive_loss(d, torch.tensor([1, 0]), margin=0.7).backward()
    # d/dd of 0.5 d^2 / 2 = d / 2 = 0.2 (descent shrinks it); of 0.5 (m - d)^2 / 2 = -(m - d) / 2 = -0.2
    np.testing.assert_allclose(d.grad.numpy(), [0.2, -0.2], atol=1e-7)


def test_similarity_form_and_triplet_by_hand():
    s_pos, s_neg = torch.tensor([0.9, 0.6]), torch.tensor([0.7, 0.4, 0.5])
    # (-0.9 - 0.6 + [0.2]_+ + 0 + [0]_+) / 5 with m = 0.5
    assert contrastive_similarity_loss(s_pos, s_neg, margin=0.5).item() == pytest.approx((-1.5 + 0.2) / 5)
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    p = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    n = torch.tensor([[-1.0, 0.0], [0.0, 1.0]])
    # triplet 1: d_p^2 = 2, d_n^2 = 4 -> [2 - 4 + 0.1]_+ = 0; triplet 2: 0 - 2 + 0.1 -> 0
    assert triplet_loss(a, p, n, margin=0.1).item() == 0.0
    # margin 2.5: [2 - 4 + 2.5] = 0.5 and [0 - 2 + 2.5] = 0.5
    assert triplet_loss(a, p, n, margin=2.5).item() == pytest.approx(0.5)
    # plain distances: [sqrt2 - 2 + 1]_+ = sqrt2 - 1 and [0 - sqrt2 + 1]_+ = 0
    assert triplet_loss(a, p, n, margin=1.0, squared=False).item() == pytest.approx((math.sqrt(2) - 1) / 2, abs=1e-5)
    # on the margin boundary the hinge is exactly zero
    assert triplet_loss(a[1:], p[1:], n[1:], margin=2.0).item() == 0.0


def test_multi_similarity_by_hand():
    e = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]])
    labels = torch.tensor([0, 0, 1])
    # S = [[1, .8, .6], [.8, 1, .96], [.6, .96, 1]]; anchor 0: s_p = 0.8, s_n = 0.6 (0.6 + 0.1 > 0.8? no)
    # -> negative not kept; positive kept (0.8 - 0.1 < 0.6? no) -> not kept: loss 0
    # anchor 1: s_p = 0.8, s_n = 0.96: both kept; anchor 2 has no positive: 0
    a, b, m = 2.0, 50.0, 0.5
    anchor1 = math.log1p(math.exp(-a * (0.8 - m))) / a + math.log1p(math.exp(b * (0.96 - m))) / b
    assert multi_similarity_loss(e, labels, a, b, m, 0.1).item() == pytest.approx(anchor1 / 3, rel=1e-5)


def test_tuple_modules_match_the_functions():
    g = torch.Generator().manual_seed(0)
    E = torch.nn.functional.normalize(torch.randn(2 * 4, 3, generator=g), dim=1)  # 2 tuples, 2 negatives
    d, t = tuple_pairs(E, 2)
    np.testing.assert_array_equal(t.numpy(), [1, 0, 0, 1, 0, 0])
    assert d[1].item() == pytest.approx((E[2] - E[0]).norm().item(), rel=1e-6)
    assert ContrastiveLoss(0.7, 2)(E).item() == pytest.approx(contrastive_loss(d, t, 0.7).item())
    a = E[[0, 0, 4, 4]]
    p = E[[1, 1, 5, 5]]
    n = E[[2, 3, 6, 7]]
    assert TripletLoss(0.1, 2)(E).item() == pytest.approx(triplet_loss(a, p, n, 0.1).item())
    assert MultiSimilarityLoss(2)(E).item() >= 0
    with pytest.raises(ValueError):
        ContrastiveLoss(0.7, 2)(E[:7])


# --------------------------------------------------------------------------- mining
def test_hard_negatives_one_per_label_hardest_first():
    q = np.array([[1.0, 0.0]])
    angles = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    pool = np.c_[np.cos(angles), np.sin(angles)]       # similarity decreasing with the index
    labels = np.array([7, 3, 3, 5, 9, 5])              # pool item 0 shares the query's landmark
    out = hard_negatives(q, [7], pool, labels, n_negatives=3)
    np.testing.assert_array_equal(out, [[1, 3, 4]])    # skip own landmark 7, take 3 once, 5 once, then 9
    np.testing.assert_array_equal(hard_negatives(q, [7], pool, labels, n_negatives=4), [[1, 3, 4, -1]])


def _toy_miner(**kw):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(8), 6)
    X = rng.normal(size=(len(labels), 16)) + 3 * rng.normal(size=(8, 16))[labels]
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    support = rng.integers(1, 100, (len(labels), len(labels)))
    support = (support + support.T) * (labels[:, None] == labels[None])
    np.fill_diagonal(support, 0)
    return X, labels, support, TupleMiner(labels, n_queries=20, pool_size=40, n_negatives=4, support=support, **kw)


@pytest.mark.parametrize("positives", ["random", "descriptor", "inliers", "relaxed"])
def test_miner_rules(positives):
    X, labels, support, miner = _toy_miner(positives=positives)
    embed = lambda idx: X[idx]
    t = miner.epoch(1, embed)
    assert len(t) == 20 and t.negatives.shape == (20, 4)
    for q, p, negs in zip(t.queries, t.positives, t.negatives):
        assert labels[p] == labels[q] and p != q
        assert not np.any(labels[negs] == labels[q])            # never the query's landmark
        assert len(set(labels[negs])) == 4                        # at most one per landmark
        sims = X[negs] @ X[q]
        assert np.all(np.diff(sims) <= 1e-6)                      # hardest first
        same = np.flatnonzero((labels == labels[q]) & (np.arange(len(labels)) != q))
        if positives == "inliers":
            assert support[q, p] == support[q, same].max()
        if positives == "descriptor":
            assert X[p] @ X[q] == pytest.approx((X[same] @ X[q]).max())
        if positives == "relaxed":
            assert support[q, p] >= np.sort(support[q, same])[::-1][4]
    again = miner.epoch(1, embed)
    np.testing.assert_array_equal(again.negatives, t.negatives)  # deterministic per epoch
    assert not np.array_equal(miner.epoch(2, embed).queries, t.queries)


def test_hard_negatives_are_harder_than_random_ones():
    X, labels, _, hard = _toy_miner(positives="random")
    _, _, _, rand = _toy_miner(positives="random", negatives="random")
    th, tr = hard.epoch(1, lambda i: X[i]), rand.epoch(1, lambda i: X[i])
    s = lambda t: np.mean([X[n] @ X[q] for q, n in zip(t.queries, t.negatives)])
    assert s(th) > s(tr) + 0.1
    assert all(len(set(labels[n])) == 4 and labels[q] not in labels[n] for q, n in zip(tr.queries, tr.negatives))


def test_miner_rejects_bad_configuration():
    labels = np.repeat(np.arange(3), 2)
    with pytest.raises(ValueError, match="support"):
        TupleMiner(labels, positives="inliers")
    with pytest.raises(ValueError):
        TupleMiner(labels, positives="best")
    with pytest.raises(ValueError):
        TupleMiner(labels, negatives="semi-hard")
    with pytest.raises(ValueError, match="embed"):
        TupleMiner(labels, positives="random").epoch(0)


def test_co_observed_cells_by_hand():
    grid = lambda *cells: np.packbits(np.isin(np.arange(16), cells))
    recs = [{"landmark": 0, "vis_grid": [grid(0, 1, 2), grid(5)]},
            {"landmark": 0, "vis_grid": [grid(1, 2, 3), grid(5, 6)]},
            {"landmark": 1, "vis_grid": [grid(0, 1, 2), grid(5)]}]
    np.testing.assert_array_equal(co_observed_cells(recs), [[0, 3, 0], [3, 0, 0], [0, 0, 0]])


# --------------------------------------------------------------------------- training (integration)
def test_short_finetuning_lowers_the_loss_and_raises_map_on_synth_landmarks():
    """Directional, seeded: notebook 04's contrastive run (cached in the data root, shared with the
    notebook) beats the off-the-shelf network on Medium and Hard, and has a lower loss than the
    off-the-shelf network on the same tuples."""
    import pickle

    from rrlib.datasets import load, training_split
    from rrlib.learn import RetrievalNet, TrainConfig, finetune
    from rrlib.learn.train import NOTEBOOK_CONFIG, _embed
    from rrlib.nets import to_tensor

    data = load("synth-landmarks", download=True)
    with open(data.folder / "train_synth-landmarks.pkl", "rb") as fh:
        support = co_observed_cells(pickle.load(fh)["records"])
    cfg = NOTEBOOK_CONFIG
    run = finetune(data, cfg, support=support)
    before, after = run.history[0], run.history[-1]
    for setup in ("medium", "hard"):
        assert after[setup] > before[setup] + 5, run.history
    paths, labels = training_split(data)
    off = RetrievalNet(cfg.backbone).eval()
    miner = TupleMiner(labels, n_queries=20, pool_size=cfg.pool_size, n_negatives=cfg.n_negatives,
                       positives=cfg.positives, support=support, seed=99)
    tuples = miner.epoch(0, lambda idx: _embed(off, [paths[i] for i in idx], cfg.image_size))
    loss = ContrastiveLoss(cfg.margin, cfg.n_negatives)

    def total(model):
        with torch.no_grad():
            return sum(loss(torch.cat([model(to_tensor(paths[i], cfg.image_size)[None]) for i in tuples.images(k)])).item()
                       for k in range(len(tuples)))
    assert total(run.model) < 0.7 * total(off)
    assert isinstance(cfg, TrainConfig)
