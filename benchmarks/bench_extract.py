"""Batched channels-last extraction (rrlib.nets.extract_features) against a plain per-image loop.

Same network (MobileNetV2, ImageNet weights), same images (synth-landmarks database pictures,
or random ones of one size with --random), same pooling (GeM); both measured in this run.
Prints images/s of each, the speed ratio and the largest difference between the descriptors.

    python benchmarks/bench_extract.py [--n 128] [--batch 16] [--threads 2] [--random]
"""
import argparse
import time

import numpy as np
import torch
from PIL import Image

from rrlib.nets import backbone, extract_features, gem, l2n, to_tensor


def per_image_loop(net, images, max_size):
    """The straightforward way: one image at a time, default (NCHW) memory layout, pool, normalise."""
    out = []
    with torch.no_grad():
        for im in images:
            out.append(l2n(gem(net(to_tensor(im, max_size)[None])))[0].numpy())
    return np.stack(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--random", action="store_true", help="random 256x192 images instead of synth-landmarks")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.random:
        rng = np.random.default_rng(0)
        images = [Image.fromarray(rng.integers(0, 255, (192, 256, 3), dtype=np.uint8)) for _ in range(args.n)]
    else:
        from rrlib.datasets import load

        images = [Image.open(p).convert("RGB") for p in load("synth-landmarks").images[: args.n]]
    net = backbone("mobilenet_v2")
    plain = backbone("mobilenet_v2").to(memory_format=torch.contiguous_format)
    per_image_loop(plain, images[:2], 1024)  # warm-up
    extract_features(net, images[:2], {"gem": gem})
    t0 = time.perf_counter()
    ref = per_image_loop(plain, images, 1024)
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = extract_features(net, images, {"gem": gem}, batch_size=args.batch, threads=args.threads)["gem"]
    t_batch = time.perf_counter() - t0
    sizes = {im.size for im in images}
    print(f"{len(images)} images ({len(sizes)} distinct sizes), MobileNetV2 + GeM, {args.threads} threads")
    print(f"per-image loop: {len(images) / t_loop:.1f} images/s   batched (batch {args.batch}): "
          f"{len(images) / t_batch:.1f} images/s   ratio x{t_loop / t_batch:.2f}")
    print(f"max |difference| of the descriptors: {np.abs(got - ref).max():.2e}")


if __name__ == "__main__":
    main()
