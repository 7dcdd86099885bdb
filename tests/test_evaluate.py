"""Tests of rrlib.evaluate: hand-computed values, the revisitop oracle, bad input."""
import pickle
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from rrlib.evaluate import (
    AP_METHODS,
    EmptyQueryWarning,
    average_precision,
    compute_map,
    compute_map_loop,
    evaluate_revisited,
    precision_at_k,
    precision_recall_curve,
    ranks_from_scores,
    recall_at_k,
    revisited_gnd,
)

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "revisitop"

# The 12-item ranked list of [S0]: T T F T F F T F T T F F.
SLIDE = [1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0]


# ------------------------------------------------------------------ one ranked list
def test_slide_example_standard_ap_is_5641_over_7560():
    # (1/6)(1/1 + 2/2 + 3/4 + 4/7 + 5/9 + 6/10), summed exactly.
    exact = sum(Fraction(t, k) for t, k in [(1, 1), (2, 2), (3, 4), (4, 7), (5, 9), (6, 10)]) / 6
    assert exact == Fraction(5641, 7560)
    assert average_precision(SLIDE) == pytest.approx(5641 / 7560, abs=1e-15)
    assert round(average_precision(SLIDE), 6) == 0.746164


def test_slide_example_two_positives_never_retrieved():
    # n = 8: the same sum of precisions (4.4770) divided by 8.
    assert average_precision(SLIDE, n_relevant=8) == pytest.approx(5641 / 1260 / 8, abs=1e-15)
    assert 5641 / 1260 == pytest.approx(4.4770, abs=1e-4)


@pytest.mark.parametrize(
    "method, expected",
    [
        ("standard", 5641 / 7560),
        # envelope at the positives: 1, 1, .75, .6, .6, .6
        ("interpolated", (1 + 1 + 0.75 + 0.6 + 0.6 + 0.6) / 6),
        # (p0 + p1)/2 per positive: (1+1)/2, (1+1)/2, (2/3+3/4)/2, (3/6+4/7)/2, (4/8+5/9)/2, (5/9+6/10)/2
        ("trapezoid", (1 + 1 + (2 / 3 + 3 / 4) / 2 + (1 / 2 + 4 / 7) / 2 + (1 / 2 + 5 / 9) / 2
                       + (5 / 9 + 6 / 10) / 2) / 6),
        # recall 0, .1, .2, .3 -> 1; .4, .5 -> .75; .6 ... 1 -> .6
        ("voc11", (4 * 1 + 2 * 0.75 + 5 * 0.6) / 11),
    ],
)
def test_slide_example_every_method(method, expected):
    assert average_precision(SLIDE, method=method) == pytest.approx(expected, abs=1e-12)


def test_spec_rounded_values():
    assert round(average_precision(SLIDE, method="interpolated"), 6) == 0.758333
    assert round(average_precision(SLIDE, method="trapezoid"), 6) == 0.724934
    assert round(average_precision(SLIDE, method="voc11"), 4) == 0.7727


def test_missing_positives_scale_every_method_down():
    for method in ("standard", "trapezoid", "interpolated"):
        full = average_precision(SLIDE, method=method)
        assert average_precision(SLIDE, n_relevant=12, method=method) == pytest.approx(full / 2)
    # voc11 with n = 12: recall t/12 reaches .1 at t=2 (p=1), .2 at t=3 (k=4, .75), .3/.4/.5 at
    # t=4,5,6 (envelope .6), and never .6 ... 1, which count 0.
    assert average_precision(SLIDE, n_relevant=12, method="voc11") == pytest.approx(
        (1 + 1 + 0.75 + 0.6 + 0.6 + 0.6) / 11)


def test_precision_recall_curve_by_hand():
    p, r = precision_recall_curve(SLIDE)
    assert p[:4].tolist() == [1, 1, 2 / 3, 3 / 4]
    assert r[:4].tolist() == [1 / 6, 2 / 6, 2 / 6, 3 / 6]
    assert p[-1] == 0.5 and r[-1] == 1.0
    _, r8 = precision_recall_curve(SLIDE, n_relevant=8)
    assert r8[-1] == 6 / 8


