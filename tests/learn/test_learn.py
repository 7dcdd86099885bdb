"""rrlib.learn: losses on hand-computed values, the [S4] miner's rules, the training loop.

The integration test fine-tunes MobileNetV2 on synth-landmarks for a few seconds (small images)
and checks the direction of [S4]'s claims: the loss goes down, mAP goes up over the off-the-shelf
network, and hard negatives beat random ones. It is a pin of one seed's measured behaviour (seed 0,
see its docstring), not a statistical statement; the cheap directional tests (a gradient step
lowers the loss) hold over several seeds.
"""
from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rrlib.learn import (ContrastiveLoss, ContrastiveSimilarityLoss, MultiSimilarityLoss, TrainConfig, TripletLoss,
                         TupleMiner, co_observed_cells, contrastive_loss, contrastive_similarity_loss, hard_negatives,
                         multi_similarity_from_similarities, multi_similarity_loss, random_negatives, scale_changes,
                         select_positives, triplet_loss, triplet_similarity_loss, tuple_pairs, tuple_similarities)

T = torch.tensor


def unit(*rows):
    x = T(rows, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


# ------------------------------------------------------------------------------------- losses
def test_contrastive_by_hand():
    d, t = T([0.5, 0.3, 0.9]), T([1, 0, 0])
    # 1/2 0.5^2 = 0.125; 1/2 (0.7 - 0.3)^2 = 0.08; 0.9 > m: 0
    assert contrastive_loss(d, t, 0.7, "sum").item() == pytest.approx(0.205)
    assert contrastive_loss(d, t, 0.7).item() == pytest.approx(0.205 / 3)


def test_contrastive_zero_loss_and_margin_boundary():
    t = T([1.0, 0.0, 0.0])
    assert contrastive_loss(T([0.0, 0.5, 1.5]), t, 0.5).item() == 0  # positive at 0, negatives at / past m
    assert contrastive_loss(T([0.0, 0.49, 0.5]), t, 0.5, "sum").item() == pytest.approx(0.5 * 0.01 ** 2, rel=1e-4)
    # the gradient pulls a positive in (d/dd = d) and pushes a negative out only inside the margin
    d = T([0.5, 0.3, 0.9], requires_grad=True)
    contrastive_loss(d, T([1, 0, 0]), 0.7, "sum").backward()
    np.testing.assert_allclose(d.grad.numpy(), [0.5, -0.4, 0.0], atol=1e-6)


def test_contrastive_rejects_bad_input():
    with pytest.raises(ValueError, match="targets"):
        contrastive_loss(T([0.1, 0.2]), T([1, 2]))
    with pytest.raises(ValueError, match="margin"):
        contrastive_loss(T([0.1]), T([1]), margin=-1)
    with pytest.raises(ValueError, match="distances"):
        contrastive_loss(T([0.1, 0.2]), T([1]))


def test_tuple_pairs_and_contrastive_module():
    # one tuple (q, p, n): q = (1, 0), p = (0.6, 0.8), n = (0, 1)
    E = unit([1, 0], [0.6, 0.8], [0, 1])
    d, t = tuple_pairs(E, 1)
    np.testing.assert_allclose(d.numpy(), [math.sqrt(0.8), math.sqrt(2)])
    np.testing.assert_array_equal(t.numpy(), [1, 0])
    sp, sn = tuple_similarities(E, 1)
    np.testing.assert_allclose(sp.numpy(), [[0.6]])
    np.testing.assert_allclose(sn.numpy(), [[0.0]], atol=1e-12)
    assert ContrastiveLoss(0.7, 1)(E).item() == pytest.approx(0.5 * 0.8 / 2)  # the negative is past m
    with pytest.raises(ValueError, match="tuples of 3"):
        ContrastiveLoss(0.7, 1)(E[:2])


def test_contrastive_similarity_by_hand():
    # (1 - 0.9) + [0.6 - 0.5]_+ + [0.2 - 0.5]_+ = 0.2
    assert contrastive_similarity_loss(T([[0.9]]), T([[0.6, 0.2]]), 0.5).item() == pytest.approx(0.2)
    assert contrastive_similarity_loss(T([[1.0]]), T([[0.5, -1.0]]), 0.5).item() == 0  # perfect, boundary
    E = unit([1, 0], [0.6, 0.8], [0.8, 0.6])
    assert ContrastiveSimilarityLoss(0.5, 1)(E).item() == pytest.approx(0.4 + 0.3)


def test_triplet_by_hand():
    a, p = unit([1, 0]), unit([0.6, 0.8])
    assert triplet_loss(a, p, unit([0, 1]), 0.1).item() == 0  # d_p^2 = 0.8 < d_n^2 - m = 1.9
    n = unit([0.8, 0.6])  # d_n^2 = 0.4
    assert triplet_loss(a, p, n, 0.1).item() == pytest.approx(0.8 - 0.4 + 0.1)
    assert triplet_loss(a, p, n, 0.1, squared=False).item() == pytest.approx(math.sqrt(0.8) - math.sqrt(0.4) + 0.1)


def test_triplet_margin_boundary():
    a, p, n = unit([1, 0]), unit([0, 1]), unit([-1, 0])  # d_p^2 = 2, d_n^2 = 4 exactly
    assert triplet_loss(a, p, n, 2.0).item() == 0
    assert triplet_loss(a, p, n, 2.25).item() == pytest.approx(0.25)
    assert triplet_loss(a, p, n, 1.75).item() == 0


def test_triplet_similarity_form_is_half_the_squared_distance_form():
    g = torch.Generator().manual_seed(0)
    a, p, n = (torch.nn.functional.normalize(torch.randn(20, 8, generator=g, dtype=torch.float64), dim=1)
               for _ in range(3))
    sp, sn = (a * p).sum(1), (a * n).sum(1)
    # ||a - x||^2 = 2 - 2 s: [d_p^2 - d_n^2 + m]_+ = 2 [s_n - s_p + m/2]_+
    assert triplet_loss(a, p, n, 0.3).item() == pytest.approx(2 * triplet_similarity_loss(sp, sn, 0.15).item())
    assert triplet_similarity_loss(T([0.9]), T([0.8]), 0.1).item() == pytest.approx(0.0, abs=1e-7)  # boundary


def test_triplet_module_uses_every_negative():
    E = torch.cat([unit([1, 0], [0.6, 0.8], [0, 1], [0.8, 0.6])])
    loss = TripletLoss(0.1, 2)(E)
    assert loss.item() == pytest.approx((0 + 0.5) / 2)


def test_multi_similarity_by_hand():
    # negative 0.1 is mined out (0.1 + eps < min_p = 0.5); positive 0.5 kept (0.5 - eps < max_n = 0.7)
    loss = multi_similarity_from_similarities(T([[0.5]]), T([[0.7, 0.1]]), 2.0, 50.0, 0.5, 0.1)
    expected = math.log(2) / 2 + math.log1p(math.exp(10)) / 50
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # an easy anchor: nothing is mined, the loss is exactly 0
    assert multi_similarity_from_similarities(T([[0.9]]), T([[0.1]])).item() == 0


def test_multi_similarity_batch_form_agrees_with_a_loop():
    g = torch.Generator().manual_seed(1)
    E = torch.nn.functional.normalize(torch.randn(12, 6, generator=g, dtype=torch.float64), dim=1)
    labels = [0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4]  # label 4 has a single image: no positive, zero loss
    alpha, beta, base, eps = 2.0, 10.0, 0.3, 0.1
    S = (E @ E.T).numpy()
    terms = []
    for i in range(12):
        pos = [S[i, j] for j in range(12) if j != i and labels[j] == labels[i]]
        neg = [S[i, j] for j in range(12) if labels[j] != labels[i]]
        if not pos:
            terms.append(0.0)
            continue
        pk = [s for s in pos if s - eps < max(neg)]
        nk = [s for s in neg if s + eps > min(pos)]
        terms.append(math.log1p(sum(math.exp(-alpha * (s - base)) for s in pk)) / alpha
                     + math.log1p(sum(math.exp(beta * (s - base)) for s in nk)) / beta)
    loss = multi_similarity_loss(E, labels, alpha, beta, base, eps)
    assert loss.item() == pytest.approx(np.mean(terms))
    loss_sum = multi_similarity_loss(E, labels, alpha, beta, base, eps, reduction="sum")
    assert loss_sum.item() == pytest.approx(np.sum(terms))


def test_multi_similarity_module_on_tuples():
    E = unit([1, 0], [0.6, 0.8], [0.8, 0.6], [0, 1])
    sp, sn = tuple_similarities(E, 2)
    assert MultiSimilarityLoss(2)(E).item() == pytest.approx(multi_similarity_from_similarities(sp, sn).item())


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("module", [ContrastiveLoss(0.7, 2), TripletLoss(0.1, 2), ContrastiveSimilarityLoss(0.5, 2),
                                    MultiSimilarityLoss(2)])
def test_a_gradient_step_pulls_the_positive_and_pushes_the_negatives(module, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(4, 16, generator=g), dim=1)
    x = torch.stack([x[0], x[0] + 0.6 * x[1], x[0] + 0.5 * x[2], x[0] + 0.5 * x[3]])  # hard negatives
    x = torch.nn.functional.normalize(x, dim=1).requires_grad_(True)
    loss = module(x)
    loss.backward()
    assert torch.isfinite(x.grad).all() and loss.item() > 0
    with torch.no_grad():
        y = torch.nn.functional.normalize(x - 0.05 * x.grad / x.grad.norm(), dim=1)
    sp0, sn0 = tuple_similarities(x.detach(), 2)
    sp1, sn1 = tuple_similarities(y, 2)
    assert module(y).item() < loss.item()
    assert sp1.item() > sp0.item() or (sn1 < sn0).all()


# ------------------------------------------------------------------------------------- mining
def test_hard_negatives_by_hand():
    Q = np.array([[1.0, 0.0]])
    P = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.1, 0.9]])
    labels = [0, 1, 1, 2, 3]  # pool item 0 shares the query's landmark
    np.testing.assert_array_equal(hard_negatives(Q, [0], P, labels, 3), [[1, 3, 4]])  # one per landmark
    np.testing.assert_array_equal(hard_negatives(Q, [0], P, labels, 3, diverse=False), [[1, 2, 3]])
    np.testing.assert_array_equal(hard_negatives(Q, [0], P, labels, 4), [[1, 3, 4, -1]])  # pool exhausted


