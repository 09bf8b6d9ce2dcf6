"""``rltop sources [PATH ...]``: what was found, how it was read, and why other files were not.

Reads everything under the paths once (headless, no Textual) and lists, per run, each source
with the format it was read as, rows read and lines skipped (with the reasons), then every file
that was not read with the reason: a file rltop looked at and did not recognise (the reasons come
from the format sniffers), or a file whose type it never reads. So a user can tell at once why a
file is missing from the dashboard.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections import Counter
from typing import Any

from rltop.core.inert import plain

#: non-candidate files listed one by one up to this many (unless --all), then counted by type
MAX_OTHER_FILES = 40


#: start-up ends where this command makes its Follower (core/startup.py), not before `run`
SETTLES_AT_FOLLOWER = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        default=["."],
        metavar="PATH",
        help="folders or files to look at (default: .)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="list every file that is not read, not only the first ones of each type",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    paths = list(args.paths or ["."])
    from rltop.commands.common import object_store_errors, path_exists

    store_errors = object_store_errors(paths)
    missing = [p for p in paths if not path_exists(p)]
    if missing and len(missing) == len(paths):
        print(f"rltop: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        report = collect(paths)
    except store_errors as exc:  # wrong credentials, missing bucket
        print(f"rltop sources: {plain(str(exc))}", file=sys.stderr)
        return 2
    if args.json:
        import json

        print(json.dumps(report, indent=2, default=str))
    else:
        print(render(report, show_all=args.all), end="")
    return 0 if report["sources"] else 1


def collect(paths: list[str]) -> dict[str, Any]:
    """Read the paths once and describe every file: sources, not recognised, not read."""
    from types import SimpleNamespace

    from rltop.commands.common import has_candidates
    from rltop.core import discover

    if has_candidates(paths):
        from rltop.core.follow import Follower  # polars: only when there is something to read

        follower = Follower(paths)
        follower.read_all()
        snap = follower.store.snapshot()
        roots, missing = follower.paths, follower.missing_paths
        where = follower.where
    else:
        where = str
        snap = SimpleNamespace(runs=(), sources=(), unrecognized=())
        roots = [os.path.abspath(p) for p in paths] or [os.path.abspath(".")]
        missing = [p for p in roots if not os.path.exists(p)]
    runs = {r.run_id: r for r in snap.runs}
    sources = []
    for info in sorted(snap.sources, key=lambda s: (s.run_id, s.path)):
        run = runs.get(info.run_id)
        sources.append(
            {
                "run": run.name if run else info.run_id,
                "path": where(info.path),
                "shown": _shown(info.path, roots),
                "format": info.format,
                "kind": info.kind,
                "rows": info.rows,
                "skipped": info.skipped,
                "ignored": info.ignored,
                "status": info.status,
                "error": info.error,
                "skip_reasons": dict(info.skip_reasons.most_common()),
                "ignore_reasons": dict(info.ignore_reasons.most_common()),
            }
        )
    unrecognized = [
        {"path": where(path), "shown": _shown(path, roots), "reason": reason}
        for path, reason in snap.unrecognized
    ]
    known = {s.path for s in snap.sources} | {path for path, _reason in snap.unrecognized}
    unlisted: list[tuple[str, str]] = []  # folders that could not be listed, and why
    others = [
        {"path": where(path), "shown": _shown(path, roots), "reason": _why_not_read(path)}
        for path in _all_files([p for p in roots if os.path.exists(p)], unlisted)
        if path not in known
        and (not discover.is_candidate(os.path.basename(path)) or not _regular(path))
    ]
    others += [
        {"path": where(path), "shown": _shown(path, roots) + os.sep, "reason": reason}
        for path, reason in unlisted
    ]
    return {
        "paths": [where(r) for r in roots],
        "missing": missing,
        "runs": [
            {
                "name": r.name,
                "folder": where(r.run_id),
                "metrics": len(r.metric_names),
                "steps": r.metrics.height,
                "rollouts": r.rollouts.height,
                "config_keys": len(r.config),
                "state": r.config.get("wandb/state"),
            }
            for r in snap.runs
        ],
        "sources": sources,
        "unrecognized": unrecognized,
        "not_read": others,
    }


def _shown(path: str, roots: list[str]) -> str:
    for root in sorted(roots, key=len, reverse=True):
        base = root if os.path.isdir(root) else os.path.dirname(root)
        if path == root:
            return os.path.basename(path)
        if path.startswith(base.rstrip(os.sep) + os.sep):
            return os.path.relpath(path, base)
    return path


def _all_files(paths: list[str], unlisted: list[tuple[str, str]] | None = None):
    """Every file under the paths, skipping the folders the discovery never enters; a folder
    that cannot be listed goes to ``unlisted`` with the reason."""
    from rltop.core.discover import HIDDEN_DIRS_FOLLOWED, IGNORED_DIRS, MAX_FILE_COUNT

    seen = 0
    for top in paths:
        if os.path.isfile(top):
            yield os.path.abspath(top)
            continue

        def refused(exc: OSError) -> None:
            if unlisted is not None and exc.filename:
                reason = (exc.strerror or str(exc)).lower()
                unlisted.append((os.path.abspath(exc.filename), f"folder not read: {reason}"))

        for folder, dirs, files in os.walk(top, onerror=refused):
            dirs[:] = sorted(
                d
                for d in dirs
                if d not in IGNORED_DIRS and (not d.startswith(".") or d in HIDDEN_DIRS_FOLLOWED)
            )
            for name in sorted(files):
                seen += 1
                if seen > MAX_FILE_COUNT:
                    return
                yield os.path.join(folder, name)


def _regular(path: str) -> bool:
    """A regular file (FIFOs, sockets and devices are never read: listed with the reason)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True  # vanished meanwhile: nothing to say


