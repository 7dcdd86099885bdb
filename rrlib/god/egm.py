r"""Region detection by the Expanding Gaussian Mixture (EGM) on a 2-D saliency map, [S3] §5.3.4.

EGM (Avrithis & Kalantidis, "Approximate Gaussian mixtures for large scale vocabularies", ECCV
2012) is EM that starts with one component per sample and interleaves the E- and M-steps with a
*purge* step, like non-maximum suppression, so that it finds the number of components itself.
[S3] extends it from point sets to functions and from isotropic to diagonal covariances:

* samples (eq 5.3): one Gaussian function per cell ``p_i`` where the map is positive,
  :math:`s_i(\mathbf x) = S_{p_i}\, \mathcal N(\mathbf x \mid p_i, \sigma I_2)`;
* components (eq 5.4): :math:`q_\kappa(\mathbf x) = \pi_\kappa\, \mathcal N(\mathbf x \mid \mu_\kappa,
  \Sigma_\kappa)`, :math:`\Sigma_\kappa` diagonal, initialised one per sample, :math:`q_\kappa \leftarrow s_\kappa`;
* E-step (eq 5.5): :math:`\gamma_{i\kappa} = \langle s_i, q_\kappa\rangle / \sum_j \langle s_i, q_j\rangle`
  with the closed-form :math:`L^2` inner product of Gaussians (:func:`gaussian_inner`);
* M-step (eqs 5.6-5.8): :math:`\pi_\kappa`, :math:`\mu_\kappa`, :math:`\Sigma_\kappa` from the
  responsibilities;
* P-step: visit components by decreasing :math:`\pi_\kappa`, drop one whose overlap with the
  components kept so far is too large.

Coordinates are map units (:mod:`rrlib.god.regions`): the sample of cell ``(r, c)`` sits at
``(x, y) = (c + 1/2, r + 1/2)``; means are ``(x, y)``, variances ``(var_x, var_y)``.

What the seed leaves open, and what is chosen here (all exposed as parameters):

* :math:`\sigma` is written as the *covariance* :math:`\sigma I_2` in eq 5.3, so ``sigma`` is a
  variance in squared cells (a standard deviation ``s`` is ``sigma = s**2``).
* The weight :math:`S_{p_i}` of a sample cancels in the normalised E-step (5.5); so that the map's
  values matter at all, they weight the M-step sums, as in weighted EM:
  :math:`\ell_\kappa = \sum_i S_{p_i} \gamma_{i\kappa}`, :math:`\pi_\kappa = \ell_\kappa / \sum_i S_{p_i}`
  (eq 5.6 with :math:`\ell = \sum_i S_{p_i}`), and the sums of 5.7-5.8 (written to ``n``) run over the
  :math:`\ell` samples with the same weights. The initial :math:`\pi_\kappa` are the normalised map values.
* Eq 5.8 has no sample-variance term, so a component that owns one cell gets
  :math:`\Sigma_\kappa = 0`; variances are floored at ``min_var = 1/12``, the variance of a uniform
  distribution over one cell, which keeps the P-step's self inner product finite.
* Overlap in the P-step, a "generalized responsibility" ([S3], after [AK12]): component
  :math:`\kappa`, seen as a sample, and the set :math:`K` of components kept so far,
  :math:`o_\kappa = \sum_{j\in K}\langle q_\kappa, q_j\rangle / (\langle q_\kappa, q_\kappa\rangle +
  \sum_{j \in K} \langle q_\kappa, q_j\rangle)` -- the responsibility of the kept components for
  :math:`q_\kappa` against itself. It is purged when :math:`o_\kappa >` ``purge``. The threshold is not
  in the seed. For two components of equal mass and variance :math:`v` at distance :math:`d`,
  :math:`o = r / (1 + r)` with :math:`r = e^{-d^2 / 4v}`; the default ``purge`` :math:`= 1/(1+e)`
  purges one of them exactly when :math:`d < 2\sqrt v`, when their sum has a single mode. (1/2 would
  never purge two equal components, even coincident ones: EM then keeps both copies forever.)
* Stopping: when an iteration purges nothing, or after ``max_iter`` iterations.
* Boxes: :math:`\mu_\kappa \pm c \sqrt{\mathrm{diag}\,\Sigma_\kappa}` clipped to the map, with the
  ``extent`` :math:`c = \sqrt 3` by default -- exactly the rectangle of a uniform rectangle's
  variance (width :math:`L`, variance :math:`L^2/12`). Not in the seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .regions import _map2d
from .saliency import preprocess

__all__ = ["EGMResult", "EGMState", "component_boxes", "detect_regions", "egm", "gaussian_inner"]

#: the variance of a uniform distribution over one cell: the floor of the component variances
MIN_VAR = 1.0 / 12.0
#: the P-step's overlap threshold (not in the seed): two equal components merge when their sum is unimodal
PURGE = float(1.0 / (1.0 + np.e))
#: boxes span mu +- EXTENT sqrt(Sigma): the exact extent of a uniform rectangle (not in the seed)
EXTENT = float(np.sqrt(3.0))


def gaussian_inner(mu_a, var_a, mu_b, var_b, *, log: bool = False) -> np.ndarray:
    r"""The :math:`L^2` inner products of diagonal Gaussian densities, in closed form [AK12]:

    .. math::  \langle \mathcal N(\cdot \mid \mathbf a, A), \mathcal N(\cdot \mid \mathbf b, B)\rangle
               = \int \mathcal N(\mathbf x \mid \mathbf a, A)\, \mathcal N(\mathbf x \mid \mathbf b, B)\, d\mathbf x
               = \mathcal N(\mathbf a \mid \mathbf b, A + B)

    ``mu_a (na, d)``, ``var_a (na, d)`` (diagonals of ``A``), ``mu_b (nb, d)``, ``var_b (nb, d)``.
    Returns the ``(na, nb)`` matrix (its logarithm with ``log=True``, which does not underflow).
    """
    mu_a, var_a, mu_b, var_b = (np.atleast_2d(np.asarray(x, dtype=np.float64)) for x in (mu_a, var_a, mu_b, var_b))
    if mu_a.shape != var_a.shape or mu_b.shape != var_b.shape or mu_a.shape[1] != mu_b.shape[1]:
        raise ValueError(f"means and variances must be (n, d) pairs of one dimension d, got "
                         f"{mu_a.shape}, {var_a.shape}, {mu_b.shape}, {var_b.shape}")
    if min(var_a.min(initial=1), var_b.min(initial=1)) <= 0:
        raise ValueError("variances must be > 0")
    out = np.zeros((len(mu_a), len(mu_b)))
    for d in range(mu_a.shape[1]):  # one (na, nb) temporary per dimension, not (na, nb, d)
        v = var_a[:, d, None] + var_b[None, :, d]
        out -= 0.5 * ((mu_a[:, d, None] - mu_b[None, :, d]) ** 2 / v + np.log(2 * np.pi * v))
    return out if log else np.exp(out)


@dataclass
class EGMState:
    """The mixture after one iteration: ``pi (m,)``, ``mu (m, 2)`` as ``(x, y)``, ``var (m, 2)``."""

    pi: np.ndarray
    mu: np.ndarray
    var: np.ndarray

    @property
    def m(self) -> int:
        """The number of components."""
        return len(self.pi)

    def boxes(self, shape, extent: float = EXTENT) -> np.ndarray:
        """This state's components as boxes on a map of ``shape`` (:func:`component_boxes`)."""
        return component_boxes(self.mu, self.var, shape, extent)