def test_hard_negatives_rules_on_random_data():
    rng = np.random.default_rng(0)
    Q, P = rng.normal(size=(30, 8)), rng.normal(size=(300, 8))
    ql, pl = rng.integers(0, 10, 30), rng.integers(0, 10, 300)
    neg = hard_negatives(Q, ql, P, pl, 5)
    S = Q @ P.T
    for i in range(30):
        assert (pl[neg[i]] != ql[i]).all(), "a negative from the query's landmark"
        assert len(set(pl[neg[i]])) == 5, "two negatives from one landmark"
        assert (np.diff(S[i, neg[i]]) <= 0).all(), "not hardest first"
        # the hardest of each landmark, and no unchosen landmark has a harder image than the last one
        for j in neg[i]:
            assert S[i, j] == S[i, pl == pl[j]].max()
        others = (pl != ql[i]) & ~np.isin(pl, pl[neg[i]])
        assert S[i, others].max() <= S[i, neg[i][-1]]


def test_random_negatives_are_of_other_distinct_landmarks():
    labels = np.repeat(np.arange(8), 5)
    neg = random_negatives(np.random.default_rng(0), [0, 3], labels, 5)
    for q, row in zip([0, 3], neg):
        assert (labels[row] != q).all() and len(set(labels[row])) == 5
    with pytest.raises(ValueError, match="labels"):
        random_negatives(np.random.default_rng(0), [0], labels, 8)


