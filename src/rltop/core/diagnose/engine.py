"""Evaluation: ``diagnose`` (one run, once) and ``Diagnoser`` (warnings kept up to date)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from rltop.core.diagnose.context import Context
from rltop.core.diagnose.registry import (
    ONSET,
    RULES,
    SEVERITIES,
    SEVERITY_RANK,
    Finding,
    Rule,
    Warning,
)
from rltop.core.diagnose.series import hold_points, last_true, settle, where
from rltop.core.store import RunSnapshot, StoreSnapshot

# -- evaluation ------------------------------------------------------------------------------
#: parameters every trend rule understands besides its own (see ``trend_window``, ``warmup_points``)
COMMON_PARAMS = (
    "window",
    "min_window",
    "max_window",
    "warmup_points",
    "warmup_fraction",
    "hold_points",
    "clear_points",
)


def rule_params(
    rule_id: str, thresholds: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """A rule's defaults with the user's overrides applied."""
    params = dict(RULES[rule_id].defaults)
    params.update((thresholds or {}).get(rule_id, {}))
    return params


def check_thresholds(thresholds: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Problems in a thresholds table: unknown rule ids or parameter names (for the config)."""
    problems = []
    for rule_id, params in thresholds.items():
        if rule_id not in RULES:
            problems.append(f"unknown rule id in [thresholds]: {rule_id!r}")
            continue
        if not isinstance(params, Mapping):
            problems.append(f"[thresholds.{rule_id!r}] must be a table")
            continue
        for key in params:
            if key not in RULES[rule_id].defaults and key not in COMMON_PARAMS:
                problems.append(f"unknown threshold {key!r} for {rule_id}")
    return problems


def diagnose(
    run: RunSnapshot,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
    role_extra: Mapping[str, Iterable[str]] | None = None,
    *,
    now: float | None = None,
    last_activity: float | None = None,
    live: bool = False,
    skip: Iterable[str] = (),
    text_cache: dict | None = None,
) -> list[Warning]:
    """Every rule over one run, once. ``run.stalled`` needs ``now``, ``last_activity``, ``live``;
    ``text_cache`` (a dict kept between calls for the same run) spares the text rules re-reading
    completions they have already judged."""
    ctx = Context(
        run, role_extra, now=now, last_activity=last_activity, live=live, text_cache=text_cache
    )
    skipped = set(skip)
    out = []
    for rule_id, r in RULES.items():
        if rule_id in skipped:
            continue
        if r.kind == "sft" and ctx.is_rl:
            continue
        if r.kind == "rl" and not ctx.is_rl:
            continue
        params = rule_params(rule_id, thresholds)
        if not params.get("enabled", True):
            continue
        found = r.check(ctx, params)
        if found is None:
            continue
        w = settle_finding(run, r, found, params)
        if w is not None:
            out.append(w)
    out = exclusive(out)
    out.sort(key=lambda w: (-w.rank, w.id))
    return out


def settle_finding(
    run: RunSnapshot, r: Rule, found: Finding, params: Mapping[str, Any]
) -> Warning | None:
    """A rule's finding as a warning: when the rule says where its condition held point by point,
    the onset, severity and clearing follow the engine's semantics (``DIAGNOSTICS.md``, "When a
    warning starts, changes and clears"), the same for every rule:

    - active while the condition holds, and until it has been false for ``clear`` points in a row
      (hysteresis); shorter false stretches are flicker and keep the onset;
    - it starts once the condition held at ``hold`` points;
    - severity is the highest tier still active, dated from that tier's crossing.
    """
    severity, step, action = found.severity, found.step, found.action
    holding, note = True, ""
    if found.held is not None and found.held_steps is not None:
        levels = found.held
        if levels.dtype == pl.Boolean:
            levels = where(levels, SEVERITY_RANK[found.severity], -1)
        levels = levels.cast(pl.Int64)
        hold, clear = hold_points(len(levels), params)
        got = settle(levels, hold, clear)
        if got is None:
            return None
        tier, start = got
        start = max(0, start - int(found.lag))  # where the change began, not the smoothed sign
        severity = SEVERITIES[tier]
        holding = bool(levels[-1] >= 0)
        if not holding:
            quiet = len(levels) - 1 - (last_true(levels >= 0) or 0)
            note = f"; not met at the last {quiet} points (clears after {clear})"
        step = int(found.held_steps[start])
        if found.tier_actions and severity in found.tier_actions:
            action = found.tier_actions[severity]
    evidence = found.evidence.replace(ONSET, str(step) if step is not None else "?") + note
    return Warning(
        id=r.id,
        severity=severity,
        run=run.name,
        metrics=found.metrics,
        step=step,
        evidence=evidence,
        action=action or r.action,
        title=r.title,
        run_id=run.run_id,
        at_step=found.at_step,
        holding=holding,
    )


def exclusive(warnings: list[Warning]) -> list[Warning]:
    """Drop the warnings another active one excludes (opposite advice: the specific one wins)."""
    ids = {w.id for w in warnings}
    gone = {x for i in ids for x in RULES[i].excludes} if ids else set()
    return [w for w in warnings if w.id not in gone]


