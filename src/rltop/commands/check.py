"""``rltop check [PATH ...]``: read every run once, say what is wrong, exit with a status.

For cron, CI and ``ssh host rltop check``: no terminal needed, never imports Textual. Prints per run
the key metrics, the warnings (rules in docs/rules.md) with their evidence and action, and the
best-checkpoint candidates; ``--json`` prints one JSON document instead. Exit status follows the
monitoring-plugin convention: 0 nothing at warning or above, 1 a warning, 2 a critical, 3 nothing
readable was found or rltop itself failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from rltop.commands.common import (
    EXIT_CRITICAL,
    EXIT_OK,
    EXIT_UNKNOWN,
    EXIT_WARNING,
    add_rule_arguments,
    apply_memory_budget,
    has_candidates,
    json_safe,
    load_settings,
    object_store_errors,
    path_exists,
    silence_stdout,
)
from rltop.core.inert import plain

#: start-up ends where this command makes its Follower (core/startup.py), not before `run`
SETTLES_AT_FOLLOWER = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", default=["."], metavar="PATH", help="folders or files (default: .)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    add_rule_arguments(parser)
    parser.add_argument(
        "--stalled-after",
        type=float,
        default=None,
        metavar="MIN",
        help="also report run.stalled for runs whose files have not changed for MIN minutes "
        "(off by default: a single read cannot tell a finished run from a dead one)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BrokenPipeError:  # `rltop check | head`
        silence_stdout()
        return EXIT_UNKNOWN
    except Exception as exc:  # rltop itself failed: the monitoring convention says 3
        print(f"rltop check: error: {type(exc).__name__}: {plain(exc)}", file=sys.stderr)
        return EXIT_UNKNOWN


def _run(args: argparse.Namespace) -> int:
    paths = list(args.paths or ["."])
    store_errors = object_store_errors(paths)
    missing = [p for p in paths if not path_exists(p)]
    for path in missing:
        print(f"rltop: no such file or folder: {plain(path)}", file=sys.stderr)
    try:
        # the settings (config file, platformdirs) are read only once there is something to read
        report = collect(
            [p for p in paths if path_exists(p)], lambda: load_settings(args), args.stalled_after
        )
    except store_errors as exc:  # wrong credentials, missing bucket: nothing could be read
        print(f"rltop check: {plain(str(exc))}", file=sys.stderr)
        return EXIT_UNKNOWN
    if args.json:
        print(json.dumps(json_safe(report), indent=2, allow_nan=False))
    else:
        print(render(report), end="")
    sys.stdout.flush()
    return int(report["exit_code"])


def collect(paths: list[str], settings: Any, stalled_after: float | None = None) -> dict[str, Any]:
    """Read the paths once and build the report (the ``--json`` document). ``settings`` may be a
    function that loads them: it is called only when there is a file to read."""
    runs_out: list[dict[str, Any]] = []
    runs: Any = ()
    where = str
    if paths and has_candidates(paths):
        if callable(settings):
            settings = settings()
        # polars and the rules are imported only when there is something to read (numpy never:
        # the rules compute on polars; only rollout blocks and long texts load it)
        from rltop.core.follow import Follower

        apply_memory_budget(settings)
        follower = Follower(paths)
        follower.read_all()
        snap = follower.store.snapshot()
        runs = snap.runs
        where = follower.where
    if runs:
        from rltop.core import roles
        from rltop.core.checkpoint import best_checkpoint
        from rltop.core.diagnose import diagnose

        thresholds = {k: dict(v) for k, v in settings.thresholds.items()}
        if stalled_after is not None:
            thresholds.setdefault("run.stalled", {})["minutes"] = stalled_after
    now = time.time()
    for run in runs:
        if run.metrics.is_empty() and run.rollouts.is_empty() and not run.sources:
            continue
        last_activity = _newest_mtime(run) if stalled_after is not None else None
        warnings = diagnose(
            run,
            thresholds,
            settings.roles,
            now=now if stalled_after is not None else None,
            last_activity=last_activity,
            live=stalled_after is not None,
        )
        best = best_checkpoint(run, settings.roles)
        names = [c for c in run.metrics.columns if c != "step"]
        resolved = roles.resolve(names, settings.roles)
        latest = _latest(run)
        key = {
            role: {"metric": resolved[role], "value": latest.get(resolved[role])}
            for role in roles.KEY_ROLES
            if role in resolved
        }
        metric_sources = [s for s in run.sources if s.kind == "metrics"] or list(run.sources)
        runs_out.append(
            {
                "name": run.name,
                "path": where(run.run_id),  # the run's own folder (or file), not the path given
                "format": metric_sources[0].format if metric_sources else None,
                "sources": [
                    {
                        "path": where(s.path),
                        "format": s.format,
                        "kind": s.kind,
                        "rows": s.rows,
                        "skipped": s.skipped,
                    }
                    for s in run.sources
                ],
                # where the run's configuration was read (core/runconfig.py), [] when nowhere
                "config_sources": [where(p) for p in run.config_sources],
                "steps": run.metrics.height,
                "last_step": run.last_step,
                "rollouts": run.rollouts.height,
                "key_metrics": key,
                "metrics": latest,
                "warnings": [w.to_dict() for w in warnings],
                "best_checkpoint": best.to_dict() if best else None,
            }
        )
    readable = any(r["steps"] or r["rollouts"] for r in runs_out)
    severities = [w["severity"] for r in runs_out for w in r["warnings"]]
    if not readable:
        code = EXIT_UNKNOWN
    elif "critical" in severities:
        code = EXIT_CRITICAL
    elif "warning" in severities:
        code = EXIT_WARNING
    else:
        code = EXIT_OK
    return {
        "runs": runs_out,
        "counts": {s: severities.count(s) for s in ("critical", "warning", "info")},
        "exit_code": code,
    }


def _latest(run: Any) -> dict[str, float | None]:
    """The last logged (non-null) value of every metric."""
    frame = run.metrics
    if frame.is_empty():
        return {}

    from rltop.core.cols import named

    cols = [c for c in frame.columns if c != "step"]
    if not cols:
        return {}
    row = frame.select(named(c).drop_nulls().last() for c in cols).row(0, named=True)
    return {k: (None if v is None else float(v)) for k, v in row.items()}


def _newest_mtime(run: Any) -> float | None:
    times = []
    for src in run.sources:
        try:
            times.append(os.stat(src.path).st_mtime)
        except OSError:
            continue
    return max(times) if times else None


def _fmt(value: float | None) -> str:
    from rltop.core.diagnose import fmt_number

    return fmt_number(value)


LABELS = {"critical": "CRITICAL", "warning": "WARNING", "info": "info"}


def render(report: dict[str, Any]) -> str:
    """The human summary: per run, key metrics, warnings with evidence and action, checkpoints."""
    lines: list[str] = []
    runs = report["runs"]
    if not runs or (report["exit_code"] == EXIT_UNKNOWN and not any(r["steps"] for r in runs)):
        lines.append("rltop check: nothing readable found (see `rltop sources` for why)")
    for r in runs:
        where = f"{r['format']}, " if r["format"] else ""
        size = f"{r['steps']} steps" + (f", last step {r['last_step']}" if r["steps"] else "")
        if r["rollouts"]:
            size += f", {r['rollouts']} rollouts"
        lines.append(f"run {plain(r['name'])}  ({where}{size})")
        lines.append(f"  {plain(r['path'])}")
        if r["key_metrics"]:
            shown = "  ".join(
                f"{plain(v['metric'])} {_fmt(v['value'])}" for v in r["key_metrics"].values()
            )
            lines.append(f"  latest: {shown}")
        if not r["warnings"]:
            lines.append("  no warnings")
        for w in r["warnings"]:
            since = f" since step {w['step']}" if w["step"] is not None else ""
            lines.append(f"  {LABELS[w['severity']]:<8} {w['id']}{since}: {plain(w['title'])}")
            lines.append(f"           {plain(w['evidence'])}")
            lines.append(f"           → {plain(w['action'])}")
        best = r["best_checkpoint"]
        if best:
            if best["kind"] == "supervised":
                lines.append(f"  best checkpoint (lowest {plain(best['basis'])}):")
            else:
                lines.append("  checkpoints to evaluate with your task harness:")
            for c in best["candidates"]:
                nums = ", ".join(f"{plain(k)} {_fmt(v)}" for k, v in c["values"].items())
                saved = f"  → saved: {plain(c['saved'])}" if c.get("saved") else ""
                lines.append(
                    f"    {plain(c['label'])}: step {c['step']}"
                    + (f"  ({nums})" if nums else "")
                    + saved
                )
        lines.append("")
    counts = report["counts"]
    lines.append(
        f"{len(runs)} run(s): {counts['critical']} critical, {counts['warning']} warning(s), "
        f"{counts['info']} info; exit {report['exit_code']}"
    )
    return "\n".join(lines) + "\n"