def _toy_geometry():
    """4 landmarks x 6 images; support = co-observed points, diagonal = own count."""
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(4), 6)
    points = rng.random((24, 40)) < 0.5
    support = (points.astype(int) @ points.T.astype(int)) * (labels[:, None] == labels[None, :])
    scale = np.exp(np.abs(rng.normal(0, 0.5, (24, 24))))
    scale = np.maximum(scale, scale.T)
    return labels, support, scale


def test_select_positives_strategies():
    labels, support, scale = _toy_geometry()
    cand = (labels[:, None] == labels[None, :]) & ~np.eye(24, dtype=bool) & (support > 0)
    q = np.arange(24)
    best = select_positives("inliers", q, cand, support=support)
    for i, p in zip(q, best):
        assert labels[p] == labels[i] and p != i
        assert support[i, p] == support[i][cand[i]].max()
    V = np.random.default_rng(0).normal(size=(24, 5))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    for i, p in zip(q, select_positives("descriptor", q, cand, vectors=V)):
        assert V[p] @ V[i] == max(V[j] @ V[i] for j in np.flatnonzero(cand[i]))
    relaxed = select_positives("relaxed", q, cand, support=support, scale_change=scale,
                               rng=np.random.default_rng(0), min_fraction=0.4, max_scale_change=1.5)
    for i, p in zip(q, relaxed):
        ok = cand[i] & (support[i] >= 0.4 * support[i, i]) & (scale[i] <= 1.5)
        assert ok[p] or (not ok.any() and p == best[i])
    with pytest.raises(ValueError, match="support"):
        select_positives("inliers", q, cand)


