"""Command line: a dataset's global descriptors in shards, for a cluster array, then merged.

    python -m rrlib.nets --dataset NAME --shard k/n [--root DIR] [--backbone mobilenet_v2]
                         [--pools SPoC MAC GeM R-MAC CroW] [--scales 1] [--max-size 1024] [--tag test] [--threads 1]
    python -m rrlib.nets --dataset NAME --merge n   [same options]

``--shard k/n`` describes the k-th of n contiguous blocks of the database images and of the queries
(:func:`rrlib.nets.extract.describe_dataset` with ``shard=(k, n)``) into its own cache file under the
data root; ``--merge n`` concatenates the n files into the file an unsharded run writes, where the
notebooks find it (:func:`rrlib.nets.extract.merge_shards`). The defaults are notebook 03's: MobileNetV2,
its five poolings, one scale, long side 1024 -- the same cache key. A SLURM array::

    #SBATCH --array=0-99
    python -m rrlib.nets --dataset revisitop1m --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT
    # then, once all 100 have finished (e.g. sbatch --dependency=afterok:<array job id>):
    python -m rrlib.nets --dataset revisitop1m --merge 100

Images are described in blocks of ``--block`` (1,024) and a shard is whole blocks, so that a merge is
bit-identical to an unsharded run with the same ``--threads`` (default 1: an array gets its parallelism
from its tasks). R1M has 978 blocks: up to 978 useful tasks. A merge holds every shard and the merged
matrix: 1M x 1280 float32 is 5 GB per pooling (``--pools GeM`` for one).

Exit codes: 0 success; 1 shards missing on ``--merge`` (the message names them), or the dataset or the
weights are not on disk; 2 usage error (a shard spec that is not k/n with 0 <= k < n, an unknown pooling).
"""
from __future__ import annotations

import argparse
import os
import sys

from ..datasets import DatasetNotFoundError, UnknownDatasetError, load
from .extract import BLOCK, backbone, describe_dataset, merge_shards, parse_shard
from .pipeline import POOLINGS
from .weights import WeightsUnavailableError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _shard(text: str) -> tuple[int, int]:
    try:
        return parse_shard(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _count(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"the number of shards must be a whole number >= 1, got {text!r}")
    return int(text)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m rrlib.nets", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, help="a registered retrieval dataset (python -m rrlib datasets)")
    job = ap.add_mutually_exclusive_group(required=True)
    job.add_argument("--shard", type=_shard, metavar="k/n", help="describe the k-th of n shards (0 <= k < n)")
    job.add_argument("--merge", type=_count, metavar="n", help="assemble the n shards into the unsharded cache file")
    ap.add_argument("--root", help="data root (default: $RRLIB_DATA or data/)")
    ap.add_argument("--backbone", default="mobilenet_v2", help="network (rrlib.nets.BACKBONES)")
    ap.add_argument("--pools", nargs="+", default=list(POOLINGS), choices=list(POOLINGS), metavar="POOL",
                    help=f"poolings, among {', '.join(POOLINGS)} (default: all, notebook 03's cache)")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0], help="image scales (multi-scale: 1 0.7071 0.5)")
    ap.add_argument("--max-size", type=int, default=1024, help="long side of the images fed to the network")
    ap.add_argument("--tag", default="test", help="names the cache file (describe_dataset's tag)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (an array's tasks are its parallelism)")
    ap.add_argument("--block", type=int, default=BLOCK,
                    help=f"images per block (default {BLOCK:,}); a shard is whole blocks: give every task and --merge "
                         "the same")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.root is not None:
        os.environ["RRLIB_DATA"] = str(args.root)   # the cache lives under the data root (rrlib.io.data_root)
    try:
        data = load(args.dataset)
        net = backbone(args.backbone)
    except (DatasetNotFoundError, UnknownDatasetError, WeightsUnavailableError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    pools = {name: POOLINGS[name] for name in args.pools}
    if args.block < 1:
        parser().error(f"--block must be at least 1, got {args.block}")
    run = dict(scales=tuple(args.scales), max_size=args.max_size, tag=args.tag, block=args.block)
    if args.shard is not None:
        out = describe_dataset(data, net, pools, threads=args.threads, shard=args.shard, **run)
        what = f"shard {args.shard[0]}/{args.shard[1]}"
    else:
        try:
            out = merge_shards(data, net, pools, args.merge, **run)
        except FileNotFoundError as err:
            print(f"error: {err}", file=sys.stderr)
            return EXIT_FAILED
        what = f"{args.merge} shards merged"
    shapes = ", ".join(f"{part} {next(iter(d.values())).shape}" for part, d in out.items())
    print(f"{data.name}: {what}: {shapes} per pooling ({', '.join(pools)})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
