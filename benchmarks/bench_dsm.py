"""Deep spatial matching against SIFT + fast spatial matching, measured in one run, as ratios.

    python benchmarks/bench_dsm.py [--size 384] [--images 16] [--pairs 200]

On synth-landmarks' small configuration rendered at ``--size`` px (rrlib.dsm.hires_synth, its own
data root), it measures per image

* the forward pass of MobileNetV2↑ at the three scales of [S3] (1, 1/sqrt 2, 1/2), alone, and the
  DSM detection on its tensors (quantisation, MSERs of every channel, moments, filters) -- the cost of
  the features against the network that gives the global descriptor anyway;
* the number of features and the bytes stored: DSM (27 bytes a feature) vs SIFT (OpenCV, a 128-byte
  descriptor and a 16-byte frame);

and per image pair the verification time: DSM (same-channel correspondences, 5-dof hypotheses,
9 scale pairs) vs SIFT + fast spatial matching (visual words of a 1,024-word vocabulary learned on
the same images -- a benchmark of time, not of accuracy). Ratios are of two measurements of the same
run, so they hold on another machine better than the absolute times.
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch

from rrlib import dsm, local
from rrlib.datasets.synth import SynthConfig
from rrlib.nets import backbone
from rrlib.nets import prepare_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=384, help="long side of the rendered pictures")
    ap.add_argument("--images", type=int, default=16, help="pictures to describe")
    ap.add_argument("--pairs", type=int, default=200, help="image pairs to verify")
    ap.add_argument("--delta", type=int, default=5, help="MSER step (grey levels), notebook 07's DELTA")
    ap.add_argument("--min-area", type=int, default=3, help="smallest region (cells), notebook 07's MIN_AREA")
    ap.add_argument("--top-n", type=int, default=4000, help="features kept per picture, notebook 07's TOP_N")
    args = ap.parse_args()
    torch.set_num_threads(1)

    data = dsm.hires_synth(args.size, config=SynthConfig.small(), progress=False)
    images = [prepare_image(p) for p in data.images[: args.images]]
    net = backbone("mobilenet_v2", upsample=True)
    params = dsm.DetectorParams(delta=args.delta, min_area=args.min_area, top_n=args.top_n)

    t_fwd, t_det, feats = 0.0, 0.0, []
    with torch.inference_mode():
        for im in images:
            per_scale, sizes = [], []
            for k, s in enumerate(dsm.SCALES):
                t0 = time.perf_counter()
                A = dsm.retrieval._forward(net, im, s, None)
                t1 = time.perf_counter()
                per_scale.append(dsm.detect_features(A[0].numpy(), params, query=False, scale_index=k))
                t_det += time.perf_counter() - t1
                t_fwd += t1 - t0
                sizes.append((A.shape[3], A.shape[2]))
            feats.append(dsm.merge_scales(per_scale, sizes, dsm.SCALES, im.size, params.top_n))
    t0 = time.perf_counter()
    sift = [local.sift(im) for im in images]
    t_sift = time.perf_counter() - t0
    n = len(images)

    vocab = local.train_vocabulary(np.concatenate([f.descriptors for f in sift]), 1024, seed=0)
    words = [vocab.assign(f.descriptors) for f in sift]
    pairs = list(itertools.islice(itertools.permutations(range(n), 2), args.pairs))
    t0 = time.perf_counter()
    for a, b in pairs:
        dsm.match_features(feats[a], feats[b])
    t_dsm_pair = (time.perf_counter() - t0) / len(pairs)
    t0 = time.perf_counter()
    for a, b in pairs:
        tc = local.tentative_correspondences(words[a], words[b], max_per_word=20)
        if len(tc) >= 3:
            local.verify_pair(sift[a], sift[b], tc, method="fsm", threshold=4.0 * args.size / 256)
    t_sift_pair = (time.perf_counter() - t0) / len(pairs)

    n_dsm, n_sift = np.mean([len(f) for f in feats]), np.mean([len(f) for f in sift])
    b_dsm, b_sift = np.mean([f.nbytes for f in feats]), n_sift * (128 + 16)
    print(f"synth-landmarks (small) at {args.size} px, {n} pictures, {len(pairs)} pairs, one thread")
    print(f"per picture: forward pass (3 scales) {1000 * t_fwd / n:.0f} ms, DSM detection {1000 * t_det / n:.0f} ms "
          f"-> detection / forward = {t_det / t_fwd:.2f}; SIFT extraction {1000 * t_sift / n:.0f} ms")
    print(f"features per picture: DSM {n_dsm:.0f}, SIFT {n_sift:.0f} -> DSM / SIFT = {n_dsm / n_sift:.2f}")
    print(f"bytes per picture: DSM {b_dsm:,.0f}, SIFT {b_sift:,.0f} -> DSM / SIFT = {b_dsm / b_sift:.2f}")
    print(f"verification per pair: DSM {1000 * t_dsm_pair:.1f} ms, SIFT + FSM {1000 * t_sift_pair:.1f} ms "
          f"-> DSM / SIFT = {t_dsm_pair / t_sift_pair:.2f}")


if __name__ == "__main__":
    main()