def test_tuple_miner_rules_and_determinism():
    labels, support, scale = _toy_geometry()
    V = np.random.default_rng(1).normal(size=(24, 6)).astype(np.float32)
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    calls = []

    def embed(idx):
        calls.append(len(idx))
        return V[idx]

    for positives in ("random", "descriptor", "inliers", "relaxed"):
        for negatives in ("hard", "naive", "random"):
            miner = TupleMiner(labels, n_queries=10, pool_size=20, n_negatives=2, positives=positives,
                               negatives=negatives, support=support, scale_change=scale, seed=5)
            t = miner.epoch(1, embed)
            assert len(t) == 10 and len(set(t.queries)) == 10
            for i in range(len(t)):
                q, p, n = t.queries[i], t.positives[i], t.negatives[i]
                assert labels[p] == labels[q] and p != q and support[q, p] > 0
                assert (labels[n] != labels[q]).all()
                if negatives != "naive":
                    assert len(set(labels[n])) == 2
                assert list(t.images(i)) == [q, p, *n]
            again = TupleMiner(labels, n_queries=10, pool_size=20, n_negatives=2, positives=positives,
                               negatives=negatives, support=support, scale_change=scale, seed=5).epoch(1, embed)
            np.testing.assert_array_equal(t.negatives, again.negatives)
            np.testing.assert_array_equal(t.positives, again.positives)
    assert calls, "hard negatives must embed the pool with the current network"
    miner = TupleMiner(labels, n_queries=10, pool_size=24, n_negatives=2, support=support, seed=5)
    assert not np.array_equal(miner.epoch(1, embed).queries, miner.epoch(2, embed).queries)


def test_tuple_miner_hard_negatives_are_the_nearest_of_the_pool():
    labels, support, _ = _toy_geometry()
    V = np.random.default_rng(2).normal(size=(24, 6)).astype(np.float32)
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    miner = TupleMiner(labels, n_queries=24, pool_size=24, n_negatives=3, positives="inliers", support=support)
    t = miner.epoch(0, lambda idx: V[idx])
    for q, n in zip(t.queries, t.negatives):
        expected = hard_negatives(V[[q]], [labels[q]], V, labels, 3)[0]
        np.testing.assert_array_equal(n, expected)


def test_tuple_miner_checks_its_inputs():
    labels, support, _ = _toy_geometry()
    with pytest.raises(ValueError, match="support"):
        TupleMiner(labels, positives="relaxed")
    with pytest.raises(ValueError, match="positives"):
        TupleMiner(labels, positives="best")
    with pytest.raises(ValueError, match="pool_size"):
        TupleMiner(labels, n_queries=4, pool_size=3, n_negatives=3, positives="random").epoch(
            0, lambda idx: np.eye(24, 4)[idx])
    with pytest.raises(ValueError, match="embed"):
        TupleMiner(labels, positives="random").epoch(0)
    with pytest.raises(ValueError, match="different landmarks"):
        TupleMiner(labels, positives="given", pairs=([0], [7]))


def test_given_pairs():
    labels, _, _ = _toy_geometry()
    miner = TupleMiner(labels, n_queries=2, pool_size=24, n_negatives=2, positives="given", negatives="random",
                       pairs=([0, 6, 12], [1, 7, 13]))
    t = miner.epoch(0)
    assert set(zip(t.queries, t.positives)) <= {(0, 1), (6, 7), (12, 13)}


