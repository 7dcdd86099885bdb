"""Calibrate synth-landmarks: the off-the-shelf baseline's revisited mAP on the generated test split.

Descriptor: MobileNetV2 (torchvision ImageNet weights) truncated at its last convolutional map,
GeM pooling with p = 3, L2 normalisation; queries cropped to their box; ranking by cosine
similarity; revisited Easy / Medium / Hard mAP (Radenović et al., CVPR 2018). The generator is
tuned so that Medium lands in [40, 75] and Hard clearly below Medium.

Usage::

    python benchmarks/calibrate_synth.py [--root DIR] [--seed 0] [--force]
"""
from __future__ import annotations

import argparse
import time

from rrlib.datasets import load
from rrlib.datasets.synth import NAME, generate
from rrlib.evaluate import evaluate_revisited
from rrlib.nets import backbone, extract_global


def baseline(root=None, max_size: int = 1024, threads: int | None = None):
    """Revisited evaluation of MobileNetV2 + GeM(p=3) on synth-landmarks under ``root``."""
    data = load(NAME, root)
    net = backbone("mobilenet_v2")
    db = extract_global(net, data.images, max_size=max_size, threads=threads)
    q = extract_global(net, [data.read_query(i) for i in range(len(data.queries))],
                       max_size=max_size, threads=threads)
    scores = db @ q.T  # (n_db, n_queries), cosine similarity of unit vectors
    return evaluate_revisited(scores, data.gnd, name=f"{NAME} MobileNetV2-GeM(p=3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="data root (default: rrlib.datasets.data_root())")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="regenerate even if cached")
    args = parser.parse_args()
    t0 = time.perf_counter()
    folder = generate(args.root, seed=args.seed, force=args.force)
    t1 = time.perf_counter()
    result = baseline(args.root)
    t2 = time.perf_counter()
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"dataset: {folder} ({size / 1e6:.1f} MB, generation/cache {t1 - t0:.1f} s)")
    print(result)
    print(f"extraction + evaluation: {t2 - t1:.1f} s")


if __name__ == "__main__":
    main()