@dataclass
class EGMResult:
    """The regions EGM found, by decreasing ``pi``.

    ``pi (m,)`` mixing coefficients (sum 1), ``mu (m, 2)`` centres ``(x, y)`` and ``var (m, 2)``
    diagonal variances in map units, ``boxes (m, 4)`` ``[x1, y1, x2, y2]``; ``n_iter`` iterations
    run, ``converged`` whether the last one purged nothing; ``history`` the state after
    initialisation and after every iteration (``keep_history=True``, for the figure of the
    iterations), else empty.
    """

    pi: np.ndarray
    mu: np.ndarray
    var: np.ndarray
    boxes: np.ndarray
    n_iter: int
    converged: bool
    history: list[EGMState] = field(default_factory=list)


def component_boxes(mu, var, shape, extent: float = EXTENT) -> np.ndarray:
    r"""Boxes :math:`\mu \pm c \sqrt{\mathrm{diag}\,\Sigma}` (``c = extent``) as ``[x1, y1, x2, y2]``,
    clipped to a map of ``shape = (h, w)``. ``mu``, ``var``: ``(m, 2)`` in ``(x, y)`` order."""
    mu, var = np.asarray(mu, np.float64).reshape(-1, 2), np.asarray(var, np.float64).reshape(-1, 2)
    if not 0 <= extent < np.inf:
        raise ValueError(f"extent must be a finite number >= 0, got {extent}")
    half = extent * np.sqrt(np.maximum(var, 0))
    h, w = shape
    lo = np.clip(mu - half, 0, [w, h])
    hi = np.clip(mu + half, 0, [w, h])
    return np.concatenate([lo, hi], axis=1)