def test_co_observed_cells_and_scale_changes_by_hand():
    grid = 4
    a = np.zeros((grid, grid), bool)
    a[:2] = True          # image 0 sees the top half of the facade (8 cells)
    b = np.zeros((grid, grid), bool)
    b[1:3] = True         # image 1 the middle rows (8 cells, 4 shared)
    scale = np.diag([2.0, 2.0, 1.0])  # image 1 sees the facade twice as large
    records = [{"landmark": 0, "vis_grid": [np.packbits(a.ravel())], "H": [np.eye(3)]},
               {"landmark": 0, "vis_grid": [np.packbits(b.ravel())], "H": [scale]},
               {"landmark": 1, "vis_grid": [np.packbits(a.ravel())], "H": [np.eye(3)]}]
    np.testing.assert_array_equal(co_observed_cells(records), [[8, 4, 0], [4, 8, 0], [0, 0, 8]])
    R = scale_changes(records, {0: [(40, 40)], 1: [(40, 40)]}, grid)
    assert R[0, 1] == pytest.approx(2.0) and R[1, 0] == pytest.approx(2.0)
    assert R[0, 0] == pytest.approx(1.0) and np.isinf(R[0, 2])


def test_synth_geometry_of_the_test_database_by_hand(tmp_path):
    import pickle

    from rrlib.learn import synth_geometry

    grid = 4
    a = np.zeros((grid, grid), bool)
    a[:2] = True          # view 0 of test landmark 3: the top half of the facade (8 cells)
    b = np.zeros((grid, grid), bool)
    b[1:3] = True         # view 1: the middle rows (8 cells, 4 shared), seen twice as large
    rec = lambda name, lid, vis, H: {"name": name, "landmark": lid, "vis_grid": [np.packbits(vis.ravel())], "H": [H]}
    meta = {"grid": grid, "landmarks": {3: {"texture_size": [(40, 40)]}},
            "db": [rec("tower_0", 3, a, np.eye(3)), rec("distractor_0", 155, a, np.eye(3)),
                   rec("tower_1", 3, b, np.diag([2.0, 2.0, 1.0]))]}
    with open(tmp_path / "meta_fake.pkl", "wb") as f:
        pickle.dump(meta, f)
    data = SimpleNamespace(name="fake", folder=tmp_path, imlist=["tower_0", "distractor_0", "tower_1"])
    cells, scale = synth_geometry(data, part="db")
    # the distractor (landmark 155, not a test landmark) co-observes nothing, not even with itself
    np.testing.assert_array_equal(cells, [[8, 0, 4], [0, 0, 0], [4, 0, 8]])
    np.testing.assert_allclose(scale, [[1, np.inf, 2], [np.inf, np.inf, np.inf], [2, np.inf, 1]])
    with pytest.raises(ValueError, match="other database images"):
        synth_geometry(SimpleNamespace(name="fake", folder=tmp_path, imlist=["tower_0", "tower_1", "distractor_0"]),
                       part="db")
    with pytest.raises(ValueError, match="part"):
        synth_geometry(data, part="queries")
    with pytest.raises(FileNotFoundError):
        synth_geometry(data)   # no train_fake.pkl


# ------------------------------------------------------------------------------------ training
@pytest.fixture(scope="module")
def synth():
    from rrlib.datasets import load
    from rrlib.learn import synth_geometry

    data = load("synth-landmarks", download=True)
    return data, synth_geometry(data)


def test_synth_geometry(synth):
    from rrlib.datasets import training_split

    data, (cells, scale) = synth
    _, labels = training_split(data)
    assert cells.shape == scale.shape == (len(labels), len(labels))
    across = labels[:, None] != labels[None, :]
    assert (cells[across] == 0).all() and np.isinf(scale[across]).all()
    same = ~across & ~np.eye(len(labels), dtype=bool) & (cells > 0)
    assert same.sum(1).mean() > 20  # most views of a landmark share facade cells
    assert (scale[same] >= 1).all() and np.median(scale[same]) < 2

    from rrlib.evaluate import item_labels
    from rrlib.learn import synth_geometry

    db_cells, db_scale = synth_geometry(data, part="db")
    assert db_cells.shape == db_scale.shape == (len(data.imlist), len(data.imlist))
    positives = np.isin(item_labels(data.gnd, len(data.imlist)), ("easy", "hard"))
    q_pos = np.flatnonzero(positives[0])
    # a query's positives are views of one test landmark: most pairs of them share cells
    assert (db_cells[np.ix_(q_pos, q_pos)] > 0).mean() > 0.5
    no_landmark = np.diag(db_cells) == 0   # distractors and scenes
    assert no_landmark.sum() > 0 and (db_cells[no_landmark] == 0).all() and np.isinf(db_scale[no_landmark]).all()


