"""Command line: ``python -m rrlib <command> ...``.

Commands::

    python -m rrlib datasets [--root DIR]                      the registry, with sizes and presence
    python -m rrlib download NAME... [--root DIR] [--retries N] [--timeout S] [--quiet]
    python -m rrlib prepare synth-landmarks [--root DIR] [--force]
    python -m rrlib reproduce [NN ...] [--dataset NAME] [--full] [--root DIR]   REPRODUCTION.md

``download`` says what it will do per dataset: how much it downloads (files already on disk, whole
or partly, are not counted), and which archives already downloaded it only verifies and extracts.

``reproduce`` executes the notebooks (all, or those numbered) and writes ``REPRODUCTION.md``: every
ledger target with reported, ours and its status (:mod:`rrlib.reproduce`).

Exit codes: 0 success; 1 a download, preparation or notebook failed (the message says why and how to place
the files by hand); 2 usage error (unknown command or dataset name).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rrlib.datasets import (DownloadError, UnknownDatasetError, UnsafeArchiveError, download, format_table, get,
                            prepare)
from rrlib.datasets.registry import DatasetSpec, human_size, resolve_root
from rrlib.reproduce import PAPER_DATASETS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _cmd_datasets(args: argparse.Namespace) -> int:
    print(format_table(root=args.root))
    return EXIT_OK


def describe_download(spec: DatasetSpec, root: Path) -> str:
    """What ``download`` is about to do for ``spec``: generate, download N bytes, verify and extract
    archives already on disk, or only check files that are all present."""
    if spec.generated:
        return f"generating {spec.name}"
    pending = spec.pending(root)
    deps = [d for d in spec.requires if get(d).pending(root)]
    with_deps = f" (with {', '.join(deps)})" if deps else ""
    steps = []
    if any(action == "download" for _, action in pending):
        size, exact = spec.total_download_size(root)
        steps.append(f"downloading {human_size(size, exact) if size else 'files of unknown size'}")
    archives = [f.dest.rsplit("/", 1)[-1] for f, action in pending if action == "extract"]
    if archives:
        steps.append(f"verifying and extracting {', '.join(archives)} (already downloaded)")
    if not steps:
        return f"checking {spec.name} (all files present)"
    return f"{' and '.join(steps)}{with_deps} for {spec.name}"


def _cmd_download(args: argparse.Namespace) -> int:
    specs = [get(name) for name in args.names]  # unknown names fail before any download
    root = resolve_root(args.root)
    failed = []
    for spec in specs:
        print(f">> {describe_download(spec, root)} into {root}", flush=True)
        try:
            path = download(spec.name, root, retries=args.retries, timeout=args.timeout,
                            progress=not args.quiet)
        except (DownloadError, UnsafeArchiveError, OSError, ValueError, RuntimeError) as exc:
            print(f"error: {spec.name}: {exc}", file=sys.stderr)
            failed.append(spec.name)
            continue
        print(f">> {spec.name}: ready in {path}", flush=True)
    if failed:
        print(f"error: failed: {', '.join(failed)} (rerun the same command to resume)", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _cmd_prepare(args: argparse.Namespace) -> int:
    spec = get(args.name)
    if not spec.generated:
        print(f"error: {spec.name} is downloaded, not generated: use `python -m rrlib download {spec.name}`",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        path = prepare(spec.name, args.root, force=args.force)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {spec.name}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f">> {spec.name}: ready in {path}")
    return EXIT_OK


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from rrlib import reproduce

    try:
        return reproduce.main(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rrlib", description="rrlib: data and reproduction commands")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add_root(p: argparse.ArgumentParser) -> None:
        p.add_argument("--root", type=Path, default=None,
                       help="data root (default: $RRLIB_DATA, else data/ in a checkout, else ~/.cache/rrlib)")

    p = sub.add_parser("datasets", help="list the registered datasets, their sizes and whether they are present")
    add_root(p)
    p.set_defaults(func=_cmd_datasets)

    p = sub.add_parser("download", help="download datasets (resumable, verified)")
    p.add_argument("names", nargs="+", metavar="NAME", help="registered dataset name(s)")
    add_root(p)
    p.add_argument("--retries", type=int, default=5, help="retries per file on transient errors (default 5)")
    p.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds (default 60)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("prepare", help="generate an embedded dataset (synth-landmarks); no network")
    p.add_argument("name", metavar="NAME", help="a generated dataset, e.g. synth-landmarks")
    add_root(p)
    p.add_argument("--force", action="store_true", help="regenerate even if cached")
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("reproduce", help="execute the notebooks and write REPRODUCTION.md (reported vs ours)")
    p.add_argument("notebooks", nargs="*", metavar="NN", help="notebook numbers (default: all)")
    p.add_argument("--dataset", default=None,
                   help="DATASET of the notebooks that have one (e.g. roxford5k); default: each notebook's own")
    p.add_argument("--full", action="store_true",
                   help=f"also run each DATASET notebook on every paper dataset in the data root "
                        f"({', '.join(PAPER_DATASETS)})")
    add_root(p)
    p.add_argument("--out", type=Path, default=None, help="folder of the executed copies (default: reproduction/)")
    p.add_argument("--report", type=Path, default=None, help="the report to write (default: REPRODUCTION.md)")
    p.set_defaults(func=_cmd_reproduce)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UnknownDatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
