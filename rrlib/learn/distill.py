"""Asymmetric metric learning [S2] (Budnik & Avrithis, CVPR'21, "Asymmetric metric learning for
knowledge transfer"): train a light **student** against a fixed **teacher**, then test it
*symmetrically* (student queries, student database) and *asymmetrically* (student queries against
the database the teacher indexed once) -- notebook 10.

The teacher ``g`` is a :class:`~rrlib.learn.RetrievalNet`; in notebook 10, notebook 04's main run
followed by its L_w whitening reduced to 96-D (:func:`whitened_teacher`: a centred space). The
student ``f_theta`` is a smaller one whose last layer has the teacher's dimension (:data:`STUDENT`:
MobileNetV2 cut after 14 blocks, GeM, linear 96 -> 96 started as the PCA-whitening of its own
descriptors, as :func:`rrlib.learn.finetune` starts a whitening layer). As in finetune:

* the **teacher's descriptors** of the training images (and of the test database) are computed
  **once**, before the first step (:func:`teacher_descriptors`): ``g(x)`` is a row of a table;
* the student's frozen blocks' output is cached (:func:`rrlib.learn.dataset_maps`) and a step runs
  only the student's trained blocks, on the step's **anchors**.

Losses (:data:`DISTILL_LOSSES`, formulas in :mod:`rrlib.learn.asymmetric`), with
``s(a, x) = sim(f_theta(a), g(x))``:

=========== ========== ====================================================================
name        labels     per step
=========== ========== ====================================================================
"reg"       no         ``1 - s(a, a)`` on ``batch_tuples`` random training images
"rkd"       no         ``1 * RKD-distance + 2 * RKD-angle`` of ``f_theta(batch)`` vs ``g(batch)``
"darkrank"  no         DarkRank (teacher's 4 nearest, alpha = beta = 3) on the batch
"contr"     yes        finetune's contrastive tuple loss (distance margin 0.7) on ``(f(q), g(p), g(n_j))``
"contr+"    yes        "contr" with ``(f(q), g(q))`` as one more positive pair, averaged in
"triplet"   yes        finetune's triplet tuple loss (margin 0.1) on the same tuples
"ms"        yes        finetune's multi-similarity tuple loss on the same tuples
=========== ========== ====================================================================

Labelled steps take ``batch_tuples`` tuples ``(q, p, n_1..n_k)`` of the epoch's
:class:`~rrlib.learn.TupleMiner` (relaxed positives, diverse hard negatives **mined in the
teacher's space**: its descriptors are what the miner sees). The query is embedded by the student,
the positive and negatives are the teacher's rows, so only the anchor gets a gradient and every
similarity is asymmetric (aml's ``ts`` mode; Contr+ is its ``ts_self``). Unlabelled steps take
``batch_tuples`` training images. Every loss sees ``n_queries`` anchors per epoch (1,500 = each
training image once in :data:`STUDENT`), ``batch_tuples`` (35) per step.

Choices the seed [S2] leaves open, and why:

* **margins** -- finetune's (cirtorch's): contrastive 0.7 on distances, triplet 0.1, MS Wang et
  al.'s defaults, so Contr differs from the "student alone" run only by the asymmetry.
* **optimiser** -- finetune's (:func:`rrlib.learn.make_optimizer`): Adam at 3e-4 on the trained
  blocks and the last layer, GeM's ``p`` at 10x without weight decay, ``lr * exp(-lr_decay)`` per
  epoch; BatchNorm statistics frozen. 1e-3 and 1e-4 were measured worse for Contr.
* **anchors per epoch** -- with 200 (finetune's default) Contr students stayed collapsed onto one
  vector after 5 epochs; with every training image once per epoch they learn.
* **the teacher's space** -- against the raw 1280-D GeM descriptors (every pair of images has a
  similarity above about 0.6) the Contr and Contr+ students collapsed to a constant near their
  mean (measured); L_w centres the space.

Runs are cached in ``<data root>/checkpoints/student_<key>/`` (trained weights + JSON history),
keyed by the configuration, the loss, the teacher (architecture and weights) and its image size,
the miner, the test and training data and :data:`DISTILL_VERSION`.

:func:`network_cost` / :func:`compare_cost` measure parameters, multiply-accumulates and seconds per
query (the student's selling point).
"""
from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from .. import cache as cache_mod
from ..datasets import training_split
from ..evaluate import evaluate_revisited
from ..progress import say
from .asymmetric import darkrank_loss, regression_loss, rkd_loss
from .mining import Miner
from .train import (RetrievalNet, TrainConfig, _load_model, _new_model, dataset_maps, describe, embed_maps,
                    finetune, make_loss, make_miner, make_optimizer)