def test_retrieval_net_is_the_off_the_shelf_network_before_training():
    from rrlib.learn import RetrievalNet, embed_maps
    from rrlib.nets import backbone, gem, l2n

    net = RetrievalNet("mobilenet_v2", train_blocks=4)
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        ref = l2n(gem(backbone("mobilenet_v2")(x)))
        torch.testing.assert_close(net(x), ref, atol=1e-5, rtol=1e-4)
        maps = [net.frozen(x[:1])[0], net.frozen(x[1:].transpose(2, 3))[0], net.frozen(x[1:])[0]]
        together = embed_maps(net, maps)
        torch.testing.assert_close(together, torch.cat([net.embed(m[None]) for m in maps]), atol=1e-5, rtol=1e-4)
    assert len(net.frozen) == 15 and len(net.head) == 4
    assert not any(p.requires_grad for p in net.frozen.parameters())
    assert all(p.requires_grad for p in net.head.parameters())
    net.train()
    assert all(not m.training for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with pytest.raises(ValueError, match="train_blocks"):
        RetrievalNet("mobilenet_v2", train_blocks=30)


#: the integration test's run: small images (128 px), 3 short epochs (about 7 s on 2 cores)
QUICK = TrainConfig(n_queries=100, pool_size=300, epochs=3, image_size=128, lr=1e-4, seed=0)


def test_finetuning_lowers_the_loss_and_beats_the_off_the_shelf_network(synth, tmp_path, monkeypatch):
    """Directional [S4]: a short seeded run on synth-landmarks' training split lowers the loss and
    raises E/M/H mAP on its test split; hard negatives beat random ones; the run is
    deterministic and is saved and loaded back.

    A pin of one seed's measured behaviour (seed 0, one thread), not a claim about every seed: one
    seed keeps the test at about 30 s. Measured once for seeds 0-3 (helper run, one thread): the
    loss fell every epoch for all four, mAP rose by 12.0-19.4 points (asserted: > 5) and hard
    negatives beat random ones by 5.8-13.6 points on Medium and Hard (asserted: > 3)."""
    import rrlib.learn.train as train_module
    from rrlib.datasets import training_split
    from rrlib.learn import finetune, load_run

    monkeypatch.setattr(train_module, "_run_dir", lambda key: tmp_path / key)
    data, (cells, scale) = synth
    hard = finetune(data, QUICK, support=cells, scale_change=scale)
    before, after = hard.before, hard.after
    losses = [h["loss"] for h in hard.history[1:]]
    assert losses == sorted(losses, reverse=True), hard.history
    for setup in ("easy", "medium", "hard"):
        assert after[setup] > before[setup] + 5, hard.history
    rand = finetune(data, replace(QUICK, negatives="random"), support=cells,
                    scale_change=scale)
    for setup in ("medium", "hard"):
        assert hard.after[setup] > rand.after[setup] + 3, (hard.history, rand.history)

    miner = train_module.make_miner(QUICK, training_split(data)[1], support=cells, scale_change=scale)
    loaded = load_run(QUICK, data, miner)
    assert loaded is not None and loaded.cached and loaded.history == hard.history
    for k, v in hard.model.trained_state().items():
        torch.testing.assert_close(loaded.model.trained_state()[k], v, rtol=0, atol=0)
    (tmp_path / hard.key / "model.pt").write_bytes(b"corrupt")  # reported, then retrained by finetune
    with pytest.warns(UserWarning, match="model.pt.*unreadable"):
        assert load_run(QUICK, data, miner) is None
    assert load_run(QUICK, data, miner, with_model=False).history == hard.history
    one = finetune(data, replace(QUICK, epochs=1), support=cells, scale_change=scale,
                   cache=False)
    untimed = [{k: v for k, v in h.items() if k != "seconds"} for h in hard.history[:2]]
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in one.history] == untimed


