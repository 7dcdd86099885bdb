"""Calibrate notebook 04's fine-tuning on synth-landmarks: E/M/H mAP and CPU time per variant.

For each variant (a change of ``rrlib.learn.TrainConfig``'s defaults) it fine-tunes MobileNetV2 +
GeM on the training split and prints the off-the-shelf network's E/M/H, the fine-tuned one's after
every epoch, and the seconds the run took (the frozen blocks' maps are computed once and cached in
the data root; the first run pays for them). Seeds show how repeatable a gain is.

    .venv/bin/python benchmarks/calibrate_learn.py                       # every variant, 3 epochs
    .venv/bin/python benchmarks/calibrate_learn.py --seeds 0 1 2 --variants main inliers-positives
    .venv/bin/python benchmarks/calibrate_learn.py --epochs 6 --variants main     # notebook 04's main run
    .venv/bin/python benchmarks/calibrate_learn.py --set lr=3e-5 n_queries=300 --variants main

Runs are saved in the data root like the notebook's (``--no-cache`` retrains; timings are
only meaningful for runs trained in this call, marked ``trained``).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import torch

from rrlib.datasets import load
from rrlib.learn import TrainConfig, finetune, synth_geometry

#: name -> changes to the default configuration (notebook 04's table and ablation)
VARIANTS = {
    "main": {},                                                   # contrastive, relaxed positives, hard negatives
    "triplet": {"loss": "triplet"},
    "multi-similarity": {"loss": "multi-similarity"},
    "contrastive-similarity": {"loss": "contrastive-similarity"},
    "random-negatives": {"negatives": "random"},
    "descriptor-positives": {"positives": "descriptor"},
    "descriptor-naive": {"positives": "descriptor", "negatives": "naive"},  # [S4]'s "top 1 CNN + top k CNN"
    "inliers-positives": {"positives": "inliers"},
    "random-positives": {"positives": "random"},
    "whitening": {"whiten_dim": 256},
}


def _parse(value: str):
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3: notebook 04's ablation)")
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="other TrainConfig overrides")
    ap.add_argument("--no-cache", action="store_true", help="retrain even when a saved run exists")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    data = load("synth-landmarks")
    t0 = time.perf_counter()
    support, scale = synth_geometry(data)
    print(f"geometry of the training split (co-observed cells, scale changes): {time.perf_counter() - t0:.1f} s")
    base = {"epochs": args.epochs, **{k: _parse(v) for k, v in (s.split("=", 1) for s in args.set)}}
    rows = []
    for name in args.variants:
        for seed in args.seeds:
            config = replace(TrainConfig(), **{**base, **VARIANTS[name], "seed": seed})
            t0 = time.perf_counter()
            r = finetune(data, config, support=support, scale_change=scale, cache=not args.no_cache,
                         threads=args.threads)
            secs = time.perf_counter() - t0
            curve = "  ".join(f"{h['medium']:.1f}" for h in r.history)
            print(f"{name:<24s} seed {seed}: {'cached' if r.cached else 'trained'} in {secs:5.1f} s "
                  f"(run {r.seconds:5.1f} s); Medium per epoch {curve}", flush=True)
            rows.append((name, seed, r, secs))
    first = rows[0][2].before
    print(f"\nsynth-landmarks, {rows[0][2].config.backbone} + GeM, images {rows[0][2].config.image_size} px: "
          f"mAP Easy / Medium / Hard")
    print(f"{'off-the-shelf':<24s} {'':>6s} {first['easy']:5.1f} / {first['medium']:5.1f} / {first['hard']:5.1f}")
    for name, seed, r, secs in rows:
        a = r.after
        print(f"{name:<24s} seed {seed} {a['easy']:5.1f} / {a['medium']:5.1f} / {a['hard']:5.1f}   "
              f"({'trained' if not r.cached else 'cached'}, {r.seconds:.0f} s, {r.config.epochs} epochs)")


if __name__ == "__main__":
    main()