__all__ = ["DISTILL_LOSSES", "LABELLED", "STUDENT", "DISTILL_EPOCHS", "TEACHER_DIM", "TEACHER_SIZE", "DistillResult",
           "whitened_teacher",
           "teacher_descriptors", "distill", "distill_key", "student_alone", "evaluate_student",
           "network_cost", "compare_cost"]

#: bump when the training loop or the evaluation changes
DISTILL_VERSION = 2

DISTILL_LOSSES = ("reg", "rkd", "darkrank", "contr", "contr+", "triplet", "ms")
LABELLED = {"reg": False, "rkd": False, "darkrank": False, "contr": True, "contr+": True, "triplet": True,
            "ms": True}

#: the teacher (notebook 04's main run) indexes the database at 256 px
TEACHER_SIZE = 256
#: epochs of every run of notebook 10
DISTILL_EPOCHS = 5
#: the teacher's dimension: notebook 04's L_w whitening reduced to the student's channel count
TEACHER_DIM = 96
#: the student of notebook 10: MobileNetV2's first 14 blocks (96 channels, stride 16; ImageNet
#: weights), its last 3 trained, GeM, a linear 96 -> 96 layer started as the PCA-whitening of its
#: own descriptors (as finetune starts a whitening layer); queries at 160 px. Every run sees each
#: training image once per epoch as an anchor (1,500 anchors, 35 per step, for every loss), Adam
#: at 3e-4 (1e-3 and 1e-4 measured worse for Contr; 200 anchors per epoch left Contr collapsed).
STUDENT = TrainConfig(depth=14, train_blocks=3, whiten_dim=TEACHER_DIM, image_size=160, epochs=DISTILL_EPOCHS,
                      lr=3e-4, n_queries=1500, batch_tuples=35, seed=0)


# ------------------------------------------------------------------------------------------------
# Teacher and evaluation
# ------------------------------------------------------------------------------------------------
def whitened_teacher(teacher: RetrievalNet, data, size: int = TEACHER_SIZE, dim: int = TEACHER_DIM, *,
                     progress: bool = False) -> RetrievalNet:
    """``teacher`` followed by the supervised whitening L_w (:func:`rrlib.nets.learn_lw`, pairs of
    the training split's landmarks) learned on its training descriptors and reduced to ``dim``: a
    centred space of the student's dimension (notebook 04's "+ L_w" row, there at 256-D). The raw
    GeM space of a fine-tuned network is not centred (every pair of images has a similarity above
    about 0.6), and students trained against it with Contr collapsed to a constant (measured)."""
    from ..nets import learn_lw, pairs_from_labels

    paths, labels = training_split(data)
    X = describe(teacher, dataset_maps(teacher, data, size, which=("train",), progress=progress)["train"])
    return teacher.with_whitening(learn_lw(X, *pairs_from_labels(labels), reduce=dim))


def teacher_descriptors(teacher: RetrievalNet, data, size: int = TEACHER_SIZE, *, train=None,
                        progress: bool = False) -> dict[str, np.ndarray]:
    """The teacher's unit descriptors ``{"train", "db", "queries"}`` (numpy ``(n, D)``) of ``data``
    at ``size`` px, computed once (its frozen maps come from the cache of :func:`dataset_maps`)."""
    maps = dataset_maps(teacher, data, size, train=train, progress=progress)
    return {k: describe(teacher, m) for k, m in maps.items()}


def evaluate_student(student: RetrievalNet, data, maps, teacher_db: np.ndarray) -> dict[str, float]:
    """Symmetric (``sym_easy`` ...: student queries vs the student's database) and asymmetric
    (``asym_easy`` ...: student queries vs the teacher's database descriptors ``teacher_db``)
    revisited mAP of ``student`` (``maps``: its :func:`dataset_maps` of "db" and "queries")."""
    Q, X = describe(student, maps["queries"]), describe(student, maps["db"])
    sym, asym = evaluate_revisited(X @ Q.T, data.gnd).map, evaluate_revisited(teacher_db @ Q.T, data.gnd).map
    return {**{f"sym_{k}": float(v) for k, v in sym.items()}, **{f"asym_{k}": float(v) for k, v in asym.items()}}


