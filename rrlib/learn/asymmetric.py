"""Asymmetric metric learning [S2] (Budnik & Avrithis, "Asymmetric metric learning for knowledge
transfer", CVPR'21, arXiv 2006.16331; code github.com/budnikm/aml): teacher-student losses.

A light **student** ``f_theta`` is trained against a fixed **teacher** ``g``. Here ``f`` is a batch
``(B, d)`` of student embeddings ``f_theta(a)`` and ``g`` a batch ``(N, d)`` of teacher embeddings
``g(x)``; rows are of unit length (as :func:`rrlib.nets.pooling.l2n` gives), so the
similarity is the dot product ``sim(u, v) = u . v``. The teacher never gets a gradient: every
function detaches ``g``. [S2]'s four families:

* **symmetric** (labels, no teacher): the losses of :mod:`rrlib.learn.losses` on
  ``s_theta(a, x) = sim(f_theta(a), f_theta(x))`` (:func:`s_sym`).
* **regression** (teacher, no labels): ``l_R(a) = -sim(f_theta(a), g(a))``
  (:func:`regression_loss`).
* **relational** (teacher, no labels): relations of the same examples agree in both spaces --
  RKD distances and angles (:func:`rkd_distance_loss`, :func:`rkd_angle_loss`, :func:`rkd_loss`)
  and DarkRank's ranks (:func:`darkrank_loss`). They see only distances / angles / ranks, so
  they are invariant to a rotation of either space: a student may match them perfectly in
  coordinates that have nothing to do with the teacher's. That is why they fail in
  *asymmetric testing* (student queries against a teacher database: ~1.5 mAP in [S2]).
* **asymmetric** (labels and teacher): any supervised loss on
  ``s_asym(a, x) = sim(f_theta(a), g(x))`` (:func:`s_asym`): anchors in student space attracted
  to positives, repelled from negatives in teacher space -- :func:`asymmetric_contrastive_loss`
  (Contr), :func:`contr_plus_loss` (Contr+ = Contr + regression), :func:`asymmetric_triplet_loss`,
  :func:`asymmetric_multi_similarity_loss`. They reuse the symmetric implementations of
  :mod:`rrlib.learn.losses` on the asymmetric similarities; with the teacher equal to the student
  (``g = f.detach()``) their value is the symmetric loss (the gradient is not: only the anchor
  side moves).

Batch layout of the supervised losses: anchors ``f`` with ``labels_a (B,)``, teacher examples
``g`` with ``labels_x (N,)``; ``P(a)`` = examples of the anchor's label, ``N(a)`` = the others. With
``paired=True`` row ``i`` of ``g`` is the teacher's embedding of anchor ``i`` itself (``g(a)``),
which is then not its own positive (it is Contr+'s regression term instead). ``labels_x=None``
means the paired case: ``g`` embeds the same ``B`` examples, ``labels_x = labels_a``. Training
tuples ``(q, p, n_1..n_k)`` as in [S4]/cirtorch (and aml's ``ts`` mode: student query, teacher
positive and negatives) go through :func:`asymmetric_tuple_similarities`.

Forms chosen where [S2] is silent (sources in each docstring): ``1 - s`` instead of ``-s`` for
attraction terms (a constant, 0 at a perfect match, as :mod:`rrlib.learn.losses` does); RKD with
the Huber loss and weights 1 (distance) and 2 (angle) of Park et al. and aml; DarkRank with the
score ``-alpha ||a - x||^beta`` (alpha = beta = 3) and a list of the teacher's 4 nearest
neighbours, as in aml; the similarity margin of :mod:`rrlib.learn.losses` (aml trains with
cirtorch's *distance* margin 0.7, i.e. negatives count while ``s > 1 - 0.7^2 / 2 = 0.755``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .losses import (MS_ALPHA, MS_BASE, MS_BETA, MS_EPS, SIMILARITY_MARGIN, TRIPLET_MARGIN, _check_margin, _reduce,
                     contrastive_similarity_loss, multi_similarity_from_similarities, triplet_similarity_loss)

__all__ = ["s_sym", "s_asym", "regression_loss", "rkd_distance_loss", "rkd_angle_loss", "rkd_loss", "darkrank_loss",
           "asymmetric_contrastive_loss", "contr_plus_loss", "asymmetric_triplet_loss",
           "asymmetric_multi_similarity_loss", "asymmetric_tuple_similarities", "AML_LOSSES",
           "RKD_DISTANCE_WEIGHT", "RKD_ANGLE_WEIGHT", "DR_ALPHA", "DR_BETA", "DR_LIST_LEN"]

#: [EXT Park et al. CVPR'19 (metric learning setting); budnikm/aml ``RKdAD``: ``2 * angle + distance``]
RKD_DISTANCE_WEIGHT, RKD_ANGLE_WEIGHT = 1.0, 2.0
#: [EXT budnikm/aml ``HardDarkRank`` defaults] score ``-alpha d^beta``, list of the teacher's 4 nearest
DR_ALPHA, DR_BETA, DR_LIST_LEN = 3.0, 3.0, 4


# ---------------------------------------------------------------------------------- checks
def _matrix(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[0] == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a non-empty (n, d) tensor of embeddings, got {shape}")
    return x


def _pair(f: torch.Tensor, g: torch.Tensor, same_rows: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Checks shapes and detaches the teacher."""
    f, g = _matrix(f, "student f"), _matrix(g, "teacher g")
    if f.shape[1] != g.shape[1]:
        raise ValueError(f"student dimension {f.shape[1]} != teacher dimension {g.shape[1]} "
                         "(adapt the student's output to the teacher's, as [S2] does)")
    if same_rows and f.shape[0] != g.shape[0]:
        raise ValueError(f"{f.shape[0]} student rows but {g.shape[0]} teacher rows: row i of both must be "
                         "the same example")
    return f, g.detach()