def test_full_network_training_reads_images_when_needed(synth):
    """``train_blocks=None`` (the paper setting): nothing is frozen, images are read on demand and
    the whole network is trained; a tiny run on small images goes through the same loop."""
    from rrlib.datasets import training_split
    from rrlib.learn import RetrievalNet, dataset_maps, finetune
    from rrlib.nets import to_tensor

    data, (cells, scale) = synth
    net = RetrievalNet("mobilenet_v2", train_blocks=None)
    assert len(net.frozen) == 0 and len(net.head) == 19
    maps = dataset_maps(net, data, 64, which=("train",), cache=False)["train"]
    assert maps.maps is None
    torch.testing.assert_close(maps[3], to_tensor(training_split(data)[0][3], 64))
    config = replace(QUICK, train_blocks=None, image_size=64, n_queries=10, pool_size=60, epochs=1)
    r = finetune(data, config, support=cells, scale_change=scale, cache=False)
    assert len(r.history) == 2 and r.history[1]["loss"] > 0
    before = RetrievalNet("mobilenet_v2", train_blocks=None).state_dict()
    changed = [k for k, v in r.model.state_dict().items()
               if v.dtype.is_floating_point and not torch.equal(v, before[k])]
    assert any(k.startswith("head.0.") for k in changed), "the first block must be trained too"
    assert not any("running_mean" in k or "running_var" in k for k in changed), "BatchNorm statistics must stay"


def test_frozen_maps_are_cached_exactly(synth, tmp_path):
    from rrlib.datasets import training_split
    from rrlib.learn import FrozenMaps, RetrievalNet

    data, _ = synth
    net = RetrievalNet("mobilenet_v2", train_blocks=4)
    images = training_split(data)[0][:5]
    first = FrozenMaps(net, images, 96, cache_file=tmp_path / "maps.pt")
    again = FrozenMaps(net, images, 96, cache_file=tmp_path / "maps.pt")
    assert (tmp_path / "maps.pt").is_file() and len(again) == 5
    for a, b in zip(first.maps, again.maps):
        assert a.shape[0] == 160 and torch.equal(a, b)
    with torch.no_grad():
        from rrlib.nets import to_tensor

        direct = net.frozen(to_tensor(images[0], 96)[None])[0]
    torch.testing.assert_close(first[0], direct, atol=1e-5, rtol=1e-4)


def test_frozen_maps_cache_follows_the_pictures_and_reports_a_corrupt_file(synth, tmp_path, monkeypatch):
    """dataset_maps is keyed by the images' content (regenerated pictures under the same names
    used to reuse the old maps); an unreadable cache file is reported, recomputed and overwritten."""
    from PIL import Image

    from rrlib.learn import RetrievalNet, dataset_maps

    monkeypatch.setenv("RRLIB_DATA", str(tmp_path / "root"))
    data, _ = synth
    net = RetrievalNet("mobilenet_v2", train_blocks=4)
    rng = np.random.default_rng(0)
    paths = [tmp_path / f"t{i}.png" for i in range(3)]
    for p in paths:
        Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(p)
    train = (paths, np.array([0, 0, 1]))
    first = dataset_maps(net, data, 64, train=train, which=("train",), progress=False)["train"]
    Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)).save(paths[1])  # regenerated
    second = dataset_maps(net, data, 64, train=train, which=("train",), progress=False)["train"]
    assert torch.equal(first[0], second[0]) and not torch.equal(first[1], second[1])
    files = list((tmp_path / "root" / "features" / "cache").glob("learn-maps_synth-landmarks_train_*.pt"))
    assert len(files) == 2
    for file in files:
        file.write_bytes(file.read_bytes()[:50])
    with pytest.warns(UserWarning, match="learn-maps_synth-landmarks_train_.*unreadable"):
        third = dataset_maps(net, data, 64, train=train, which=("train",), progress=False)["train"]
    assert all(torch.equal(a, b) for a, b in zip(second.maps, third.maps))
    assert sum(len(f.read_bytes()) > 50 for f in files) == 1  # overwritten with a whole file
    with pytest.raises(ValueError, match="dataset name"):
        dataset_maps(net, SimpleNamespace(name="../x"), 64, train=train, which=("train",))