# ------------------------------------------------------------------------------------------------
# Runs
# ------------------------------------------------------------------------------------------------
@dataclass
class DistillResult:
    """A finished student run: ``history[e]`` holds ``epoch``, ``loss`` (None at epoch 0),
    ``sym_easy/medium/hard``, ``asym_easy/medium/hard`` (mAP %) and ``seconds`` (since the start,
    evaluation included); ``train_seconds`` is the time of the optimisation steps and the
    mining alone."""

    loss: str
    config: TrainConfig
    key: str
    history: list[dict] = field(default_factory=list)
    model: RetrievalNet | None = None
    seconds: float = 0.0
    train_seconds: float = 0.0
    cached: bool = False

    @property
    def after(self) -> dict:
        return self.history[-1]


def distill_key(loss: str, config: TrainConfig, data, teacher: RetrievalNet, teacher_size: int, miner: Miner | None,
                train=None) -> str:
    """The name of a run: a digest of everything that determines it."""
    paths, labels = tuple(train) if train is not None else training_split(data)
    return cache_mod.digest(DISTILL_VERSION, loss, asdict(config), cache_mod.module_digest(teacher), int(teacher_size),
                            "no miner" if miner is None else miner.describe(), cache_mod.dataset_digest(data),
                            cache_mod.images_digest(paths), np.asarray(labels))


def _run_dir(key: str) -> Path:
    return cache_mod.entry("checkpoints", ["student"], key)


#: labelled loss -> the tuple loss of :mod:`rrlib.learn.losses` (finetune's) it is computed with
TUPLE_LOSSES = {"contr": "contrastive", "contr+": "contrastive", "triplet": "triplet", "ms": "multi-similarity"}


def _labelled_loss(loss: str, criterion: nn.Module, f: torch.Tensor, teacher_rows: torch.Tensor,
                   g_self: torch.Tensor) -> torch.Tensor:
    """``criterion`` (finetune's tuple loss) on tuples whose query row is the student's ``f (B, d)``
    and whose positive and negatives are the teacher's ``teacher_rows (B, 1 + k, d)``: only the
    query side gets a gradient, so every similarity it sees is ``s_asym``. Contr+ adds the pair
    ``(f(q), g(q))`` as one more positive pair (aml's ``ts_self``), averaged with the others."""
    emb = torch.cat([f[:, None], teacher_rows], 1).reshape(-1, f.shape[1])
    value = criterion(emb)
    if loss == "contr+":
        pairs = teacher_rows.shape[1]  # contrastive_loss averages over the 1 + k pairs of a tuple
        value = (pairs * value + regression_loss(f, g_self)) / (pairs + 1)  # 1 - s = d^2 / 2: same term as a positive
    return value


