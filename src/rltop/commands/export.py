"""``rltop export``: per-step metrics of each run to CSV or Parquet, never into the logs folders."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", default=["."], metavar="PATH", help="folders or files (default: .)"
    )
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--csv", action="store_const", const="csv", dest="kind", help="CSV (default)")
    kind.add_argument(
        "--parquet", action="store_const", const="parquet", dest="kind", help="Parquet"
    )
    parser.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="folder to write into (default: ./rltop-export in the current folder)",
    )
    parser.add_argument("--rollouts", action="store_true", help="also write each run's rollouts")
    from rltop.commands.common import add_memory_argument

    add_memory_argument(parser)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "run"


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def run(args: argparse.Namespace) -> int:
    from rltop.commands.common import apply_memory_budget, load_settings
    from rltop.core.follow import Follower

    apply_memory_budget(load_settings(args))  # --max-memory, RLTOP_MAX_MEMORY, config file

    kind = args.kind or "csv"
    roots = [
        Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent for p in args.paths
    ]
    out = Path(args.out).resolve() if args.out else Path.cwd().resolve() / "rltop-export"
    if args.out is None and _inside(out, roots):
        # the default must not land inside the logs: only an explicit --out may
        out = Path(os.path.expanduser("~")).resolve() / "rltop-export"
    from rltop.core.inert import plain
    from rltop.core.objstore import ObjectStoreError

    follower = Follower(list(args.paths))
    try:
        follower.read_all()
    except ObjectStoreError as exc:
        print(f"rltop export: {plain(str(exc))}", file=sys.stderr)
        return 3
    snap = follower.store.snapshot()
    runs = [r for r in snap.runs if r.metric_names or r.rollouts.height]
    if not runs:
        print("rltop export: no runs found under " + ", ".join(args.paths), file=sys.stderr)
        return 3
    out.mkdir(parents=True, exist_ok=True)
    for run in runs:
        base = out / _slug(run.name)
        written = []
        if run.metric_names:
            path = base.with_name(base.name + f".metrics.{kind}")
            _write(run.metrics, path, kind)
            written.append(f"{path} ({run.metrics.height} steps × {len(run.metric_names)} metrics)")
        if args.rollouts and run.rollouts.height:
            from rltop.core.coldtext import fill_text

            frame = fill_text(run.rollouts)
            frame = frame.select([c for c in frame.columns if not c.startswith("_")])
            path = base.with_name(base.name + f".rollouts.{kind}")
            _write(frame, path, kind)
            written.append(f"{path} ({frame.height} rollouts)")
        for line in written:
            print(line)
    return 0


def _write(frame, path: Path, kind: str) -> None:
    if kind == "parquet":
        frame.write_parquet(path)
    else:
        frame.write_csv(path)
