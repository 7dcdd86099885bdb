"""Fine-tuning a retrieval network with tuples, on a CPU: a small loop, no framework.

The network is a truncated ImageNet backbone, GeM pooling and L2 normalisation -- the
architecture of [S4] / cirtorch, whose descriptors notebook 03 extracts off the shelf. Training
follows cirtorch's recipe scaled down: tuples ``(q, p, n_1..n_k)`` re-mined every epoch
(:class:`rrlib.learn.TupleMiner`), Adam, BatchNorm frozen (running statistics and affine
parameters), and -- for the CPU -- only the last blocks of the backbone trained, on small images.
Every epoch ends with an evaluation on the test split (revisited E/M/H), and the run is saved in
the data root, keyed by its configuration.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn as nn

from .losses import ContrastiveLoss, MultiSimilarityLoss, TripletLoss
from .mining import TupleMiner

__all__ = ["TrainConfig", "RetrievalNet", "TrainResult", "evaluate_model", "finetune", "make_loss", "load_run"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run (its hash names the checkpoint)."""

    loss: str = "contrastive"          # "contrastive" | "triplet" | "multi-similarity"
    margin: float = 0.7                # contrastive: cirtorch 0.7 (0.85 for ResNet101); triplet 0.1
    positives: str = "relaxed"         # see rrlib.learn.mining
    negatives: str = "hard"            # "hard" | "random"
    n_negatives: int = 5
    n_queries: int = 150               # tuples per epoch
    pool_size: int = 300               # random negative pool, re-drawn each epoch
    epochs: int = 4
    lr: float = 1e-4
    weight_decay: float = 1e-4
    image_size: int = 160              # long side for training and evaluation
    train_blocks: int = 4              # last backbone blocks trained (MobileNetV2 has 19)
    batch_tuples: int = 5              # tuples per optimiser step (cirtorch: 5)
    seed: int = 0
    backbone: str = "mobilenet_v2"

    def key(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


class RetrievalNet(nn.Module):
    """``l2n(GeM(backbone(x)))``: the global descriptor network that is fine-tuned."""

    def __init__(self, backbone: str = "mobilenet_v2", p: float = 3.0):
        super().__init__()
        from rrlib.nets import GeM, backbone as make_backbone

        self.features = make_backbone(backbone)
        self.pool = GeM(p)
        self.name = f"{backbone}-gem"
        self.out_channels = self.features.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from rrlib.nets import l2n

        return l2n(self.pool(self.features(x)))

    def freeze(self, train_blocks: int) -> None:
        """Train only the last ``train_blocks`` children of the backbone; BatchNorm stays frozen."""
        blocks = list(self._blocks())
        if not 0 <= train_blocks <= len(blocks):
            raise ValueError(f"train_blocks must be in [0, {len(blocks)}], got {train_blocks}")
        for i, b in enumerate(blocks):
            for prm in b.parameters():
                prm.requires_grad = i >= len(blocks) - train_blocks
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                for prm in m.parameters():
                    prm.requires_grad = False

    def _blocks(self):
        feats = self.features
        inner = getattr(feats, "features", None)
        return list(inner.children()) if isinstance(inner, nn.Sequential) else list(feats.children())

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self.modules():  # cirtorch: BatchNorm statistics are never updated
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self


def make_loss(config: TrainConfig) -> nn.Module:
    if config.loss == "contrastive":
        return ContrastiveLoss(config.margin, config.n_negatives)
    if config.loss == "triplet":
        return TripletLoss(config.margin, config.n_negatives)
    if config.loss == "multi-similarity":
        return MultiSimilarityLoss(config.n_negatives)
    raise ValueError(f"loss must be contrastive, triplet or multi-similarity, got {config.loss!r}")


@dataclass
class TrainResult:
    """A finished run: the configuration, per-epoch history (loss, E/M/H mAP; epoch 0 is the
    network before training) and the fine-tuned network."""

    config: TrainConfig
    history: list[dict] = field(default_factory=list)
    model: RetrievalNet | None = None
    seconds: float = 0.0

    def final(self) -> dict:
        return self.history[-1]


def _embed(model: RetrievalNet, paths, image_size: int, batch: int = 32) -> np.ndarray:
    from rrlib.nets import extract_features

    return extract_features(model.features, list(paths), {"x": model.pool}, max_size=image_size,
                            batch_size=batch, threads=None)["x"]


def evaluate_model(model: RetrievalNet, data, image_size: int) -> dict:
    """E/M/H mAP of ``model`` on ``data`` (queries cropped), images shrunk to ``image_size``."""
    from rrlib.evaluate import evaluate_revisited

    X = _embed(model, data.images, image_size)
    Q = _embed(model, [data.read_query(q) for q in range(data.n_queries)], image_size)
    return evaluate_revisited(X @ Q.T, data.gnd).map


def _run_path(config: TrainConfig):
    from rrlib.datasets import data_root

    return data_root() / "checkpoints" / f"finetune_{config.key()}"


def load_run(config: TrainConfig, with_model: bool = True) -> TrainResult | None:
    """The saved run of ``config`` (history, and the network if ``with_model``), or None."""
    folder = _run_path(config)
    if not (folder / "history.json").is_file():
        return None
    saved = json.loads((folder / "history.json").read_text())
    result = TrainResult(config, saved["history"], None, saved["seconds"])
    if with_model:
        model = RetrievalNet(config.backbone)
        model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
        result.model = model.eval()
    return result


def finetune(data, config: TrainConfig = TrainConfig(), *, support=None, threads: int | None = 2,
             cache: bool = True, progress: bool = False) -> TrainResult:
    """Fine-tune on ``data``'s training split, evaluating on its test split after every epoch.

    ``support`` is the positives' geometric support matrix over the training images (needed for
    "inliers" / "relaxed" positives; :func:`rrlib.learn.co_observed_cells` on synth-landmarks).
    With ``cache``, a saved run of the same configuration is loaded instead (delete
    ``<data root>/checkpoints/finetune_<key>`` to retrain). Deterministic for a configuration and
    thread count.
    """
    from tqdm.auto import tqdm

    from rrlib.datasets import training_split
    from rrlib.nets import to_tensor

    if cache:
        done = load_run(config)
        if done is not None:
            return done
    paths, labels = training_split(data)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    start = time.time()
    try:
        model = RetrievalNet(config.backbone)
        model.freeze(config.train_blocks)
        criterion = make_loss(config)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
        miner = TupleMiner(labels, n_queries=config.n_queries, pool_size=config.pool_size,
                           n_negatives=config.n_negatives, positives=config.positives,
                           negatives=config.negatives, support=support, seed=config.seed)
        tensors: dict[int, torch.Tensor] = {}

        def image(i: int) -> torch.Tensor:
            if i not in tensors:
                tensors[i] = to_tensor(paths[i], config.image_size)
            return tensors[i]

        history = [{"epoch": 0, "loss": None, **evaluate_model(model, data, config.image_size)}]
        for epoch in range(1, config.epochs + 1):
            model.eval()
            tuples = miner.epoch(epoch, lambda idx: _embed(model, [paths[i] for i in idx], config.image_size))
            model.train()
            losses = []
            order = np.random.default_rng([config.seed, epoch, 1]).permutation(len(tuples))
            for b in tqdm(range(0, len(order), config.batch_tuples), desc=f"epoch {epoch}", disable=not progress):
                opt.zero_grad()
                batch = order[b:b + config.batch_tuples]
                total = 0.0
                for t in batch:  # images of one tuple may differ in size: one forward per tuple
                    emb = torch.cat([model(image(int(i))[None]) for i in tuples.images(int(t))])
                    loss = criterion(emb) / len(batch)
                    loss.backward()
                    total += loss.item()
                opt.step()
                losses.append(total)
            model.eval()
            history.append({"epoch": epoch, "loss": float(np.mean(losses)),
                            **evaluate_model(model, data, config.image_size)})
    finally:
        torch.set_num_threads(old_threads)
    result = TrainResult(config, history, model.eval(), time.time() - start)
    if cache:
        folder = _run_path(config)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), folder / "model.pt.part")
        (folder / "model.pt.part").replace(folder / "model.pt")
        (folder / "history.json").write_text(json.dumps(
            {"config": asdict(config), "history": history, "seconds": result.seconds}, indent=1))
    return result


#: The configuration of notebook 04's main run (contrastive, relaxed positives, hard negatives);
#: its ablation changes one field at a time.
NOTEBOOK_CONFIG = TrainConfig(epochs=2)
