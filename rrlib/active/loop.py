"""The active-learning loop of [S3] Algorithm 1, its repetitions, and the agreement study.

:func:`active_cycles` is Algorithm 1 as a generator: per cycle it trains (SUP, then SEMI when
asked) from ``theta_0`` (PRE's trunk, or random weights), yields the trained state, then acquires
``b`` examples with the chosen strategy and labels them. :func:`run_active` collects the test
accuracy per cycle; :func:`run_repetitions` runs every (strategy, setting) over several initial
label sets, cached in the data root. :func:`agreement_study` measures how much two strategies'
pseudo-labels differ [S3 §3.6, eq 3.13, Table 3.4].
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from .. import cache
from ..checks import check_integer
from ..graph import diffuse_cg
from ..parallel import check_jobs, parallel
from ..progress import say
from . import acquisition
from .propagation import agreement, feature_graph, label_propagation
from .training import DigitsNet, TrainConfig, fresh_copy, predict, pretrain, train_semi, train_supervised

__all__ = ["ActiveData", "Cycle", "SETTINGS", "active_cycles", "agreement_study", "balanced_labels",
           "digits_data", "run_active", "run_repetitions", "runs"]

CODE_VERSION = 1
SETTINGS = ("alone", "PRE", "SEMI", "PRE+SEMI")
"""The four ways of training of [S3 §3.5.1] (Table 3.2's rows): the standard baseline, with
unsupervised pre-training, with semi-supervised learning, with both."""


@dataclass(frozen=True)
class ActiveData:
    """A classification set ready for the loop: the pool ``X`` (tensor, network input) with true
    labels ``y`` (revealed only by the oracle), a test set, and the number of classes."""

    name: str
    X: torch.Tensor
    y: np.ndarray
    X_test: torch.Tensor
    y_test: np.ndarray
    n_classes: int

    def make_net(self):
        """The miniature's :class:`DigitsNet` for small grey images, else [S3]'s 13-layer ConvNet."""
        if self.X.shape[1] == 1 and self.X.shape[-1] <= 16:
            return DigitsNet(self.n_classes, in_pixels=int(np.prod(self.X.shape[1:])))
        from ..nets.convlarge import ConvLarge

        return ConvLarge(self.n_classes, in_channels=self.X.shape[1])

    @classmethod
    def from_arrays(cls, name: str, images, labels, test_images, test_labels) -> "ActiveData":
        """From uint8/float images ``(n, h, w)`` or ``(n, h, w, channels)`` and int labels: pixels
        scaled by the pool's mean and standard deviation per channel, channels first."""
        def tensor(a):
            a = np.asarray(a, np.float32)
            return a[:, None] if a.ndim == 3 else a.transpose(0, 3, 1, 2)

        X, Xt = tensor(images), tensor(test_images)
        axes = (0, 2, 3)
        mu, sd = X.mean(axis=axes, keepdims=True), X.std(axis=axes, keepdims=True) + 1e-8
        y, yt = np.asarray(labels, np.int64), np.asarray(test_labels, np.int64)
        return cls(name, torch.from_numpy((X - mu) / sd), y, torch.from_numpy((Xt - mu) / sd), yt,
                   int(max(y.max(), yt.max()) + 1))


def digits_data(test_size: int = 497, seed: int = 0) -> ActiveData:
    """The offline default: scikit-learn's digits (1,797 grey 8 x 8 images of 10 classes, UCI
    optical recognition set; ships inside the scikit-learn wheel), split by class into a pool of
    1,300 and a test set of ``test_size`` -- the miniature of [S3]'s MNIST setting (b = 10,
    one label per class per cycle)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    tr, te = train_test_split(np.arange(len(d.target)), test_size=test_size, stratify=d.target, random_state=seed)
    return ActiveData.from_arrays("digits", d.images[tr], d.target[tr], d.images[te], d.target[te])


@dataclass
class Cycle:
    """The state after training in one cycle: labeled indices (in acquisition order), the net, its
    class probabilities and embeddings on the pool, the graph ``S`` of the embeddings (of the last
    LP under SEMI), and the test accuracy (%)."""

    cycle: int
    labeled: np.ndarray
    net: torch.nn.Module
    probs: np.ndarray
    features: np.ndarray
    S: object
    accuracy: float


def balanced_labels(y, per_class: int, rng) -> np.ndarray:
    """A balanced initial labeled set ``L_0`` [S3 §3.5.1]: ``per_class`` random examples of each class."""
    y = np.asarray(y)
    rng = np.random.default_rng(rng)
    return np.concatenate([rng.choice(np.flatnonzero(y == k), per_class, replace=False) for k in np.unique(y)])


def acquire(strategy: str, state: Cycle, b: int, cfg: TrainConfig, rng) -> tuple[np.ndarray, tuple]:
    """``b`` picks of ``strategy`` from the trained ``state``, and CEAL's pseudo-labels (else empty)."""
    labeled = np.zeros(len(state.probs), bool)
    labeled[state.labeled] = True
    none = (np.empty(0, np.int64), np.empty(0, np.int64))
    if strategy == "random":
        return acquisition.random(labeled, b, rng), none
    if strategy == "uncertainty":
        return acquisition.uncertainty(state.probs, labeled, b), none
    if strategy == "ceal":
        picked, idx, labels = acquisition.ceal(state.probs, labeled, b, cfg.ceal_eps)
        return picked, (idx, labels)
    if strategy == "coreset":
        return acquisition.coreset(state.features, labeled, b), none
    if strategy == "jlp":
        return acquisition.jlp(state.S, labeled, b, cfg.alpha), none
    raise ValueError(f"unknown strategy {strategy!r}; choose from {acquisition.ACQUISITIONS}")


def _accuracy(net, data: ActiveData) -> float:
    probs, _ = predict(net, data.X_test)
    return float(100 * (probs.argmax(axis=1) == data.y_test).mean())


def active_cycles(data: ActiveData, strategy: str, *, budget: int, cycles: int, pre: bool, semi: bool,
                  cfg: TrainConfig, seed: int, theta0=None) -> Iterator[Cycle]:
    """Algorithm 1 of [S3], one cycle per item (see :func:`_cycles`); the arguments are checked
    here, when it is called, not at the first ``next()``."""
    if strategy not in acquisition.ACQUISITIONS:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {acquisition.ACQUISITIONS}")
    if strategy == "ceal" and semi:
        raise ValueError("CEAL has its own pseudo-labels: [S3 §3.5.1] does not combine it with SEMI")
    budget, cycles = check_integer(budget, "budget"), check_integer(cycles, "cycles")
    if budget % data.n_classes:
        raise ValueError(f"budget {budget} must be a multiple of the {data.n_classes} classes (balanced L_0)")
    return _cycles(data, strategy, budget, cycles, pre, semi, cfg, seed, theta0)


def _cycles(data, strategy, budget, cycles, pre, semi, cfg, seed, theta0) -> Iterator[Cycle]:
    """Algorithm 1 of [S3], one cycle per item: train, yield the state, acquire ``budget``, label.

    ``L_0`` is balanced (``budget / c`` per class); ``theta_0`` is PRE's net (computed here unless
    given) or random weights. Each cycle trains from ``theta_0`` with a fresh head: SUP on ``L``
    (plus CEAL's pseudo-labels of the previous cycle), then SEMI when ``semi``.
    """
    rng = np.random.default_rng([seed, 0])
    L = balanced_labels(data.y, budget // data.n_classes, rng)
    if theta0 is None:
        torch.manual_seed(seed)
        theta0 = pretrain(data.X, data.make_net, cfg, seed) if pre else data.make_net()
    pseudo_idx = np.empty(0, np.int64)
    targets = data.y.copy()  # the oracle's labels; only indices in L (and CEAL's pseudo) are read
    for j in range(cycles):
        net = fresh_copy(theta0, data.n_classes, seed=seed * 100 + j)
        train_supervised(net, data.X, np.concatenate([L, pseudo_idx]), targets, cfg, seed * 100 + j)
        S = None
        if semi:
            net, lp = train_semi(net, data.X, L, data.y[L], data.n_classes, cfg, seed * 100 + j)
        probs, feats = predict(net, data.X)
        if semi:
            S = lp.S
        elif strategy == "jlp":
            S = feature_graph(feats, k=cfg.k, gamma=cfg.gamma)
        state = Cycle(j, L.copy(), net, probs, feats, S, _accuracy(net, data))
        yield state
        if j + 1 < cycles:
            picked, (pseudo_idx, pseudo_labels) = acquire(strategy, state, budget, cfg, rng)
            targets = data.y.copy()
            targets[pseudo_idx] = pseudo_labels
            L = np.concatenate([L, picked])


def run_active(data: ActiveData, strategy: str, **kwargs) -> np.ndarray:
    """Test accuracy (%) after each cycle of :func:`active_cycles` (same arguments)."""
    return np.array([state.accuracy for state in active_cycles(data, strategy, **kwargs)])


def _settings_of(name: str) -> tuple[bool, bool]:
    if name not in SETTINGS:
        raise ValueError(f"unknown setting {name!r}; choose from {SETTINGS}")
    return "PRE" in name, "SEMI" in name


def runs(strategies=acquisition.ACQUISITIONS, settings=SETTINGS) -> list[tuple[str, str]]:
    """The (strategy, setting) pairs of the study: all, except CEAL with SEMI [S3 §3.5.1]."""
    return [(a, s) for a in strategies for s in settings if not (a == "ceal" and "SEMI" in s)]


def _repetition(job) -> dict:
    data, pairs, budget, cycles, cfg, seed = job
    start = time.perf_counter()
    torch.manual_seed(seed)
    theta0 = pretrain(data.X, data.make_net, cfg, seed) if any("PRE" in s for _, s in pairs) else None
    out = {}
    for strategy, setting in pairs:
        pre, semi = _settings_of(setting)
        torch.manual_seed(seed)
        net0 = theta0 if pre else data.make_net()   # the same random start for every strategy of the repetition
        out[f"{strategy}|{setting}"] = run_active(data, strategy, budget=budget, cycles=cycles, pre=pre, semi=semi,
                                                  cfg=cfg, seed=seed, theta0=net0)
    out["seconds"] = np.array(time.perf_counter() - start)
    return out


def run_repetitions(data: ActiveData, *, pairs=None, budget: int = 10, cycles: int = 5, repetitions: int = 5,
                    cfg: TrainConfig = TrainConfig(), n_jobs: int = 1, use_cache: bool = True) -> dict:
    """Accuracy curves ``{(strategy, setting): array (repetitions, cycles)}`` of every pair in
    ``pairs`` (default: :func:`runs`), repetition ``r`` with seed ``r`` (its own ``L_0``, PRE and
    training draws; every strategy of a repetition starts from the same ``L_0`` and ``theta_0``).

    Each repetition is one cache entry in ``<data root>/active/`` keyed by the data, the pairs and
    every setting; ``n_jobs`` worker processes run repetitions side by side. ``"seconds"`` holds
    each repetition's compute time (cached with it).
    """
    pairs = list(pairs or runs())
    for _, s in pairs:
        _settings_of(s)
    repetitions, n_jobs = check_integer(repetitions, "repetitions"), check_jobs(n_jobs)
    key_parts = (CODE_VERSION, data.name, data.X.numpy().tobytes(), data.y.tobytes(), data.X_test.numpy().tobytes(),
                 data.y_test.tobytes(), pairs, budget, cycles, dataclasses.asdict(cfg))
    paths = [cache.entry("active", [data.name, f"rep{r}"], cache.digest(*key_parts, r), ".npz") for r in range(repetitions)]
    results = [cache.read(p, _load) if use_cache else None for p in paths]
    todo = [r for r, res in enumerate(results) if res is None]
    if todo:
        say(f"active learning: {len(todo)} repetition(s) of {len(pairs)} runs x {cycles} cycles to compute")
        computed = parallel(_repetition, [(data, pairs, budget, cycles, cfg, r) for r in todo], n_jobs)
        for r, res in zip(todo, computed):
            results[r] = res
            if use_cache:
                cache.atomic_write(paths[r], lambda f, res=res: np.savez(f, **res))
    curves = {pair: np.stack([res[f"{pair[0]}|{pair[1]}"] for res in results]) for pair in pairs}
    curves["seconds"] = np.array([float(res["seconds"]) for res in results])
    return curves


def _load(path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def agreement_study(data: ActiveData, *, reference: str = "uncertainty", others=("random", "coreset", "jlp"),
                    cycle: int = 1, budget: int = 10, semi: bool = False, cfg: TrainConfig = TrainConfig(),
                    seed: int = 0) -> dict:
    """[S3 §3.6]: train with the ``reference`` strategy up to ``cycle``; then the reference and each
    of ``others`` acquire ``budget`` examples from that same state; label propagation with
    ``L + S_k`` gives pseudo-labels ``z_k`` and certainties ``w_k``. Per other strategy, on the
    examples unlabeled for both: the % of pseudo-labels agreeing with the reference's, the
    weighted accuracy (3.13) against the true labels where they agree / disagree (weights
    ``(w_ref + w_k) / 2``), and the mean weight there. Also returns each strategy's acquisition
    scores on ``U`` (oriented: higher = acquired sooner) for the rank plots of Fig 3.6.
    """
    state = None
    for state in active_cycles(data, reference, budget=budget, cycles=cycle + 1, pre=False, semi=semi, cfg=cfg,
                               seed=seed):
        pass
    labeled = np.zeros(len(data.y), bool)
    labeled[state.labeled] = True
    if state.S is None:
        state.S = feature_graph(state.features, k=cfg.k, gamma=cfg.gamma)
    rng = np.random.default_rng([seed, 1])

    def propagate_with(strategy):
        picked, _ = acquire(strategy, state, budget, cfg, rng)
        L = np.concatenate([state.labeled, picked])
        return picked, label_propagation(state.features, L, data.y[L], data.n_classes, k=cfg.k, gamma=cfg.gamma,
                                         alpha=cfg.alpha)

    ref_picked, ref = propagate_with(reference)
    rows = {}
    for other in others:
        picked, lp = propagate_with(other)
        U = np.flatnonzero(~labeled)
        U = np.setdiff1d(U, np.concatenate([ref_picked, picked]))
        w = (ref.weights[U] + lp.weights[U]) / 2
        agree = ref.pseudo[U] == lp.pseudo[U]
        truth = data.y[U]
        rows[other] = {
            "agree_pct": 100 * agree.mean(),
            "acc_agree": 100 * agreement(lp.pseudo[U][agree], truth[agree], w[agree]),
            "acc_disagree": 100 * agreement(lp.pseudo[U][~agree], truth[~agree], w[~agree]) if (~agree).any() else np.nan,
            "w_agree": float(w[agree].mean()),
            "w_disagree": float(w[~agree].mean()) if (~agree).any() else np.nan,
            "weighted_agreement": 100 * agreement(ref.pseudo[U], lp.pseudo[U], w),
        }
    U = np.flatnonzero(~labeled)
    h = (1 - cfg.alpha) * diffuse_cg(state.S, labeled.astype(float), cfg.alpha, maxiter=1000)   # jLP's h(delta(L))
    scores = {
        "uncertainty": acquisition.entropy(state.probs)[U],
        "coreset": _min_distance(state.features, labeled)[U],
        "jlp": -h[U],
    }
    return {"table": rows, "scores": scores, "accuracy": state.accuracy, "labels": len(state.labeled)}


def _min_distance(F, labeled) -> np.ndarray:
    """Euclidean distance of every row of ``F`` to its nearest labeled row (CoreSet's score)."""
    F = np.asarray(F, np.float64)
    L = F[labeled]
    d2 = (F * F).sum(1)[:, None] + (L * L).sum(1)[None] - 2 * F @ L.T
    return np.sqrt(np.maximum(d2.min(axis=1), 0))