def test_precision_at_k_by_hand():
    assert precision_at_k(SLIDE, 1) == 1.0
    assert precision_at_k(SLIDE, 4) == 0.75
    assert precision_at_k(SLIDE, 10) == 0.6
    assert precision_at_k(SLIDE, 24) == 0.25  # ranks past the list count as not relevant


@pytest.mark.parametrize("method", AP_METHODS)
def test_ap_is_one_iff_all_positives_come_first(method):
    assert average_precision([1, 1, 1, 0, 0], method=method) == 1.0
    assert average_precision([1, 1, 0, 1, 0], method=method) < 1.0
    assert average_precision([1, 0, 0, 0], n_relevant=2, method=method) < 1.0


def test_ap_accepts_bools_and_rejects_bad_labels():
    assert average_precision([True, False, True]) == pytest.approx((1 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="0/1"):
        average_precision([1, 2, 0])
    with pytest.raises(ValueError, match="NaN"):
        average_precision([1.0, np.nan])
    with pytest.raises(ValueError, match="1-D"):
        average_precision([[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="no relevant"):
        average_precision([0, 0, 0])
    with pytest.raises(ValueError, match="smaller"):
        average_precision([1, 1, 0], n_relevant=1)
    with pytest.raises(ValueError, match="unknown AP method"):
        average_precision(SLIDE, method="11pt")


# ------------------------------------------------------------------ compute_map by hand
def test_junk_is_deleted_before_ap():
    # Ranking 3 0 5 1 2 4, positives {0, 1}, junk {5}: positive 1 moves from position 3 to 2.
    ranks = np.array([[3, 0, 5, 1, 2, 4]]).T
    m, aps, pr, prs = compute_map(ranks, [{"ok": [0, 1], "junk": [5]}], kappas=(1, 5, 10))
    # j=0 at r=1: (0/1 + 1/2)/2 ; j=1 at r=2: (1/2 + 2/3)/2 ; divided by 2 positives
    assert m == pytest.approx(((0 + 1 / 2) / 2 + (1 / 2 + 2 / 3) / 2) / 2)
    assert m == pytest.approx(5 / 12)
    # 1-based positions 2 and 3: P@1 = 0, P@5 capped at 3 -> 2/3, P@10 -> 2/3.
    assert prs[0].tolist() == pytest.approx([0, 2 / 3, 2 / 3])
    # Without the junk the same ranking scores lower.
    m_nojunk, *_ = compute_map(ranks, [{"ok": [0, 1]}])
    assert m_nojunk == pytest.approx(((0 + 1 / 2) / 2 + (1 / 3 + 2 / 4) / 2) / 2)
    assert m_nojunk < m


def test_inserting_junk_anywhere_never_changes_ap():
    rng = np.random.default_rng(0)
    base = rng.permutation(30)
    ok = base[[2, 5, 11, 17]]
    m0, *_ = compute_map(base[:, None], [{"ok": ok}], n_db=40)
    for _ in range(20):
        ranking = base.tolist()
        for item in range(30, 40):  # junk items inserted at random places
            ranking.insert(int(rng.integers(0, len(ranking) + 1)), item)
        m, *_ = compute_map(np.array(ranking)[:, None], [{"ok": ok, "junk": np.arange(30, 40)}])
        assert m == pytest.approx(m0, abs=1e-15)


def test_mpk_is_capped_at_the_last_positive():
    ranks = np.arange(20)[:, None]
    _, _, pr, _ = compute_map(ranks, [{"ok": [0, 1, 2]}], kappas=(1, 5, 10))
    assert pr.tolist() == [1.0, 1.0, 1.0]  # not 3/5 and 3/10
    _, _, pr, _ = compute_map(ranks, [{"ok": [0, 1, 12]}], kappas=(1, 5, 10))
    assert pr.tolist() == pytest.approx([1.0, 2 / 5, 2 / 10])


def test_queries_without_positives_are_excluded_and_reported():
    ranks = np.tile(np.arange(10)[:, None], (1, 3))
    gnd = [{"ok": [0]}, {"ok": []}, {"ok": [1]}]
    with pytest.warns(EmptyQueryWarning, match=r"\[1\]"):
        m, aps, pr, prs = compute_map(ranks, gnd)
    assert np.isnan(aps[1]) and np.isnan(prs[1]).all()
    # trapezoid APs 1 and (0/1 + 1/2)/2, divided by 2 queries, not 3
    assert m == pytest.approx((1.0 + 0.25) / 2)
    with pytest.raises(ValueError, match="no positive"):
        compute_map(ranks, gnd, on_empty="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compute_map(ranks, gnd, on_empty="exclude")
    with pytest.raises(ValueError, match="undefined"):
        compute_map(ranks, [{"ok": []}] * 3, on_empty="exclude")


def test_truncated_rankings_count_missing_positives_as_zero():
    ranks = np.array([[4, 7, 1]]).T  # top-3 of a 10-item database
    m, _, pr, _ = compute_map(ranks, [{"ok": [1, 9]}], kappas=(1, 5), n_db=10)
    # positive 1 at 0-based position 2: (0/2 + 1/3)/2, divided by n = 2; positive 9 adds 0.
    assert m == pytest.approx(1 / 12)
    assert pr.tolist() == pytest.approx([0.0, 1 / 3])
    m, _, pr, _ = compute_map(ranks, [{"ok": [9]}], kappas=(1, 5), n_db=10)
    assert m == 0.0 and pr.tolist() == [0.0, 0.0]


# ------------------------------------------------------------------ the oracle
def _random_case(rng, n_db, nq, with_empty=True):
    ranks = np.stack([rng.permutation(n_db) for _ in range(nq)], axis=1)
    gnd = []
    for _ in range(nq):
        items = rng.permutation(n_db)
        n_ok = int(rng.integers(0 if with_empty else 1, max(2, n_db // 3)))
        n_junk = int(rng.integers(0, max(1, n_db // 4)))
        gnd.append({"ok": items[:n_ok], "junk": items[n_ok : n_ok + n_junk]})
    return ranks, gnd


@pytest.mark.parametrize("seed", range(40))
def test_vectorised_agrees_with_the_revisitop_loop(seed):
    rng = np.random.default_rng(seed)
    n_db = int(rng.integers(1, 300))
    nq = int(rng.integers(1, 12))
    ranks, gnd = _random_case(rng, n_db, nq)
    if all(len(g["ok"]) == 0 for g in gnd):
        gnd[0]["ok"] = np.array([0])
    kappas = (1, 3, 5, 10, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyQueryWarning)
        got = compute_map(ranks, gnd, kappas)
    want = compute_map_loop(ranks, gnd, kappas)
    assert abs(got[0] - want[0]) <= 1e-12
    np.testing.assert_allclose(got[1], want[1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got[2], want[2], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got[3], want[3], rtol=0, atol=1e-12)


def test_vectorised_agrees_with_the_loop_across_memory_chunks():
    # Enough queries x items that the lookup table and the row blocks are split.
    rng = np.random.default_rng(1)
    n_db, nq = 3000, 40
    ranks, gnd = _random_case(rng, n_db, nq, with_empty=False)
    import rrlib.evaluate as ev

    got = ev.compute_map(ranks, gnd)
    want = compute_map_loop(ranks, gnd)
    np.testing.assert_allclose(got[1], want[1], atol=1e-12, rtol=0)
    np.testing.assert_allclose(got[3], want[3], atol=1e-12, rtol=0)


def test_standard_ap_of_one_list_matches_the_trapezoid_limit():
    # compute_map uses the trapezoid rule: on one list it equals average_precision(trapezoid).
    rng = np.random.default_rng(3)
    for _ in range(20):
        rel = rng.random(50) < 0.3
        rel[0] |= not rel.any()
        ranks = np.arange(50)[:, None]
        m, *_ = compute_map(ranks, [{"ok": np.flatnonzero(rel)}])
        assert m == pytest.approx(average_precision(rel, method="trapezoid"), abs=1e-12)


# ------------------------------------------------------------------ the revisited protocol
GND_TOY = [
    {"easy": [0, 1], "hard": [2], "junk": [3], "bbx": [0, 0, 10, 10]},
    {"easy": [], "hard": [4, 5], "junk": [], "bbx": [0, 0, 10, 10]},
]


def test_easy_medium_hard_construction():
    e, m, h = (revisited_gnd(GND_TOY, s) for s in ("easy", "medium", "hard"))
    assert e[0]["ok"].tolist() == [0, 1] and sorted(e[0]["junk"].tolist()) == [2, 3]
    assert m[0]["ok"].tolist() == [0, 1, 2] and m[0]["junk"].tolist() == [3]
    assert h[0]["ok"].tolist() == [2] and sorted(h[0]["junk"].tolist()) == [0, 1, 3]
    assert e[1]["ok"].tolist() == [] and h[1]["ok"].tolist() == [4, 5]
    assert revisited_gnd(GND_TOY, "M")[0]["ok"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="unknown setup"):
        revisited_gnd(GND_TOY, "medium-hard")


def test_evaluate_revisited_by_hand():
    # Query 0 ranks 2 3 0 4 1 5; query 1 ranks 4 0 1 5 2 3.
    ranks = np.array([[2, 3, 0, 4, 1, 5], [4, 0, 1, 5, 2, 3]]).T
    res = evaluate_revisited(ranks, GND_TOY, kappas=(1, 5))
    # Easy, query 0: 2 and 3 are junk -> 0 at 1, 1 at 3 (0-based 0 and 2): (1 + (1/2+2/3)/2)/2
    assert res.map["easy"] == pytest.approx(100 * (1 + (1 / 2 + 2 / 3) / 2) / 2)
    assert res.excluded == {"easy": [1], "medium": [], "hard": []}
    # Medium: q0 junk 3 -> 2 0 4 1: positives at 0,1,3 ; q1: 4 0 1 5: positives at 0 and 3.
    q0 = (1 + 1 + (2 / 3 + 3 / 4) / 2) / 3
    q1 = (1 + (1 / 3 + 2 / 4) / 2) / 2
    assert res.map["medium"] == pytest.approx(100 * (q0 + q1) / 2)
    # Hard: q0 junk {0,1,3}: 2 first -> 1; q1 same as medium (no easy).
    assert res.map["hard"] == pytest.approx(100 * (1 + q1) / 2)
    # P@5 capped at the last positive: q0 3 of 4, q1 2 of 4.
    assert res.mpk["medium"].tolist() == pytest.approx([100.0, 100 * (3 / 4 + 2 / 4) / 2])
    text = str(res)
    assert "mAP E:" in text and "M:" in text and "H:" in text and "excluded" in text


def test_evaluate_revisited_accepts_scores():
    rng = np.random.default_rng(0)
    scores = rng.random((6, 2))
    a = evaluate_revisited(scores, GND_TOY)
    b = evaluate_revisited(ranks_from_scores(scores), GND_TOY)
    assert a.map == b.map


def test_medium_without_positives_is_an_error():
    broken = [{"easy": [], "hard": [], "junk": [1]}, GND_TOY[0]]
    with pytest.raises(ValueError, match="no positive"):
        evaluate_revisited(np.tile(np.arange(6)[:, None], (1, 2)), broken)


# ------------------------------------------------------------------ bad input
def test_clear_errors_for_bad_input():
    ranks = np.tile(np.arange(6)[:, None], (1, 2))
    gnd = [{"ok": [0]}, {"ok": [1]}]
    with pytest.raises(ValueError, match="transposed"):
        compute_map(ranks.T, gnd)
    with pytest.raises(ValueError, match="2 columns"):
        compute_map(ranks, gnd[:1])
    with pytest.raises(ValueError, match="integer"):
        compute_map(ranks.astype(float), gnd)
    with pytest.raises(ValueError, match="outside"):
        compute_map(ranks, [{"ok": [0]}, {"ok": [6]}])
    with pytest.raises(ValueError, match="outside"):
        compute_map(ranks - 1, gnd)
    with pytest.raises(ValueError, match="both positive and junk"):
        compute_map(ranks, [{"ok": [0]}, {"ok": [1], "junk": [1]}])
    with pytest.raises(ValueError, match="more than once"):
        compute_map(np.array([[0, 0, 1]]).T, [{"ok": [0]}])
    with pytest.raises(ValueError, match="ragged"):
        compute_map(np.array([[0, 1], [1]], dtype=object), gnd)
    with pytest.raises(ValueError, match="'ok'"):
        compute_map(ranks, GND_TOY)
    with pytest.raises(ValueError, match="NaN"):
        ranks_from_scores(np.array([[0.1, np.nan], [0.3, 0.2]]))
    with pytest.raises(ValueError, match="easy"):
        evaluate_revisited(ranks, gnd)


# ------------------------------------------------------------------ R@K
def test_recall_at_k_by_hand():
    X = np.array([[0.0], [1.0], [3.0], [10.0]])
    y = np.array(["a", "a", "b", "b"])
    # item 3.0 has neighbours 1.0 (a), 0.0 (a), 10.0 (b): first hit at rank 3.
    assert recall_at_k(X, y, ks=(1, 2, 3), metric="euclidean") == {1: 0.75, 2: 0.75, 3: 1.0}


def test_recall_at_k_cosine_ignores_length_and_excludes_the_query():
    X = np.array([[1.0, 0.0], [5.0, 0.1], [0.0, 1.0], [0.1, 3.0]])
    assert recall_at_k(X, [0, 0, 1, 1], ks=(1,)) == {1: 1.0}
    assert recall_at_k(X, [0, 1, 0, 1], ks=(1,)) == {1: 0.0}
    with pytest.raises(ValueError, match="zero embedding"):
        recall_at_k(np.zeros((3, 2)), [0, 0, 1], ks=(1,))
    with pytest.raises(ValueError, match="one label per"):
        recall_at_k(X, [0, 1])
    with pytest.raises(ValueError, match="N-1"):
        recall_at_k(X, [0, 0, 1, 1], ks=(4,))


# ------------------------------------------------------------------ real ground truth
@pytest.fixture(params=["roxford5k", "rparis6k"])
def real_gnd(request):
    path = FIXTURES / f"gnd_{request.param}.pkl"
    if not path.exists():
        pytest.skip(f"{path} not present")
    with open(path, "rb") as f:
        return request.param, pickle.load(f)


def test_real_ground_truth_perfect_ranking_scores_100(real_gnd):
    name, cfg = real_gnd
    n_db, gnd = len(cfg["imlist"]), cfg["gnd"]
    cols = []
    for g in gnd:  # easy, then hard, then junk, then the rest
        head = list(g["easy"]) + list(g["hard"]) + list(g["junk"])
        rest = np.setdiff1d(np.arange(n_db), head)
        cols.append(np.concatenate([head, rest]).astype(np.int64))
    res = evaluate_revisited(np.stack(cols, axis=1), gnd, name=name)
    assert res.map == pytest.approx({"easy": 100.0, "medium": 100.0, "hard": 100.0})
    # ROxford has two queries without easy positives; RParis has none.
    assert len(res.excluded["easy"]) == (2 if name == "roxford5k" else 0)


def test_real_ground_truth_random_scores_match_the_loop(real_gnd):
    name, cfg = real_gnd
    rng = np.random.default_rng(0)
    scores = rng.random((len(cfg["imlist"]), len(cfg["qimlist"])))
    res = evaluate_revisited(scores, cfg["gnd"])
    ranks = ranks_from_scores(scores)
    for setup in ("easy", "medium", "hard"):
        want = compute_map_loop(ranks, revisited_gnd(cfg["gnd"], setup), (1, 5, 10))
        assert res.map[setup] == pytest.approx(100 * want[0], abs=1e-10)
        np.testing.assert_allclose(res.mpk[setup], 100 * want[2], atol=1e-10, rtol=0)
    # A random ranking is far from the top of the table.
    assert res.map["medium"] < 15