def test_given_train_maps_give_the_same_run(synth, tmp_path, monkeypatch):
    """finetune(train_maps=...) with the maps dataset_maps computes trains exactly the same network,
    and FrozenMaps(maps=...) keeps the given tensors (notebook 04's over-fitting check assembles its
    training maps from cached parts)."""
    import rrlib.learn.train as train_module
    from rrlib.datasets import training_split
    from rrlib.learn import FrozenMaps, RetrievalNet, dataset_maps, finetune

    monkeypatch.setattr(train_module, "_run_dir", lambda key: tmp_path / key)
    data, (cells, scale) = synth
    config = replace(QUICK, epochs=1)
    net = RetrievalNet("mobilenet_v2", config.train_blocks)
    given = dataset_maps(net, data, config.image_size, which=("train",), progress=False)["train"].maps
    paths = training_split(data)[0]
    kept = FrozenMaps(net, paths, config.image_size, maps=given)
    assert len(kept) == len(paths) and all(kept[i] is given[i] for i in (0, len(paths) - 1))
    with pytest.raises(ValueError, match="one per image"):
        FrozenMaps(net, paths, config.image_size, maps=given[:-1])

    plain = finetune(data, config, support=cells, scale_change=scale, cache=False, progress=False)
    assembled = finetune(data, config, train_maps=list(given), support=cells, scale_change=scale, cache=False,
                         progress=False)
    strip = lambda history: [{k: v for k, v in h.items() if k != "seconds"} for h in history]
    assert strip(assembled.history) == strip(plain.history) and assembled.key == plain.key
    for k, v in plain.model.trained_state().items():
        torch.testing.assert_close(assembled.model.trained_state()[k], v, rtol=0, atol=0)
    with pytest.raises(ValueError, match="frozen blocks"):
        finetune(data, replace(config, train_blocks=None), train_maps=given, support=cells, scale_change=scale,
                 cache=False, progress=False)


def test_run_key_follows_the_training_pictures(synth, tmp_path):
    from rrlib.learn import make_miner, run_key

    data, (cells, scale) = synth
    paths = [tmp_path / f"{i}.bin" for i in range(4)]
    for p in paths:
        p.write_bytes(b"one picture")
    labels = [0, 0, 1, 1]
    miner = make_miner(replace(QUICK, positives="random"), np.array(labels))
    key = run_key(QUICK, data, miner, (paths, labels))
    assert key == run_key(QUICK, data, miner, (paths, labels))
    assert key != run_key(QUICK, data, miner, (paths, [0, 1, 0, 1]))  # other labels
    paths[1].write_bytes(b"another picture")
    assert key != run_key(QUICK, data, miner, (paths, labels))  # same names, other content


def test_sfm120k_training_reads_cirtorch_pickles(tmp_path):
    import pickle

    from rrlib.datasets import DatasetNotFoundError
    from rrlib.learn import sfm120k_training
    from rrlib.learn.sfm import cid_to_path

    with pytest.raises(DatasetNotFoundError, match="rrlib download retrieval-sfm-120k"):
        sfm120k_training(tmp_path)
    cids = ["0123456789abcdef", "fedcba9876543210", "00112233445566ff"]
    db = {"train": {"cids": cids, "cluster": [4, 4, 7], "qidxs": [0], "pidxs": [1]},
          "val": {"cids": cids[:1], "cluster": [4], "qidxs": [], "pidxs": []}}
    (tmp_path / "ims").mkdir()
    with open(tmp_path / "retrieval-SfM-120k.pkl", "wb") as f:
        pickle.dump(db, f)
    paths, clusters, (q, p) = sfm120k_training(tmp_path)
    assert paths[0] == tmp_path / "ims" / "ef" / "cd" / "ab" / cids[0]  # cirtorch's cid2filename
    assert cid_to_path(cids[1], "ims").as_posix() == "ims/10/32/54/" + cids[1]
    np.testing.assert_array_equal(clusters, [4, 4, 7])
    assert list(q) == [0] and list(p) == [1]
