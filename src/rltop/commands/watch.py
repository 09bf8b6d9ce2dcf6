"""``rltop watch [PATH ...]``: follow runs with no screen and print warnings as they start or clear.

For piping into alerting (``rltop watch runs/ --json | my-alerter``): the same follower as the
dashboard, the rules of docs/rules.md, one line per event (``start``, ``change`` of severity,
``clear``) flushed at once, ``run.stalled`` from the clock. It reads what exists first and reports
the warnings already active, then follows. SIGINT/SIGTERM stop it cleanly (exit 0). Memory stays
bounded over days: the diagnoser keeps a fixed state per run, rollout text (prompts, completions,
messages) is dropped on arrival since no rule reads it, and once a run holds more than
``KEEP_ROLLOUTS`` rollout rows the oldest steps' rows go too (their per-step statistics stay; the
rules that read rollout rows, such as the share stopped at the length limit, see the recent steps).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from typing import Any

from rltop.commands.common import (
    add_rule_arguments,
    apply_memory_budget,
    json_safe,
    load_settings,
    object_store_errors,
    path_exists,
    silence_stdout,
)
from rltop.core.inert import plain

#: seconds to let a burst of file changes settle before evaluating
SETTLE = 0.2
#: rollout rows a run may hold before its oldest steps' rows are dropped (down to half of it)
KEEP_ROLLOUTS = 400_000


#: start-up ends where this command makes its Follower (core/startup.py), not before `run`
SETTLES_AT_FOLLOWER = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", default=["."], metavar="PATH", help="folders or files (default: .)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    add_rule_arguments(parser)
    parser.add_argument(
        "--stalled-after",
        type=float,
        default=None,
        metavar="MIN",
        help="minutes without new data before run.stalled (default 15, or the config's)",
    )
    parser.add_argument(
        "--poll", action="store_true", help="poll files instead of watching them (NFS)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="SEC",
        help="how often to check the clock for run.stalled (default: a twentieth of the limit, "
        "1-30 s)",
    )


def lean_store(keep_rollouts: int = KEEP_ROLLOUTS) -> Any:
    """A Store that keeps no rollout text (the rules only read steps, groups and numbers) and at
    most ``keep_rollouts`` rollout rows per run (the newest steps')."""
    import polars as pl

    from rltop.core.store import Store

    # the text columns rules read (short labels); every other string column is dropped
    kept_text = ("group", "split", "terminal_reason", "stop_reason", "finish_reason")

    class LeanStore(Store):
        def apply(self, path: str, result: Any, **kwargs: Any) -> bool:
            frame = result.rollout_frame
            if frame is not None and getattr(frame, "height", 0):
                if "group" in frame.columns and frame.schema["group"] == pl.String:
                    # the group is often the prompt text itself: keep its identity, not its text
                    frame = frame.with_columns(pl.col("group").hash().cast(pl.String))
                drop = [
                    c
                    for c, dtype in frame.schema.items()
                    if c not in kept_text and not (dtype.is_numeric() or dtype == pl.Boolean)
                ]
                result.rollout_frame = frame.drop(drop)
            with self._lock:
                changed = super().apply(path, result, **kwargs)
                rollouts = self.runs[self.sources[path].run_id].rollouts
                if rollouts.count > keep_rollouts:
                    rollouts.forget_before(_cutoff(rollouts.frame(), keep_rollouts // 2))
            return changed

    return LeanStore()


def _cutoff(frame: Any, keep: int) -> int:
    """The oldest step such that the rows of it and later steps are at most ``keep`` (the
    newest step is always kept whole)."""

    per = frame.group_by("step").len().sort("step", descending=True)
    total = per.get_column("len").cum_sum()
    fits = per.filter(total <= keep)
    steps = fits.get_column("step") if fits.height else per.get_column("step").head(1)
    return int(steps.min())


class Printer:
    """Writes one line per event; flushes so pipes see it at once."""

    def __init__(self, as_json: bool, out: Any = None) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout

    def event(self, kind: str, warning: Any) -> None:
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        if self.as_json:
            doc = {"time": stamp, "event": kind, **warning.to_dict(), "run_id": warning.run_id}
            line = json.dumps(json_safe(doc), allow_nan=False)
        else:
            since = f" since step {warning.step}" if warning.step is not None else ""
            line = f"{stamp} {kind.upper():<6} {warning.severity:<8} {warning.id} [{plain(warning.run)}]"
            if kind == "clear":
                line += f"{since}: {plain(warning.title)} (cleared)"
            else:
                line += f"{since}: {plain(warning.evidence)} → {plain(warning.action)}"
        self.out.write(line + "\n")
        self.out.flush()

    def update(self, update: Any) -> None:
        for w in update.started:
            self.event("start", w)
        for w in update.changed:
            self.event("change", w)
        for w in update.cleared:
            self.event("clear", w)


def run(args: argparse.Namespace) -> int:
    paths = list(args.paths or ["."])
    store_errors = object_store_errors(paths)
    if not any(path_exists(p) for p in paths):
        print(
            f"rltop watch: no such file or folder: {', '.join(map(plain, paths))}", file=sys.stderr
        )
        return 3
    from rltop.core.diagnose import Diagnoser, rule_params
    from rltop.core.follow import Follower

    settings = load_settings(args)
    apply_memory_budget(settings)
    thresholds = {k: dict(v) for k, v in settings.thresholds.items()}
    if args.stalled_after is not None:
        thresholds.setdefault("run.stalled", {})["minutes"] = args.stalled_after
    limit = float(rule_params("run.stalled", thresholds)["minutes"]) * 60
    interval = args.interval if args.interval else min(30.0, max(1.0, limit / 20))

    stop = threading.Event()
    dirty = threading.Event()
    failed: list[BaseException] = []  # at most one item: the follower thread's fatal error

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()
        dirty.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    store = lean_store()
    follower = Follower(paths, store, force_polling=settings.poll)
    diagnoser = Diagnoser(thresholds, settings.roles)
    printer = Printer(args.json)
    try:
        follower.read_all()  # what exists now, before the first report
        printer.update(diagnoser.update(store.snapshot()))
        snap = store.snapshot()
        print(
            f"rltop watch: {len(snap.sources)} source(s) in {len(snap.runs)} run(s); "
            f"run.stalled after {limit / 60:g} min",
            file=sys.stderr,
            flush=True,
        )

        def follow() -> None:
            try:
                follower.run(stop, dirty.set)
            except BaseException as exc:  # reported by the main loop, which then stops
                failed[:] = [exc]
                stop.set()
                dirty.set()

        thread = threading.Thread(target=follow, name="rltop-follow", daemon=True)
        thread.start()
        while not stop.is_set():
            if dirty.wait(interval):
                if stop.is_set():
                    break
                time.sleep(SETTLE)  # let a burst of writes land in one evaluation
                dirty.clear()
            printer.update(diagnoser.update(store.snapshot()))
        thread.join(timeout=5)
    except store_errors as exc:  # wrong credentials, missing bucket
        print(f"rltop watch: {plain(str(exc))}", file=sys.stderr)
        return 3
    except BrokenPipeError:  # the reader went away (`rltop watch | head -3`)
        stop.set()
        silence_stdout()
        return 0
    if failed:
        logging.getLogger(__name__).error("following failed: %r", failed[0])
        print(f"rltop watch: following failed: {plain(repr(failed[0]))}", file=sys.stderr)
        return 3
    return 0