@dataclass(eq=False)
class WarningsUpdate:
    """The result of one ``Diagnoser.update``: what is active, and what moved since last time."""

    active: list[Warning]
    started: list[Warning] = field(default_factory=list)
    changed: list[Warning] = field(default_factory=list)  # same id, new severity
    cleared: list[Warning] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        return bool(self.started or self.changed or self.cleared)


@dataclass(eq=False, repr=False)
class _RunState:
    version: int | None = None
    sources_key: tuple = ()
    data: list[Warning] = field(default_factory=list)
    health: list[Warning] = field(default_factory=list)
    last_activity: float | None = None
    live: bool = False
    #: the text rules' verdicts on completions already read (bounded: the newest steps only)
    text_cache: dict = field(default_factory=dict)


def _newest_mtime(run: RunSnapshot) -> float | None:
    newest = None
    for src in run.sources:
        try:
            mtime = os.stat(src.path).st_mtime
        except OSError:
            continue
        newest = mtime if newest is None else max(newest, mtime)
    return newest


class Diagnoser:
    """Keeps warnings per run up to date as snapshots arrive; cheap when nothing changed.

    Data rules run again only for runs whose ``version`` moved; ``run.unreadable`` when a
    source's skip count or status moved; ``run.stalled`` on every update against ``clock``. State
    is a fixed amount per run (no history), so a headless watch can run for days.
    """

    def __init__(
        self,
        thresholds: Mapping[str, Mapping[str, Any]] | None = None,
        role_extra: Mapping[str, Iterable[str]] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        stalled: bool = True,
    ) -> None:
        self.thresholds = dict(thresholds or {})
        self.role_extra = dict(role_extra or {})
        self.clock = clock
        self.stalled = stalled
        self._runs: dict[str, _RunState] = {}
        self._active: dict[tuple[str, str], Warning] = {}
        self.evaluations = 0  # data-rule evaluations done (for tests and benchmarks)

    def update(self, snapshot: StoreSnapshot | Iterable[RunSnapshot]) -> WarningsUpdate:
        """Re-evaluate what changed and return the active warnings with what started/cleared."""
        runs = snapshot.runs if isinstance(snapshot, StoreSnapshot) else tuple(snapshot)
        now = self.clock()
        seen = set()
        current: dict[tuple[str, str], Warning] = {}
        for run in runs:
            seen.add(run.run_id)
            state = self._runs.setdefault(run.run_id, _RunState())
            self._track_activity(state, run, now)
            if run.version != state.version:
                state.data = diagnose(
                    run,
                    self.thresholds,
                    self.role_extra,
                    skip=("run.unreadable", "run.stalled"),
                    text_cache=state.text_cache,
                )
                state.version = run.version
                self.evaluations += 1
            key = tuple((s.path, s.skipped, s.status) for s in run.sources)
            if key != state.sources_key:
                state.sources_key = key
                state.health = self._only(run, "run.unreadable")
            stalled = []
            if self.stalled:
                stalled = self._only(
                    run,
                    "run.stalled",
                    now=now,
                    last_activity=state.last_activity,
                    live=state.live,
                )
            for w in (*state.data, *state.health, *stalled):
                current[w.key] = w
        for run_id in [r for r in self._runs if r not in seen]:
            del self._runs[run_id]
        update = WarningsUpdate(active=sorted(current.values(), key=_order))
        for key, w in current.items():
            old = self._active.get(key)
            if old is None:
                update.started.append(w)
            elif old.severity != w.severity:
                update.changed.append(w)
        update.cleared = [w for key, w in self._active.items() if key not in current]
        self._active = current
        return update

    @property
    def active(self) -> list[Warning]:
        return sorted(self._active.values(), key=_order)

    def _only(self, run: RunSnapshot, rule_id: str, **kwargs: Any) -> list[Warning]:
        if not rule_params(rule_id, self.thresholds).get("enabled", True):
            return []
        others = [r for r in RULES if r != rule_id]
        return diagnose(run, self.thresholds, self.role_extra, skip=others, **kwargs)

    def _track_activity(self, state: _RunState, run: RunSnapshot, now: float) -> None:
        limit = float(rule_params("run.stalled", self.thresholds)["minutes"]) * 60
        if state.version is None:
            # first sight: the run counts as writing if its files changed recently
            newest = _newest_mtime(run)
            state.last_activity = newest if newest is not None else run.last_update
            state.live = state.last_activity is not None and now - state.last_activity < limit
        elif run.version != state.version:
            # new data: the store stamps when it arrived (``last_update``, wall clock)
            state.last_activity = run.last_update if run.last_update is not None else now
            state.live = True


def _order(w: Warning) -> tuple:
    return (-w.rank, w.run, w.id)


def worst(warnings: Iterable[Warning]) -> str | None:
    """The highest severity among warnings, or None."""
    best = None
    for w in warnings:
        if best is None or w.rank > SEVERITY_RANK[best]:
            best = w.severity
    return best
