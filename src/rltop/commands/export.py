"""``rltop export``: per-step metrics of each run to CSV or Parquet, never into the logs folders."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

#: start-up ends where this command makes its Follower (core/startup.py), not before `run`
SETTLES_AT_FOLLOWER = True


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
    parser.add_argument(
        "--inside-logs",
        action="store_true",
        help="allow --out inside a logs folder being exported (rltop would read it back as logs)",
    )
    from rltop.commands.common import add_memory_argument

    add_memory_argument(parser)


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def run(args: argparse.Namespace) -> int:
    from rltop.commands.common import apply_memory_budget, load_settings
    from rltop.core.exportpath import inside_logs, unique_stems
    from rltop.core.follow import Follower
    from rltop.core.inert import plain
    from rltop.core.objstore import ObjectStoreError

    apply_memory_budget(load_settings(args))  # --max-memory, RLTOP_MAX_MEMORY, config file

    kind = args.kind or "csv"
    roots = [
        Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent for p in args.paths
    ]
    out = Path(args.out).resolve() if args.out else Path.cwd().resolve() / "rltop-export"
    if args.out is None and _inside(out, roots):
        # the default must not land inside the logs: only an explicit --out may
        out = Path(os.path.expanduser("~")).resolve() / "rltop-export"
    logs = inside_logs(str(out), args.paths) if args.out is not None else None
    if logs is not None and not args.inside_logs:
        print(
            f"rltop export: --out {plain(str(out))} is inside the logs folder {plain(logs)}: "
            "rltop would read the export back as logs (doubled rollouts, a phantom run). "
            "Choose a folder outside it, or add --inside-logs to write there anyway.",
            file=sys.stderr,
        )
        return 2
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
    try:
        _export(runs, out, kind, args.rollouts, unique_stems)
    except OSError as exc:  # a folder this user may not create or write (an unreadable $HOME)
        where = exc.filename if exc.filename is not None else out
        print(
            f"rltop export: cannot write {plain(str(where))}: {plain(exc.strerror or str(exc))}",
            file=sys.stderr,
        )
        return 3
    return 0


def _export(runs, out: Path, kind: str, rollouts: bool, unique_stems) -> None:
    from rltop.core.inert import plain

    out.mkdir(parents=True, exist_ok=True)
    # one distinct file name per run (a/b and a_b differ; long names end in a stable hash)
    for run, stem in zip(runs, unique_stems(r.name for r in runs), strict=True):
        written = []
        if run.metric_names:
            path = out / f"{stem}.metrics.{kind}"
            replaced = _write(run.metrics, path, kind)
            written.append(
                f"{path} ({run.metrics.height} steps × {len(run.metric_names)} metrics)" + replaced
            )
        if rollouts and run.rollouts.height:
            from rltop.core.coldtext import fill_text

            frame = fill_text(run.rollouts)
            frame = frame.select([c for c in frame.columns if not c.startswith("_")])
            path = out / f"{stem}.rollouts.{kind}"
            replaced = _write(frame, path, kind)
            written.append(f"{path} ({frame.height} rollouts)" + replaced)
        if stem != run.name:
            written = [f"{line}  [run {plain(run.name)}]" for line in written]
        for line in written:
            print(plain(line))


def _write(frame, path: Path, kind: str) -> str:
    """Write ``frame``; says so when an earlier export at ``path`` was replaced."""
    replaced = "  (replaced the previous export)" if path.exists() else ""
    if kind == "parquet":
        frame.write_parquet(path)
    else:
        frame.write_csv(path)
    return replaced