def _why_not_read(path: str) -> str:
    """The reason for a file whose type rltop does not follow (the sniffers may know it)."""
    from rltop.core.formats import SNIFF_BYTES, sniff
    from rltop.core.tail import open_regular

    try:
        with open_regular(path) as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    found = sniff(path, head)
    ext = os.path.splitext(path)[1].lower()
    if found.parser is None and found.reason != "not a metrics or rollouts file type":
        return found.reason
    return f"not a file type rltop reads ({ext or 'no extension'})"


def render(report: dict[str, Any], *, show_all: bool = False) -> str:
    lines: list[str] = []
    for path in report["missing"]:
        lines.append(f"missing: {plain(path)}")
    sources = report["sources"]
    by_run: dict[str, list[dict[str, Any]]] = {}
    for src in sources:
        by_run.setdefault(src["run"], []).append(src)
    runs = {r["name"]: r for r in report["runs"]}
    lines.append(f"Read: {len(sources)} source(s) in {len(by_run)} run(s)")
    for name, items in by_run.items():
        info = runs.get(name, {})
        summary = []
        if info.get("steps"):
            summary.append(f"{info['steps']} steps, {info['metrics']} metrics")
        if info.get("rollouts"):
            summary.append(f"{info['rollouts']} rollouts")
        if info.get("config_keys"):
            summary.append(f"{info['config_keys']} config keys")
        if info.get("state"):
            if not info.get("steps"):
                summary.insert(0, "0 steps")
            summary.append(f"state: {plain(info['state'])}")
        lines.append(f"  run {plain(name)}" + (f"  ({'; '.join(summary)})" if summary else ""))
        for src in items:
            status = "" if src["status"] == "following" else f"  [{src['status']}]"
            if src["error"]:
                status += f" {plain(src['error'])}"
            counts = "run config" if src["kind"] == "config" else f"{src['rows']} rows"
            if src["skipped"]:
                counts += f", {src['skipped']} skipped"
            if src["ignored"]:
                counts += f", {src['ignored']} ignored"
            lines.append(f"    {plain(src['shown'])}")
            lines.append(f"        {src['format']} ({src['kind']}): {counts}{status}")
            for reason, count in src["skip_reasons"].items():
                lines.append(f"        skipped x{count}: {plain(reason)}")
            for reason, count in src["ignore_reasons"].items():
                lines.append(f"        ignored x{count}: {plain(reason)}")
    unrecognized = report["unrecognized"]
    if unrecognized:
        lines.append(f"Not recognised: {len(unrecognized)} file(s)")
        for item in unrecognized:
            lines.append(f"  {plain(item['shown'])}")
            lines.append(f"      {plain(item['reason'])}")
    others = report["not_read"]
    if others:
        lines.append(f"Not read (file types rltop does not follow): {len(others)} file(s)")
        shown = others if show_all or len(others) <= MAX_OTHER_FILES else others[:MAX_OTHER_FILES]
        for item in shown:
            lines.append(f"  {plain(item['shown'])}")
            lines.append(f"      {plain(item['reason'])}")
        if len(shown) < len(others):
            rest = Counter(
                os.path.splitext(o["path"])[1].lower() or "no extension"
                for o in others[len(shown) :]
            )
            counts = ", ".join(f"{n} {plain(ext)}" for ext, n in rest.most_common())
            lines.append(f"  ... and {len(others) - len(shown)} more ({counts}); --all lists them")
    if not sources:
        lines.append("Nothing was read: see the reasons above.")
    return "\n".join(lines) + "\n"