def _purge(pi: np.ndarray, mu: np.ndarray, var: np.ndarray, threshold: float) -> np.ndarray:
    """The P-step: indices of the kept components, by decreasing ``pi``.

    With ``g_kj = <q_k, q_j> = pi_k pi_j N(mu_k | mu_j, Sigma_k + Sigma_j)``, component ``k`` is
    purged when ``o_k = h_k / (1 + h_k) > threshold``, ``h_k = sum_{j kept} g_kj / g_kk``. ``h`` is
    accumulated one kept column at a time: O(m) memory.
    """
    order = np.argsort(-pi, kind="stable")
    pi, mu, var = pi[order], mu[order], var[order]
    log_pi = np.log(pi)
    # log g_kk / pi_k = log pi_k + log N(0 | 0, 2 Sigma_k)
    log_self = log_pi - 0.5 * np.log(2 * np.pi * 2 * var).sum(axis=1)
    limit = threshold / (1.0 - threshold) if threshold < 1 else np.inf
    h = np.zeros(len(pi))
    keep = np.zeros(len(pi), dtype=bool)
    for k in range(len(pi)):
        if h[k] > limit:
            continue
        keep[k] = True
        log_col = gaussian_inner(mu, var, mu[k], var[k], log=True)[:, 0] + log_pi[k]
        h += np.exp(np.minimum(log_col - log_self, 700.0))
    return order[keep]


