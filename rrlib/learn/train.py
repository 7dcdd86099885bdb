"""Fine-tuning a retrieval network with training tuples: a small loop, no framework.

The network is an ImageNet backbone cut at its last convolutional layer, GeM pooling, an optional
learned whitening (a linear layer) and L2 normalisation -- the architecture of [S4] / cirtorch,
whose descriptors notebook 03 extracts off the shelf. Training follows cirtorch's recipe: tuples
``(q, p, n_1..n_k)`` re-mined every epoch by a miner (:class:`rrlib.learn.TupleMiner`), Adam
(GeM's ``p`` at 10x the learning rate, no weight decay), the learning rate decayed by
``exp(-0.01)`` per epoch, BatchNorm in eval mode (its statistics are never updated), and an
evaluation on the test split after every epoch (revisited E/M/H).

**On a CPU** only the last ``train_blocks`` blocks of the backbone are trained. The blocks before
them are frozen and BatchNorm is in eval mode, so their output for an image never changes: it is
computed once per image (the expensive part, cached in the data root) and every step runs only
the trained blocks on it -- exactly what running the whole network every step would compute.
With ``train_blocks=None`` the whole network is trained and images are read as they are needed
(the paper setting, for a GPU).

A run is saved in ``<data root>/checkpoints/finetune_<key>/`` (the trained weights and a JSON
history), keyed by everything that determines it (:mod:`rrlib.cache`), so a notebook can load it
instead of training.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn

from .. import cache as cache_mod  # `cache` is an argument of finetune and dataset_maps
from ..datasets import training_split
from ..evaluate import evaluate_revisited
from ..nets import GLAM, GeM, backbone as make_backbone, l2n, learn_pca_whitening, to_tensor
from ..progress import progress as report, say
from .losses import LOSSES
from .metrix import MetrixTupleLoss
from .mining import Miner, TupleMiner

__all__ = ["TrainConfig", "PAPER_RECIPE", "RetrievalNet", "FrozenMaps", "TrainResult", "dataset_maps",
           "describe", "embed_maps", "evaluate_net", "finetune", "load_run", "make_loss", "make_miner", "make_optimizer",
           "run_key"]

#: TrainConfig fields added after RUN_VERSION 2, with their defaults: left out of a run's key at the default
LATER_FIELDS = {"depth": None, "attention": (), "metrix": 0.0}

#: code versions of the caches of this module: bump when the frozen maps' computation, or the
#: training loop, changes
MAPS_VERSION = 2
RUN_VERSION = 2


@dataclass(frozen=True)
class TrainConfig:
    """Everything about a run except the miner's inputs (its hash, with the miner's, names the run).

    The defaults are this project's CPU setting on synth-landmarks (found by
    ``benchmarks/calibrate_learn.py``); :data:`PAPER_RECIPE` is cirtorch's.
    """

    loss: str = "contrastive"          # "contrastive" | "contrastive-similarity" | "triplet" | "multi-similarity"
    margin: float | None = None        # None: the loss's default (contrastive 0.7, triplet 0.1)
    positives: str = "relaxed"         # rrlib.learn.mining.POSITIVE_STRATEGIES
    negatives: str = "hard"            # "hard" (one per landmark) | "naive" | "random"
    n_negatives: int = 5               # cirtorch: 5
    n_queries: int = 200               # tuples per epoch (cirtorch: 2000)
    pool_size: int = 500               # negative pool re-drawn every epoch (cirtorch: 20000)
    epochs: int = 6                    # notebook 04's main run (its ablation compares at epoch 3)
    batch_tuples: int = 5              # tuples per optimiser step (cirtorch: 5)
    lr: float = 1e-4                   # Adam; cirtorch trains the whole network with 1e-6
    lr_decay: float = 0.01             # lr * exp(-lr_decay * epoch) (cirtorch: exp(-0.01))
    weight_decay: float = 1e-4         # cirtorch: 1e-4
    image_size: int = 256              # long side of the training images (cirtorch recipe: 362)
    test_size: int | None = None       # long side at evaluation (None: image_size; cirtorch: 1024)
    train_blocks: int | None = 4       # last backbone blocks trained (MobileNetV2 has 19); None: all
    gem_p: float = 3.0                 # GeM's initial p
    train_p: bool = True               # learn p (cirtorch does)
    whiten_dim: int = 0                # > 0: an end-to-end learned whitening to this dimension
    backbone: str = "mobilenet_v2"
    seed: int = 0
    # fields added after RUN_VERSION 2: a run at their defaults keeps its earlier name (run_key)
    depth: int | None = None           # keep the backbone's first `depth` blocks (a smaller student, notebook 10)
    attention: tuple = ()              # GLAM streams between the last blocks and GeM (rrlib.nets.glam.ABLATION)
    metrix: float = 0.0                # > 0: Metrix embedding mixup, total = clean + metrix * mixed (notebook 10)

    @property
    def eval_size(self) -> int:
        return self.test_size or self.image_size

    def resolved_margin(self) -> float | None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        return LOSSES[self.loss][1] if self.margin is None else self.margin


#: cirtorch's ResNet101-GeM recipe on retrieval-SfM-120k. The values come from two cirtorch sources that
#: differ, so each field names its own: [README] = the TPAMI'18 training command of the cirtorch README
#: (``--loss-margin 0.85 --lr 5e-7 --pool-size=22000 --image-size 362``); [train.py] = the defaults of
#: ``cirtorch/examples/train.py``; [test] = the README's test command. Where the two differ, this recipe
#: keeps the train.py default (lr 1e-6, pool 20000) and notes the README value. The seeds give none of
#: these constants: [S4] / [S3] section 2.5 only say contrastive loss, SfM positives, diverse hard negatives.
PAPER_RECIPE = TrainConfig(
    loss="contrastive",      # [S4] (contrastive beats triplet on SfM data), [README] --loss contrastive
    margin=0.85,             # [README] --loss-margin 0.85 (train.py default: 0.7)
    positives="given",       # [train.py] TuplesDataset: the SfM (query, positive) pairs as given by retrieval-SfM-120k
    negatives="hard",        # [S4] diverse hard negatives, one per 3D model; [train.py] create_epoch_tuples
    n_negatives=5,           # [README] --neg-num 5 (= train.py default)
    n_queries=2000,          # [README] --query-size=2000 (= train.py default)
    pool_size=20000,         # [train.py] default 20000; [README] uses --pool-size=22000
    epochs=100,              # [train.py] default --epochs 100 (the README command does not set it)
    batch_tuples=5,          # [README] --batch-size 5 (= train.py default)
    lr=1e-6,                 # [train.py] default Adam lr 1e-6; [README] uses --lr 5e-7
    lr_decay=0.01,           # [train.py] ExponentialLR(gamma=exp(-0.01)) per epoch
    weight_decay=1e-4,       # [train.py] default --weight-decay 1e-4
    image_size=362,          # [README] --image-size 362 (train.py default: 1024)
    test_size=1024,          # [test] images resized to at most 1024 px; also [S3] section 4.4 ("max 1024x1024")
    train_blocks=None,       # [train.py] the whole network is fine-tuned
    backbone="resnet101")    # [README] --arch resnet101 (pool gem); GeM p starts at 3 and is learned ([train.py] gem p=3)


class RetrievalNet(nn.Module):
    """``l2n(whiten(l2n(GeM(attention(head(frozen(x)))))))``: the global-descriptor network that is fine-tuned.

    ``frozen`` holds the backbone's first blocks (never trained), ``head`` its last
    ``train_blocks`` (all of them for ``None``); ``whiten`` is an optional linear layer to
    ``whiten_dim`` dimensions. ``forward`` maps images ``(N, 3, H, W)`` to unit descriptors;
    :meth:`embed` maps the frozen part's output.

    ``depth`` keeps only the backbone's first ``depth`` blocks (a smaller network with the same
    ImageNet weights: notebook 10's student; ``whiten_dim`` then maps it to the teacher's
    dimension). ``attention`` puts a :class:`rrlib.nets.GLAM` with these streams on the last map
    (``()``: none).
    """

    def __init__(self, backbone: str = "mobilenet_v2", train_blocks: int | None = 4, p: float = 3.0,
                 train_p: bool = True, whiten_dim: int = 0, *, depth: int | None = None, attention=()):
        super().__init__()
        net = make_backbone(backbone)
        blocks = list(net.children())
        if depth is not None:
            if not 1 <= depth <= len(blocks):
                raise ValueError(f"depth must lie in [1, {len(blocks)}] for {backbone}, got {depth}")
            blocks = blocks[:depth]
        if train_blocks is None:
            train_blocks = len(blocks)
        if not 1 <= train_blocks <= len(blocks):
            raise ValueError(f"train_blocks must lie in [1, {len(blocks)}] for {backbone}, got {train_blocks}")
        self.frozen = nn.Sequential(*blocks[: len(blocks) - train_blocks]).requires_grad_(False)
        self.head = nn.Sequential(*blocks[len(blocks) - train_blocks:]).requires_grad_(True)
        self.out_channels = net.out_channels if depth is None else _last_channels(blocks)
        self.attention = GLAM(self.out_channels, attention, reduction=GLAM.CPU_REDUCTION) if attention else None
        self.pool = GeM(p, trainable=train_p)
        self.whiten = nn.Linear(self.out_channels, whiten_dim) if whiten_dim else None
        self.dim = whiten_dim or self.out_channels
        self.backbone_name, self.train_blocks, self.depth = backbone, train_blocks, depth
        self.name = f"{backbone}{'' if depth is None else f'[:{depth}]'}-gem-finetuned"

    def embed(self, maps: torch.Tensor, whiten: bool = True) -> torch.Tensor:
        """Unit descriptors ``(N, D)`` from the frozen blocks' output ``(N, C, h, w)`` (``whiten=False``:
        before the whitening layer)."""
        h = self.head(maps)
        if self.attention is not None:
            h = self.attention(h)
        v = l2n(self.pool(h))
        if self.whiten is not None and whiten:
            v = l2n(self.whiten(v))
        return v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.frozen(x))

    def train(self, mode: bool = True):
        super().train(mode)
        self.frozen.eval()
        for m in self.modules():  # cirtorch: BatchNorm statistics are never updated
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The weights that training changes (head, pooling, whitening): what a checkpoint holds."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("frozen.")}

    def with_whitening(self, whitening, dim: int | None = None) -> "RetrievalNet":
        """A copy of this network (no whitening layer of its own) ending with ``whitening`` (a
        :class:`rrlib.nets.Whitening`, e.g. notebook 04's L_w), keeping ``dim`` of its directions
        (default all): ``forward`` then gives what ``whitening(descriptors, dim)`` gives."""
        if self.whiten is not None:
            raise ValueError("this network already has a whitening layer")
        P = np.asarray(whitening.projection, np.float64)[:dim]
        if P.shape[1] != self.out_channels:
            raise ValueError(f"the whitening was learned on {P.shape[1]}-D descriptors, this network gives {self.out_channels}")
        net = RetrievalNet(self.backbone_name, self.train_blocks, train_p=False, whiten_dim=len(P), depth=self.depth,
                           attention=self.attention.attentions if self.attention is not None else ())
        net.load_state_dict({**self.state_dict(), "whiten.weight": torch.as_tensor(P, dtype=torch.float32),
                             "whiten.bias": torch.as_tensor(-P @ np.asarray(whitening.mean, np.float64),
                                                            dtype=torch.float32)})
        return net.eval()

    def init_whitening(self, X: np.ndarray) -> None:
        """Start the whitening layer as the PCA-whitening of descriptors ``X`` (N, C) (e.g. the
        off-the-shelf network's on the training images), keeping ``whiten_dim`` directions."""
        if self.whiten is None:
            raise ValueError("this network has no whitening layer (whiten_dim=0)")
        if self.whiten.out_features > self.out_channels:
            raise ValueError(f"PCA keeps at most {self.out_channels} directions, not whiten_dim="
                             f"{self.whiten.out_features} (a projection up starts from its random init)")
        w = learn_pca_whitening(X)
        P = w.projection[: self.whiten.out_features]
        with torch.no_grad():
            self.whiten.weight.copy_(torch.as_tensor(P, dtype=torch.float32))
            self.whiten.bias.copy_(torch.as_tensor(-P @ w.mean, dtype=torch.float32))


def _last_channels(blocks) -> int:
    """Output channels of a stack of convolutional blocks: its last convolution's."""
    convs = [m for b in blocks for m in b.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("these blocks hold no convolution")
    return convs[-1].out_channels


# ------------------------------------------------------------------------------------------------
# The frozen blocks' output, computed once
# ------------------------------------------------------------------------------------------------
class FrozenMaps:
    """The frozen blocks' output for a list of images (paths or PIL images), shrunk to ``size``.

    ``precompute=True`` runs every image once, batched by size, and keeps the maps (loaded from /
    saved to ``cache_file`` when given, :func:`rrlib.cache.cached`: the caller's path must name
    the model, the images and ``size``, as :func:`dataset_maps`' does); otherwise ``maps[i]`` reads
    and runs image ``i`` when asked (for large training sets on a GPU). ``maps[i]`` is a
    ``(C, h, w)`` tensor.

    ``maps``, when given, is that output already computed (for instance assembled from parts of
    cached ones, :func:`finetune`'s ``train_maps``): one ``(C, h, w)`` tensor per image, kept as
    given (moved to ``device``); nothing is computed, read or cached.
    """

    def __init__(self, model: RetrievalNet, images: Sequence, size: int, *, precompute: bool = True,
                 cache_file: Path | None = None, device: str = "cpu", batch_size: int = 32, progress: bool = True,
                 maps: Sequence[torch.Tensor] | None = None):
        self.model, self.images, self.size, self.device = model, list(images), int(size), device
        self.maps: list[torch.Tensor] | None = None
        if maps is not None:
            if len(maps) != len(self.images) or not all(isinstance(m, torch.Tensor) and m.ndim == 3 for m in maps):
                raise ValueError(f"maps must be {len(self.images)} tensors (C, h, w), one per image")
            self.maps = [m.to(device) for m in maps]
            return
        if not precompute:
            return
        if cache_file is None:
            self.maps = self._compute(batch_size, progress)
            return
        maps = cache_mod.cached(Path(cache_file), lambda: [m.cpu() for m in self._compute(batch_size, progress)],
                                lambda maps, f: torch.save(maps, f), self._load)
        self.maps = [m.to(device) for m in maps]

    def _load(self, path: Path) -> list[torch.Tensor]:
        maps = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(maps, list) or len(maps) != len(self.images) or not all(isinstance(m, torch.Tensor) and
                                                                                   m.ndim == 3 for m in maps):
            raise ValueError(f"expected {len(self.images)} maps (C, h, w)")
        return maps

    def _tensor(self, image) -> torch.Tensor:
        return to_tensor(image, self.size)

    def _compute(self, batch_size: int, progress: bool) -> list[torch.Tensor]:
        what = f"the frozen blocks' output of {len(self.images):,} images at {self.size} px"
        tensors = [self._tensor(im) for im in report(self.images, f"{what}: reading", enabled=progress)]
        out: list[torch.Tensor | None] = [None] * len(tensors)
        groups: dict[tuple, list[int]] = {}
        for i, t in enumerate(tensors):
            groups.setdefault(tuple(t.shape), []).append(i)
        batches = [idx[b:b + batch_size] for _, idx in sorted(groups.items()) for b in range(0, len(idx), batch_size)]
        with torch.inference_mode():
            for idx in report(batches, f"{what}: batches", enabled=progress):
                x = torch.stack([tensors[i] for i in idx]).to(self.device).contiguous(memory_format=torch.channels_last)
                y = self.model.frozen(x).contiguous()
                for i, m in zip(idx, y):
                    out[i] = m.clone()
        return out  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        if self.maps is not None:
            return self.maps[i]
        with torch.no_grad():
            x = self._tensor(self.images[i])[None].to(self.device).contiguous(memory_format=torch.channels_last)
            return self.model.frozen(x)[0].contiguous()


def embed_maps(model: RetrievalNet, maps: Sequence[torch.Tensor], batch_size: int = 64,
               whiten: bool = True) -> torch.Tensor:
    """Descriptors ``(n, D)`` of frozen maps (of mixed sizes: batched by shape, then put back in
    order). Gradients flow when called under grad mode."""
    groups: dict[tuple, list[int]] = {}
    for i, m in enumerate(maps):
        groups.setdefault(tuple(m.shape), []).append(i)
    parts, order = [], []
    for _, idx in sorted(groups.items()):
        for b in range(0, len(idx), batch_size):
            chunk = idx[b:b + batch_size]
            parts.append(model.embed(torch.stack([maps[i] for i in chunk]), whiten))
            order.extend(chunk)
    out = torch.cat(parts)
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.as_tensor(order)] = torch.arange(len(order))
    return out[inverse.to(out.device)]


def _descriptors(model: RetrievalNet, maps, indices=None, whiten: bool = True, chunk: int = 64) -> np.ndarray:
    idx = list(range(len(maps)) if indices is None else indices)
    if not idx:
        return np.zeros((0, model.dim), np.float32)
    # precomputed maps are small: one pass; images read on demand go in chunks (memory)
    step = len(idx) if getattr(maps, "maps", None) is not None else chunk
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            parts = [embed_maps(model, [maps[int(i)] for i in idx[b:b + step]], whiten=whiten).cpu()
                     for b in range(0, len(idx), max(step, 1))]
            return torch.cat(parts).numpy().astype(np.float32)
    finally:
        model.train(was)


def dataset_maps(model: RetrievalNet, data, size: int, *, train=None, which=("train", "db", "queries"),
                 cache: bool = True, device: str = "cpu", progress: bool = True) -> dict[str, FrozenMaps]:
    """The frozen blocks' output on ``data``'s training split (or ``train = (paths, labels)``),
    database and cropped queries, cached in ``<data root>/features/cache/`` (:mod:`rrlib.cache`,
    keyed by the images' content, the frozen blocks' architecture and weights, ``size`` and
    :data:`MAPS_VERSION`). A fully trained network (``train_blocks=None``) gets lazily read images
    instead (nothing precomputed)."""
    cache_mod.check_name(data.name, "dataset name")
    precompute = len(model.frozen) > 0
    out = {}
    for part in which:
        if part == "train":
            images = list((train or training_split(data))[0])
        elif part == "db":
            images = list(data.images)
        elif part == "queries":
            images = [data.read_query(q) for q in range(len(data.queries))]
        else:
            raise ValueError(f"parts are 'train', 'db' and 'queries', got {part!r}")
        file = None
        if cache and precompute:
            key = cache_mod.digest(MAPS_VERSION, cache_mod.images_digest(images), model.frozen, int(size))
            file = cache_mod.entry("features/cache", ["learn-maps", data.name, part], key, ".pt")
        out[part] = FrozenMaps(model, images, size, precompute=precompute, cache_file=file,
                               device=device, progress=progress)
    return out


def describe(model: RetrievalNet, maps: FrozenMaps, indices=None, whiten: bool = True) -> np.ndarray:
    """Unit descriptors ``(n, D)`` (numpy) of the images of ``maps`` (all, or ``indices``;
    ``whiten=False``: before the whitening layer)."""
    return _descriptors(model, maps, indices, whiten)


def evaluate_net(model: RetrievalNet, data, maps: dict[str, FrozenMaps]):
    """Revisited E/M/H evaluation of ``model`` on ``data``: a :class:`rrlib.evaluate.RevisitedResult`
    (``maps``: :func:`dataset_maps` of its ``"db"`` and ``"queries"``)."""
    X, Q = describe(model, maps["db"]), describe(model, maps["queries"])
    return evaluate_revisited(X @ Q.T, data.gnd)


# ------------------------------------------------------------------------------------------------
# Runs
# ------------------------------------------------------------------------------------------------
def make_loss(config: TrainConfig) -> nn.Module:
    """The loss module of ``config`` (on tuples of ``2 + n_negatives`` embeddings)."""
    cls, _ = LOSSES[config.loss] if config.loss in LOSSES else (None, None)
    if cls is None:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {config.loss!r}")
    if config.loss == "multi-similarity":
        loss = cls(config.n_negatives)
    else:
        loss = cls(config.resolved_margin(), config.n_negatives)
    if config.metrix < 0:
        raise ValueError(f"metrix is the weight of the mixed loss, >= 0, got {config.metrix}")
    if config.metrix > 0:
        return MetrixTupleLoss(config.loss, config.resolved_margin(), config.n_negatives, config.metrix)
    return loss


def make_optimizer(model: RetrievalNet, config: TrainConfig):
    """cirtorch's optimiser for the trained parts of ``model``: Adam at ``config.lr`` with
    ``weight_decay`` (GeM's ``p`` at 10x the rate, no decay), and the per-epoch schedule
    ``lr * exp(-lr_decay * epoch)``. Returns ``(optimizer, scheduler)``."""
    groups = [{"params": list(model.head.parameters())}]
    if model.attention is not None:
        groups.append({"params": list(model.attention.parameters())})
    if config.train_p:
        groups.append({"params": list(model.pool.parameters()), "lr": 10 * config.lr, "weight_decay": 0.0})
    if model.whiten is not None:
        groups.append({"params": list(model.whiten.parameters())})
    opt = torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)
    return opt, torch.optim.lr_scheduler.ExponentialLR(opt, gamma=math.exp(-config.lr_decay))


def make_miner(config: TrainConfig, labels, *, support=None, scale_change=None, pairs=None) -> TupleMiner:
    """The :class:`TupleMiner` of ``config`` on training images with ``labels``."""
    return TupleMiner(labels, n_queries=config.n_queries, pool_size=config.pool_size, n_negatives=config.n_negatives,
                      positives=config.positives, negatives=config.negatives, support=support,
                      scale_change=scale_change, pairs=pairs, seed=config.seed)


def run_key(config: TrainConfig, data, miner: Miner, train=None) -> str:
    """The name of a run: a digest of the configuration, the miner, the test dataset (content and
    ground truth, :func:`rrlib.cache.dataset_digest`), the training images (content) and labels
    (``train``, default ``training_split(data)``) and :data:`RUN_VERSION`."""
    paths, labels = tuple(train) if train is not None else training_split(data)
    labels = "no labels" if labels is None else np.asarray(labels)
    fields = {k: v for k, v in asdict(config).items() if k not in LATER_FIELDS or v != LATER_FIELDS[k]}
    if config.attention:  # GLAM's reduced channels are a module constant, not a field
        fields["glam_reduction"] = GLAM.CPU_REDUCTION
    return cache_mod.digest(RUN_VERSION, fields, miner.describe(), cache_mod.dataset_digest(data),
                            cache_mod.images_digest(paths), labels)


def _run_dir(key: str) -> Path:
    return cache_mod.entry("checkpoints", ["finetune"], key)


@dataclass
class TrainResult:
    """A finished run: its configuration, key, per-epoch history and the fine-tuned network.

    ``history[e]`` holds ``epoch``, ``loss`` (mean over the epoch's steps; None at epoch 0, the
    network before training), ``easy`` / ``medium`` / ``hard`` mAP (when evaluated), ``p`` (GeM)
    and ``seconds`` (since the start).
    """

    config: TrainConfig
    key: str
    history: list[dict] = field(default_factory=list)
    model: RetrievalNet | None = None
    seconds: float = 0.0
    cached: bool = False

    @property
    def before(self) -> dict:
        return self.history[0]

    @property
    def after(self) -> dict:
        return self.history[-1]

    def curve(self, name: str) -> np.ndarray:
        return np.array([np.nan if h.get(name) is None else h[name] for h in self.history], float)


def load_run(config: TrainConfig, data, miner: Miner, with_model: bool = True, *, train=None) -> TrainResult | None:
    """The saved run of ``config`` with ``miner`` on ``data`` and ``train`` (see :func:`run_key`):
    its history, and the network if ``with_model``; None when it was not saved, or -- with a
    warning naming the file -- when a file of it cannot be read."""
    key = run_key(config, data, miner, train)
    folder = _run_dir(key)
    saved = cache_mod.read(folder / "history.json", _load_history)
    if saved is None:
        return None
    result = TrainResult(config, key, saved["history"], None, saved["seconds"], cached=True)
    if with_model:
        result.model = cache_mod.read(folder / "model.pt", lambda path: _load_model(config, path))
        if result.model is None:
            return None
    return result


def _load_history(path: Path) -> dict:
    saved = json.loads(path.read_text())
    if not isinstance(saved.get("history"), list) or not saved["history"] or "seconds" not in saved:
        raise ValueError("no history in it")
    return saved


def _load_model(config: TrainConfig, path: Path) -> RetrievalNet:
    model = _new_model(config)
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("frozen.") for k in missing):
        raise ValueError("it does not fit the network of this configuration")
    return model.eval()