def _labels(labels, n: int, name: str, device) -> torch.Tensor:
    labels = torch.as_tensor(labels, device=device)
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"{name} must be one label per row ({n}), got shape {tuple(labels.shape)}")
    return labels


def _masks(f, g, labels_a, labels_x, paired):
    """Asymmetric similarities ``(B, N)`` and the positive / negative masks of a labelled batch."""
    if paired is None:
        paired = labels_x is None
    f, g = _pair(f, g, same_rows=paired)
    la = _labels(labels_a, len(f), "labels_a", f.device)
    lx = la if labels_x is None else _labels(labels_x, len(g), "labels_x", f.device)
    if labels_x is None and len(g) != len(f):
        raise ValueError("labels_x=None means g embeds the anchors themselves; pass labels_x for other examples")
    S = f @ g.T
    same = la[:, None] == lx[None, :]
    pos, neg = same, ~same
    if paired:  # g(a) is not a positive of a (it is the regression term of Contr+)
        pos = pos & ~torch.eye(len(f), len(g), dtype=torch.bool, device=S.device)
    return S, pos, neg


# ----------------------------------------------------------------------------- similarities
def s_sym(f_a: torch.Tensor, f_x: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric similarities ``s_theta(a, x) = sim(f_theta(a), f_theta(x))`` [S2]: ``(B, M)`` matrix
    ``f_a f_x^T`` of unit rows (``f_x=None``: the batch against itself). Both sides get gradients."""
    f_a = _matrix(f_a, "f_a")
    f_x = f_a if f_x is None else _matrix(f_x, "f_x")
    if f_a.shape[1] != f_x.shape[1]:
        raise ValueError(f"dimensions differ: {f_a.shape[1]} and {f_x.shape[1]}")
    return f_a @ f_x.T


def s_asym(f_a: torch.Tensor, g_x: torch.Tensor) -> torch.Tensor:
    """Asymmetric similarities ``s_asym(a, x) = sim(f_theta(a), g(x))`` [S2]: ``(B, N)`` matrix of
    student anchors against teacher examples; the teacher side is detached."""
    f_a, g_x = _pair(f_a, g_x, same_rows=False)
    return f_a @ g_x.T


# ------------------------------------------------------------------------------- regression
def regression_loss(f: torch.Tensor, g: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Regression [S2]: ``l_R(a) = 1 - sim(f_theta(a), g(a))`` per example, reduced over the batch.

    [S2] writes ``-s_asym(a, a)``; ``1 - s`` differs by the constant 1, is 0 when the student
    reproduces the teacher and equals ``||f_theta(a) - g(a)||^2 / 2`` on unit vectors (the MSE
    of feature regression). Row ``i`` of ``f`` and ``g`` is the same example. Not invariant to
    a rotation of the teacher space: it pins absolute coordinates, which asymmetric testing needs.
    """
    f, g = _pair(f, g, same_rows=True)
    return _reduce(1 - (f * g).sum(1), reduction)


# ------------------------------------------------------------------------------- relational
def _distances(x: torch.Tensor, off: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """Off-diagonal Euclidean distances (flattened, row-major); the clamp keeps sqrt's gradient finite."""
    sq = x.pow(2).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2 * x @ x.T)[off].clamp_min(1e-12)
    return d2 if squared else d2.sqrt()


def rkd_distance_loss(f: torch.Tensor, g: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Distance-wise relational knowledge distillation (Park, Kim, Lu & Cho, CVPR'19), one of [S2]'s
    relational losses: ``psi(a, x) = ||a - x|| / mu`` with ``mu`` the mean distance over the
    batch's pairs (``x != a``), each space normalised by its own mean, so the loss is invariant to
    rotations *and* scale of either space. Per ordered pair ``(a, x)``, ``x != a``:
    ``huber(psi(f_a, f_x) - psi(g_a, g_x))``, reduced over the ``B (B - 1)`` pairs.

    Huber is smooth L1 with threshold 1 (``x^2 / 2`` for ``|x| <= 1``, ``|x| - 1/2`` beyond), as RKD
    and budnikm/aml (``RKdAD``) use, rather than [S2]'s ``-sim(psi_student, psi_teacher)``: [S2]
    writes that form to put regression and relational losses in one formula, but for scalar
    ``psi`` a cosine similarity is only a sign. (The reference code averages over all ``B^2``
    entries, diagonal zeros included: a constant factor ``(B - 1) / B``.)
    """
    f, g = _pair(f, g, same_rows=True)
    if len(f) < 2:
        raise ValueError(f"RKD distances need at least 2 examples, got {len(f)}")
    off = ~torch.eye(len(f), dtype=torch.bool, device=f.device)
    ds, dt = _distances(f, off), _distances(g, off)
    ds, dt = ds / ds.mean(), dt / dt.mean()
    return _reduce(F.smooth_l1_loss(ds, dt, reduction="none"), reduction)


def _angles(x: torch.Tensor, distinct: torch.Tensor) -> torch.Tensor:
    """``cos`` of the angle at ``a`` between ``x - a`` and ``y - a``, for distinct ``(a, x, y)``."""
    e = F.normalize(x[None, :, :] - x[:, None, :], dim=2)  # e[a, x] = (x - a) / ||x - a||
    return (e @ e.transpose(1, 2))[distinct]


def rkd_angle_loss(f: torch.Tensor, g: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Angle-wise relational knowledge distillation (Park et al. CVPR'19) [S2]:
    ``psi(a, x, y) = sim((x - a) / ||x - a||, (y - a) / ||y - a||)``, the cosine of the angle at
    ``a``; per ordered triple of distinct examples ``huber(psi_student - psi_teacher)`` (smooth L1,
    threshold 1, as RKD and aml), reduced over the ``B (B - 1) (B - 2)`` triples.

    Invariant to rotation, translation and scale of either space. (The reference code averages
    over all ``B^3`` entries, the degenerate ones contributing 0: a constant factor.) Memory is
    ``O(B^2 d + B^3)``: meant for batches of tens to a few hundred.
    """
    f, g = _pair(f, g, same_rows=True)
    n = len(f)
    if n < 3:
        raise ValueError(f"RKD angles need at least 3 examples, got {n}")
    eye = torch.eye(n, dtype=torch.bool, device=f.device)
    distinct = ~eye[:, :, None] & ~eye[:, None, :] & ~eye[None, :, :]  # a != x, a != y, x != y
    return _reduce(F.smooth_l1_loss(_angles(f, distinct), _angles(g, distinct), reduction="none"), reduction)


def rkd_loss(f: torch.Tensor, g: torch.Tensor, distance_weight: float = RKD_DISTANCE_WEIGHT,
             angle_weight: float = RKD_ANGLE_WEIGHT, reduction: str = "mean") -> torch.Tensor:
    """RKD as trained in [S2]'s table: ``distance_weight * rkd_distance + angle_weight * rkd_angle``
    (weights 1 and 2 of Park et al.'s metric-learning experiments and of budnikm/aml ``RKdAD``)."""
    return (distance_weight * rkd_distance_loss(f, g, reduction)
            + angle_weight * rkd_angle_loss(f, g, reduction))


def darkrank_loss(f: torch.Tensor, g: torch.Tensor, list_len: int | None = DR_LIST_LEN, alpha: float = DR_ALPHA,
                  beta: float = DR_BETA, reduction: str = "mean") -> torch.Tensor:
    """DarkRank [S2] (Chen, Wang & Zhang, AAAI'18, the "hard" listwise form): the teacher ranks each
    anchor's neighbours, the student must give that ranking a high Plackett-Luce likelihood::

        l_DR(a) = - sum_{x in U(a)} ( s(a, x) - log sum_{y in V(a, x)} exp s(a, y) )

    ``U(a)``: the ``list_len`` nearest neighbours of ``a`` in *teacher* space (``None``: all the
    other examples), nearest first; ``V(a, x)``: ``x`` and the members of ``U(a)`` the teacher puts
    farther than ``x`` (``x`` itself is in the denominator, as in Plackett-Luce -- otherwise the
    last term would be the log of an empty sum); ``s`` is the *student* score.

    [S2] writes ``s = s_sym``; Chen et al. and budnikm/aml (``HardDarkRank``) use the score
    ``s(a, x) = -alpha ||f_theta(a) - f_theta(x)||^beta`` with ``alpha = beta = 3`` and a list of
    4, the defaults here. On unit vectors ``beta = 2`` gives ``-alpha (2 - 2 s_sym)``, so
    ``alpha = 1/2, beta = 2`` is exactly [S2]'s formula (each term is shift-invariant); ``alpha``
    acts as an inverse temperature. Only ranks of the teacher are used: invariant to rotations of
    either space. Reduced over the anchors.
    """
    f, g = _pair(f, g, same_rows=True)
    n = len(f)
    if n < 2:
        raise ValueError(f"DarkRank needs at least 2 examples, got {n}")
    if list_len is not None and list_len < 1:
        raise ValueError(f"list_len must be >= 1, got {list_len}")
    k = n - 1 if list_len is None else min(list_len, n - 1)
    off = ~torch.eye(n, dtype=torch.bool, device=f.device)
    # teacher order: squared distances suffice; self excluded explicitly (ties broken by index)
    dt = _distances(g, off, squared=True).reshape(n, n - 1)
    order = torch.sort(dt, dim=1, stable=True)[1][:, :k]
    ds = _distances(f, off, squared=True).reshape(n, n - 1)
    score = -alpha * ds.pow(beta / 2)
    s = torch.gather(score, 1, order)                         # (n, k), teacher's order
    # log sum_{j >= i} exp s_j: a reversed cumulative logsumexp
    tail = torch.logcumsumexp(s.flip(1), dim=1).flip(1)
    return _reduce(-(s - tail).sum(1), reduction)


# ------------------------------------------------------------------------------- asymmetric
def asymmetric_contrastive_loss(f: torch.Tensor, g: torch.Tensor, labels_a, labels_x=None,
                                margin: float = SIMILARITY_MARGIN, *, paired: bool | None = None,
                                reduction: str = "mean") -> torch.Tensor:
    """Asymmetric contrastive loss, [S2]'s Contr: per anchor, with ``s = s_asym``,
    ``sum_{p in P(a)} (1 - s(a, p)) + sum_{n in N(a)} [s(a, n) - m]_+`` ([S2] writes ``-s(a, p)``:
    ``1 - s`` differs by ``|P(a)|``), reduced over the anchors.

    It is :func:`rrlib.learn.losses.contrastive_similarity_loss` on the asymmetric similarities,
    pairs outside ``P(a)`` / ``N(a)`` filled with values that cost nothing (1 as a positive, -1 as
    a negative). The margin is the similarity margin of :mod:`rrlib.learn.losses` [EXT]; the
    margin is not in the seeds, and aml trains with cirtorch's distance margin 0.7 (a negative
    counts while ``||a - n|| < 0.7``, i.e. ``s > 0.755``). See the module docstring for
    ``labels_x`` and ``paired``.
    """
    _check_margin(margin)
    S, pos, neg = _masks(f, g, labels_a, labels_x, paired)
    s_pos = torch.where(pos, S, torch.ones_like(S))
    s_neg = torch.where(neg, S, -torch.ones_like(S))
    return contrastive_similarity_loss(s_pos, s_neg, margin, reduction)


def contr_plus_loss(f: torch.Tensor, g: torch.Tensor, labels_a, labels_x=None, margin: float = SIMILARITY_MARGIN,
                    *, g_self: torch.Tensor | None = None, paired: bool | None = None,
                    reduction: str = "mean") -> torch.Tensor:
    """[S2]'s Contr+: the asymmetric contrastive loss plus the regression term,
    ``l_C+(a) = l_C(a) + (1 - s_asym(a, a))`` ([S2]: ``- s(a, a)``), reduced over the anchors. In
    aml (mode ``ts_self``) the teacher's embedding of the anchor acts as one more positive.

    ``g_self (B, d)`` is the teacher's embedding of the anchors; by default ``g`` itself, which
    requires the paired layout (``labels_x=None`` or ``paired=True``). Best loss of [S2] in
    symmetric testing, second to regression in asymmetric testing.
    """
    if paired is None:
        paired = labels_x is None
    if g_self is None:
        if not paired:
            raise ValueError("Contr+ needs the teacher's embedding of the anchors: pass g_self or use the paired "
                             "layout (labels_x=None)")
        g_self = g
    return (asymmetric_contrastive_loss(f, g, labels_a, labels_x, margin, paired=paired, reduction=reduction)
            + regression_loss(f, g_self, reduction))


def asymmetric_triplet_loss(f: torch.Tensor, g: torch.Tensor, labels_a, labels_x=None,
                            margin: float = TRIPLET_MARGIN / 2, *, paired: bool | None = None,
                            reduction: str = "mean") -> torch.Tensor:
    """Asymmetric triplet loss [S2]: ``[s_asym(a, n) - s_asym(a, p) + m]_+`` over every triplet with
    ``p in P(a)``, ``n in N(a)``, reduced over the triplets (0 with a gradient if there is none).

    :func:`rrlib.learn.losses.triplet_similarity_loss` on the asymmetric similarities; the default
    margin is its own (``0.05``, i.e. cirtorch's 0.1 on squared distances). In [S2] it fails in
    asymmetric testing: only differences of similarities are constrained.
    """
    _check_margin(margin)
    S, pos, neg = _masks(f, g, labels_a, labels_x, paired)
    a, p, n = torch.nonzero(pos[:, :, None] & neg[:, None, :], as_tuple=True)
    if len(a) == 0:
        return (S * 0).sum()
    return triplet_similarity_loss(S[a, p], S[a, n], margin, reduction)


def asymmetric_multi_similarity_loss(f: torch.Tensor, g: torch.Tensor, labels_a, labels_x=None,
                                     alpha: float = MS_ALPHA, beta: float = MS_BETA, base: float = MS_BASE,
                                     eps: float = MS_EPS, *, paired: bool | None = None,
                                     reduction: str = "mean") -> torch.Tensor:
    """Asymmetric multi-similarity loss [S2]: :func:`rrlib.learn.losses.multi_similarity_from_similarities`
    (pair mining, then ``1/alpha log(1 + sum_p e^{-alpha (s_p - lambda)}) + 1/beta log(1 + sum_n
    e^{beta (s_n - lambda)})``) on ``s_asym``, reduced over the anchors; same defaults as the
    symmetric loss. Like the triplet loss it fails in [S2]'s asymmetric testing.
    """
    S, pos, neg = _masks(f, g, labels_a, labels_x, paired)
    return multi_similarity_from_similarities(S, S, alpha, beta, base, eps, pos_mask=pos, neg_mask=neg,
                                              reduction=reduction)


def asymmetric_tuple_similarities(student: torch.Tensor, teacher: torch.Tensor, n_negatives: int,
                                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``s_asym(q, p) (B, 1)``, ``s_asym(q, n_j) (B, k)`` and ``s_asym(q, q) (B, 1)`` of training tuples
    ``(q, p, n_1..n_k)`` stacked tuple after tuple (``(B (2 + k), d)``, the layout of
    :func:`rrlib.learn.losses.tuple_similarities`): the student embeds the query, the teacher the
    positive and negatives (and the query, for Contr+'s regression term). Rows of ``student``
    other than the queries are not used. Feed the first two to
    :func:`~rrlib.learn.losses.contrastive_similarity_loss` & co.; aml's ``ts`` mode.
    """
    student, teacher = _pair(student, teacher, same_rows=True)
    size = 2 + n_negatives
    if n_negatives < 0 or len(student) % size:
        raise ValueError(f"expected tuples of {size} embeddings (q, p, {n_negatives} negatives), "
                         f"got {tuple(student.shape)}")
    d = student.shape[1]
    q = student.reshape(-1, size, d)[:, 0]
    T = teacher.reshape(-1, size, d)
    s = (T * q[:, None, :]).sum(-1)
    return s[:, 1:2], s[:, 2:], s[:, :1]


#: [S2]'s table names -> (loss, uses labels). Unlabelled ones take ``(f, g)``, labelled ones
#: ``(f, g, labels_a, labels_x=None)``.
AML_LOSSES = {
    "Reg": (regression_loss, False),
    "RKD": (rkd_loss, False),
    "DR": (darkrank_loss, False),
    "Contr": (asymmetric_contrastive_loss, True),
    "Contr+": (contr_plus_loss, True),
    "Triplet": (asymmetric_triplet_loss, True),
    "MS": (asymmetric_multi_similarity_loss, True),
}