def _em_step(pos, weight, sample_var, pi, mu, var, min_var: float, block: int = 1 << 20):
    """One E-step (5.5) and M-step (5.6-5.8, sums weighted by the map values), over blocks of
    samples so that at most ``block`` responsibilities are held at a time."""
    m = len(pi)
    mass, first, second = np.zeros(m), np.zeros((m, 2)), np.zeros((m, 2))
    log_pi = np.log(pi)
    step = max(1, block // m)
    for s in range(0, len(pos), step):
        p = pos[s : s + step]
        # gamma_ik proportional to <s_i, q_k> = S_i pi_k N(p_i | mu_k, sigma I + Sigma_k); S_i cancels
        log_r = gaussian_inner(p, sample_var[s : s + step], mu, var, log=True) + log_pi[None, :]
        log_r -= log_r.max(axis=1, keepdims=True)
        gamma = np.exp(log_r)
        gamma /= gamma.sum(axis=1, keepdims=True)
        R = weight[s : s + step, None] * gamma                    # S_i gamma_ik
        mass += R.sum(axis=0)
        first += R.T @ p
        second += R.T @ p ** 2
    alive = mass > 1e-12 * mass.max()                             # components nobody chose
    mass, first, second = mass[alive], first[alive], second[alive]
    mu = first / mass[:, None]
    var = np.maximum(second / mass[:, None] - mu ** 2, min_var)
    return mass / mass.sum(), mu, var


def egm(S, sigma: float = 1.0, *, purge: float = PURGE, extent: float = EXTENT, max_iter: int = 100,
        min_var: float = MIN_VAR, keep_history: bool = False) -> EGMResult:
    r"""Expanding Gaussian Mixture on a 2-D map ``S (h, w)``, functional form with diagonal
    covariances, eqs 5.3-5.8 of [S3] (the module docstring lists the choices the seed leaves open).

    One sample per cell with ``S > 0`` (pre-process the map first: :func:`rrlib.god.preprocess`,
    or call :func:`detect_regions`). ``sigma``: the sample covariance :math:`\sigma I_2` of eq 5.3,
    a *variance* in squared cells ([S3]: 1 before tuning, 2.5 for FS.EGM and OS.EGM).

    Vectorised numpy: the first iteration has as many components as samples (``l`` positive
    cells), ``l^2`` responsibilities, computed in blocks of about a million (a 64 x 64 map: under
    a second); the purge shrinks the mixture fast. A zero map gives no region.
    """
    S = _map2d(S, "S")
    if S.min() < 0:
        raise ValueError(f"S must be non-negative, got min {S.min():g}")
    if not 0 < sigma < np.inf:
        raise ValueError(f"sigma must be a finite number > 0 (a variance), got {sigma}")
    if not 0 < purge <= 1:
        raise ValueError(f"purge must lie in (0, 1], got {purge}")
    if not 0 < min_var < np.inf:
        raise ValueError(f"min_var must be a finite number > 0, got {min_var}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
        raise ValueError(f"max_iter must be an integer >= 0, got {max_iter!r}")
    rows, cols = np.nonzero(S > 0)
    pos = np.stack([cols + 0.5, rows + 0.5], axis=1)             # sample centres p_i, (x, y)
    weight = S[rows, cols] / S[rows, cols].sum() if len(rows) else np.zeros(0)
    sample_var = np.full_like(pos, sigma)
    # initialisation q_k <- s_k: one component per sample, pi = the normalised map values
    pi, mu, var = weight.copy(), pos.copy(), sample_var.copy()
    history = [EGMState(pi.copy(), mu.copy(), var.copy())] if keep_history else []
    converged, it = len(pos) == 0, 0
    while not converged and it < max_iter:
        it += 1
        pi, mu, var = _em_step(pos, weight, sample_var, pi, mu, var, min_var)
        # P-step
        keep = _purge(pi, mu, var, purge)
        converged = len(keep) == len(pi)
        pi, mu, var = pi[keep] / pi[keep].sum(), mu[keep], var[keep]
        if keep_history:
            history.append(EGMState(pi.copy(), mu.copy(), var.copy()))
    order = np.argsort(-pi, kind="stable")
    pi, mu, var = pi[order], mu[order], var[order]
    return EGMResult(pi, mu, var, component_boxes(mu, var, S.shape, extent), it, converged, history)


def detect_regions(S, *, tau: float = 0.01, rho: float = 1.0, sigma: float = 1.0, relative: bool = True,
                   **egm_params) -> EGMResult:
    """FS.EGM / OS.EGM detection on a saliency map: :func:`rrlib.god.preprocess` (``tau``,
    ``rho``, ``relative``) then :func:`egm` (``sigma`` and ``egm_params``). [S3] §5.4.2 tunes
    ``rho = 7, sigma = 2.5`` on FS maps and ``rho = 2, sigma = 2.5`` on OS maps."""
    return egm(preprocess(S, tau, rho, relative=relative), sigma, **egm_params)