def _unlabelled_loss(loss: str, f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    if loss == "reg":
        return regression_loss(f, g)
    if loss == "rkd":
        return rkd_loss(f, g)
    return darkrank_loss(f, g)


def distill(data, teacher: RetrievalNet, loss: str = "contr+", config: TrainConfig = STUDENT, *,
            teacher_size: int = TEACHER_SIZE, teacher_desc: dict[str, np.ndarray] | None = None,
            support=None, scale_change=None, cache: bool = True, threads: int | None = None,
            progress: bool = True, log: Callable[[str], None] | None = None) -> DistillResult:
    """Train the student of ``config`` against the fixed ``teacher`` with ``loss`` (one of
    :data:`DISTILL_LOSSES`), evaluating it symmetrically and asymmetrically before training and
    after every epoch (see the module docstring for the batches and the choices).

    ``config`` gives the student (``backbone``, ``depth``, ``train_blocks``, ``whiten_dim`` = the
    teacher's dimension, ``image_size`` of its training images and queries) and the recipe
    (``epochs``, ``n_queries``, ``pool_size``, ``n_negatives``, ``batch_tuples``, ``lr``,
    ``lr_decay``, ``weight_decay``, ``positives``, ``seed``; ``margin`` overrides Contr's and
    Triplet's); its ``loss`` field is not used. ``teacher_desc``: :func:`teacher_descriptors` of
    ``teacher`` at ``teacher_size`` when the caller already has them (several runs). ``support`` /
    ``scale_change``: the miner's geometry (:func:`rrlib.learn.synth_geometry`). ``cache``: load a
    saved run of the same key instead of training, save a new one. Deterministic for a thread
    count (``threads``: ``torch.set_num_threads`` during the run).
    """
    if loss not in LABELLED:
        raise ValueError(f"loss must be one of {DISTILL_LOSSES}, got {loss!r}")
    if _new_model(config).dim != teacher.dim:
        raise ValueError(f"the student's dimension (whiten_dim={config.whiten_dim}) must be the teacher's {teacher.dim}")
    paths, labels = training_split(data)
    labels = np.asarray(labels)
    miner = make_miner(config, labels, support=support, scale_change=scale_change) if LABELLED[loss] else None
    key = distill_key(loss, config, data, teacher, teacher_size, miner, (paths, labels))
    folder = _run_dir(key)
    if cache:
        saved = cache_mod.read(folder / "history.json", lambda p: json.loads(p.read_text()))
        if saved is not None:
            model = cache_mod.read(folder / "model.pt", lambda p: _load_model(config, p))
            if model is not None:
                return DistillResult(loss, config, key, saved["history"], model, saved["seconds"],
                                     saved["train_seconds"], cached=True)
    if log is None and progress:
        log = say
        say(f"training the student with {loss} against the teacher, {config.epochs} epochs (saved in {folder})")
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    start, train_seconds = time.time(), 0.0
    try:
        if teacher_desc is None:
            teacher_desc = teacher_descriptors(teacher, data, teacher_size, progress=progress)
        T = torch.as_tensor(teacher_desc["train"], dtype=torch.float32)
        if len(T) != len(paths):
            raise ValueError(f"teacher_desc['train'] has {len(T)} rows for {len(paths)} training images")
        torch.manual_seed(config.seed)
        model = _new_model(config)
        maps = dataset_maps(model, data, config.image_size, train=(paths, labels), progress=progress)
        if model.whiten is not None and model.whiten.out_features <= model.out_channels:   # as finetune does
            model.init_whitening(describe(model, maps["train"], whiten=False))
        opt, sched = make_optimizer(model, config)
        criterion = make_loss(replace(config, loss=TUPLE_LOSSES[loss])) if miner is not None else None
        history: list[dict] = []

        def record(epoch: int, value: float | None) -> None:
            r = evaluate_student(model, data, maps, teacher_desc["db"])
            history.append({"epoch": epoch, "loss": value, **r, "p": float(model.pool.p.detach()[0]),
                            "seconds": round(time.time() - start, 1)})
            if log is not None:
                lo = "" if value is None else f"loss {value:.4f}  "
                log(f"epoch {epoch}/{config.epochs} ({time.time() - start:.0f} s): {lo}mAP E/M/H symmetric "
                    f"{r['sym_easy']:.1f} / {r['sym_medium']:.1f} / {r['sym_hard']:.1f}, asymmetric "
                    f"{r['asym_easy']:.1f} / {r['asym_medium']:.1f} / {r['asym_hard']:.1f}")

        record(0, None)
        for epoch in range(1, config.epochs + 1):
            t0 = time.time()
            model.train()
            losses = []
            if miner is not None:
                tuples = miner.epoch(epoch, lambda idx: teacher_desc["train"][np.asarray(idx)])
                order = np.random.default_rng([config.seed, epoch, 1]).permutation(len(tuples))
                batches = [np.stack([tuples.images(int(t)) for t in order[b:b + config.batch_tuples]])
                           for b in range(0, len(order), config.batch_tuples)]
            else:  # n_queries anchors per epoch, batch_tuples per step, as the labelled losses
                rng = np.random.default_rng([config.seed, epoch, 2])
                order = np.concatenate([rng.permutation(len(paths)) for _ in range(-(-config.n_queries // len(paths)))])
                batches = [order[b:b + config.batch_tuples] for b in range(0, config.n_queries, config.batch_tuples)]
            for batch in batches:
                if miner is not None:
                    q = batch[:, 0]
                    f = embed_maps(model, [maps["train"][int(i)] for i in q])
                    value = _labelled_loss(loss, criterion, f, T[torch.as_tensor(batch[:, 1:])], T[q])
                else:
                    f = embed_maps(model, [maps["train"][int(i)] for i in batch])
                    value = _unlabelled_loss(loss, f, T[batch])
                opt.zero_grad()
                value.backward()
                opt.step()
                losses.append(float(value.detach()))
            sched.step()
            model.eval()
            train_seconds += time.time() - t0
            record(epoch, float(np.mean(losses)))
    finally:
        torch.set_num_threads(old_threads)
    model = model.eval()
    result = DistillResult(loss, config, key, history, model, time.time() - start, train_seconds)
    if cache:
        cache_mod.atomic_write(folder / "model.pt", lambda f: torch.save(model.trained_state(), f))
        text = json.dumps({"loss": loss, "config": asdict(config), "teacher_size": teacher_size,
                           "miner": None if miner is None else miner.describe(), "history": history,
                           "seconds": result.seconds, "train_seconds": train_seconds, "threads": threads,
                           "torch": torch.__version__}, indent=1)
        cache_mod.atomic_write(folder / "history.json", lambda f: f.write(text.encode()))
    return result


def student_alone(data, config: TrainConfig = STUDENT, *, teacher_db: np.ndarray, support=None, scale_change=None,
                  cache: bool = True, threads: int | None = None, progress: bool = True) -> tuple:
    """[S2]'s baseline: the same student trained with labels only (symmetric contrastive loss,
    :func:`rrlib.learn.finetune` of ``config`` with ``loss="contrastive"``), then tested like the
    distilled ones: returns ``(TrainResult, evaluate_student(...) of the final network)`` --
    the asymmetric numbers are expected near 0 (nothing ties its space to the teacher's)."""
    config = replace(config, loss="contrastive")
    run = finetune(data, config, support=support, scale_change=scale_change, cache=cache, threads=threads,
                   progress=progress)
    maps = dataset_maps(run.model, data, config.eval_size, which=("db", "queries"), progress=progress)
    return run, evaluate_student(run.model, data, maps, teacher_db)


# ------------------------------------------------------------------------------------------------
# Cost
# ------------------------------------------------------------------------------------------------
def _shape(image_size) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    h, w = image_size
    return int(h), int(w)


def _macs(model: nn.Module, x: torch.Tensor) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(x)
    return counter.get_total_flops() / 2


def _seconds(model: nn.Module, x: torch.Tensor, repeats: int, warmup: int = 2) -> list[float]:
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            t = time.perf_counter()
            model(x)
            if i >= warmup:
                times.append(time.perf_counter() - t)
    return times


def network_cost(model: nn.Module, image_size=256, *, repeats: int = 20, threads: int | None = None) -> dict:
    """Cost of one query through ``model`` (eval mode, one ``(1, 3, h, w)`` image; ``image_size``
    an int for a square or ``(h, w)``): ``params`` (all parameters, frozen ones included),
    ``gmacs`` (multiply-accumulates / 1e9 = ``torch.utils.flop_counter.FlopCounterMode`` flops / 2:
    convolutions and matrix products, which is all but a fraction of a percent here; pooling,
    activations and normalisations are not counted) and ``seconds`` (median of ``repeats`` timed
    single-image forward passes after 2 warm-up ones, on ``threads`` threads)."""
    was = model.training
    model.eval()
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        x = torch.rand(1, 3, *_shape(image_size), generator=torch.Generator().manual_seed(0))
        macs = _macs(model, x)
        secs = statistics.median(_seconds(model, x, repeats)) if repeats else float("nan")
    finally:
        torch.set_num_threads(old)
        model.train(was)
    return {"params": int(sum(p.numel() for p in model.parameters())), "gmacs": macs / 1e9, "seconds": secs}


def compare_cost(student: nn.Module, student_size, teacher: nn.Module, teacher_size, *, repeats: int = 20,
                 threads: int | None = None) -> dict:
    """:func:`network_cost` of both networks measured in the same run, their timed passes
    interleaved (student, teacher, student, ...) so that a load change on the machine hits both,
    and the ratios ``student / teacher`` of ``params``, ``gmacs`` and ``seconds``."""
    s = network_cost(student, student_size, repeats=0, threads=threads)
    t = network_cost(teacher, teacher_size, repeats=0, threads=threads)
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    xs = torch.rand(1, 3, *_shape(student_size), generator=torch.Generator().manual_seed(0))
    xt = torch.rand(1, 3, *_shape(teacher_size), generator=torch.Generator().manual_seed(0))
    ws, wt = student.training, teacher.training
    student.eval(), teacher.eval()
    try:
        _seconds(student, xs, 0), _seconds(teacher, xt, 0)
        ts, tt = [], []
        for _ in range(repeats):
            ts += _seconds(student, xs, 1, warmup=0)
            tt += _seconds(teacher, xt, 1, warmup=0)
    finally:
        torch.set_num_threads(old)
        student.train(ws), teacher.train(wt)
    s["seconds"], t["seconds"] = statistics.median(ts), statistics.median(tt)
    return {"student": s, "teacher": t, "ratio": {k: s[k] / t[k] for k in ("params", "gmacs", "seconds")}}