def _new_model(config: TrainConfig) -> RetrievalNet:
    return RetrievalNet(config.backbone, config.train_blocks, config.gem_p, config.train_p, config.whiten_dim,
                        depth=config.depth, attention=config.attention)


def finetune(data, config: TrainConfig = TrainConfig(), *, miner: Miner | None = None, train=None, train_maps=None,
             support=None, scale_change=None, cache: bool = True, threads: int | None = None, device: str = "cpu",
             progress: bool = True, log: Callable[[str], None] | None = None) -> TrainResult:
    """Fine-tune on a training set, evaluating on ``data``'s test split before training and after
    every epoch.

    Parameters
    ----------
    data : RetrievalDataset
        The test benchmark (its training split is the default training set).
    config : TrainConfig
    miner : Miner, optional
        Builds each epoch's tuples; default :func:`make_miner` of ``config`` with ``support`` /
        ``scale_change`` (needed for "inliers" / "relaxed" positives; :func:`rrlib.learn.synth_geometry`
        on synth-landmarks).
    train : (paths, labels), optional
        The training images and their landmarks (default: ``training_split(data)``). ``labels``
        may be ``None`` with a ``miner`` that reads none (mining on manifolds, notebook 06): the
        run's key then holds no label either.
    train_maps : sequence of (C, h, w) tensors, optional
        The frozen blocks' output of the training images, in ``train``'s order, when the caller
        already has it -- e.g. the cached parts of :func:`dataset_maps` (training split, test
        database) put together for a training set that adds test images (notebook 04's
        over-fitting check) -- instead of computing (and caching) it for this list of images. It
        must come from ``config``'s backbone and frozen blocks at ``config.image_size``; only its
        length and shapes are checked. The run's key (:func:`run_key`) does not depend on it.
    cache : bool
        Load the saved run of the same key instead of training, and save a new one.
    threads : int or None
        ``torch.set_num_threads`` during the run (None: torch's default, ``OMP_NUM_THREADS``).
        Reruns with the same thread count on the same CPU are bit-identical; another count or
        CPU gives other last digits, and after a few epochs of SGD a run whose mAP differs by up
        to about 3 points (measured by ``benchmarks/numeric_spread.py``; notebook 04's checks
        allow for it).
    device : str
        "cpu" by default; "cuda" for the paper setting.
    progress : bool
        Print the first computation of the frozen maps and one line per epoch while training (a
        run loaded from the cache prints nothing).
    log : callable, optional
        Called with one line per epoch instead of printing it.

    Deterministic for a configuration, a miner and a thread count.
    """
    train = tuple(train) if train is not None else training_split(data)
    paths, labels = list(train[0]), None if train[1] is None else np.asarray(train[1])
    if miner is None:
        if labels is None:
            raise ValueError("train=(paths, None) has no labels: pass a miner that needs none "
                             "(e.g. rrlib.mom.MoMMiner)")
        miner = make_miner(config, labels, support=support, scale_change=scale_change)
    key = run_key(config, data, miner, (paths, labels))
    if cache:
        done = load_run(config, data, miner, train=(paths, labels))
        if done is not None:
            return done
    if log is None and progress:
        log = say
        mined = (f"{config.positives} positives, {config.negatives} negatives" if isinstance(miner, TupleMiner)
                 else f"tuples of {type(miner).__name__}")
        say(f"training {config.loss}, {mined}, {config.epochs} epochs (saved in {_run_dir(key)} for the next runs)")
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    start = time.time()
    try:
        torch.manual_seed(config.seed)
        model = _new_model(config).to(device)
        criterion = make_loss(config)
        if train_maps is None:
            maps = dataset_maps(model, data, config.image_size, train=(paths, labels), which=("train",), device=device,
                                progress=progress)
        elif len(model.frozen) == 0:
            raise ValueError("train_maps needs frozen blocks (train_blocks=None trains the whole network)")
        else:
            maps = {"train": FrozenMaps(model, paths, config.image_size, maps=train_maps, device=device)}
        maps.update(dataset_maps(model, data, config.eval_size, which=("db", "queries"), device=device,
                                 progress=progress))
        if model.whiten is not None and model.whiten.out_features <= model.out_channels:
            model.init_whitening(describe(model, maps["train"], whiten=False))
        opt, sched = make_optimizer(model, config)

        def record(epoch: int, loss: float | None) -> None:
            r = evaluate_net(model, data, maps).map
            history.append({"epoch": epoch, "loss": loss, **{k: float(v) for k, v in r.items()},
                            "p": float(model.pool.p.detach()[0]), "seconds": round(time.time() - start, 1)})
            if log is not None:
                lo = "" if loss is None else f"loss {loss:.4f}  "
                log(f"epoch {epoch}/{config.epochs} ({time.time() - start:.0f} s): {lo}mAP E/M/H {r['easy']:.1f} / {r['medium']:.1f} / {r['hard']:.1f}")

        history: list[dict] = []
        record(0, None)
        for epoch in range(1, config.epochs + 1):
            tuples = miner.epoch(epoch, lambda idx: describe(model, maps["train"], idx))
            model.train()
            order = np.random.default_rng([config.seed, epoch, 1]).permutation(len(tuples))
            losses = []
            steps = range(0, len(order), config.batch_tuples)
            for b in steps:
                images = np.concatenate([tuples.images(int(t)) for t in order[b:b + config.batch_tuples]])
                emb = embed_maps(model, [maps["train"][int(i)] for i in images])
                loss = criterion(emb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            sched.step()
            model.eval()
            record(epoch, float(np.mean(losses)))
    finally:
        torch.set_num_threads(old_threads)
    model = model.eval().cpu()
    result = TrainResult(config, key, history, model, time.time() - start)
    if cache:
        folder = _run_dir(key)
        cache_mod.atomic_write(folder / "model.pt", lambda f: torch.save(model.trained_state(), f))
        text = json.dumps({"config": asdict(config), "miner": miner.describe(), "history": history,
                           "seconds": result.seconds, "threads": threads, "torch": torch.__version__}, indent=1)
        cache_mod.atomic_write(folder / "history.json", lambda f: f.write(text.encode()))
    return result

