"""Warnings over ``rltop demo``'s first 300 steps, headless and deterministic: the demo's files are
written step by step (no clock) and read after each step as the dashboard and ``rltop watch --json``
would. No flapping; the rollout-text and pace rules fire when the demo turns degenerate, and on
nothing in the shared fixtures."""

from __future__ import annotations

import io
import itertools
import json
from collections import defaultdict

import pytest

from rltop.commands.watch import Printer, lean_store
from rltop.core.diagnose import Diagnoser, diagnose
from rltop.core.follow import Follower
from rltop.demo import DemoRun

from conftest import read_snapshot

NEW_RULES = {"rl.repetition", "rl.garbled", "rl.mode_collapse", "run.slowdown"}
STEPS = 300
#: the shortest hysteresis (points a condition must be false before a warning clears)
MIN_CLEAR = 8


def _events_by_id(events):
    by_id = defaultdict(list)
    for step, kind, rule_id in events:
        by_id[rule_id].append((step, kind))
    return by_id


def _no_flapping(by_id):
    """After the first report (the state when the watcher opens at step 20, which may hold a
    warning on its way out: the early all-zero groups end before step 20 and the warning clears
    once the hysteresis has passed), each warning starts at most once and never clears sooner
    than the hysteresis after it started."""
    for rule_id, seq in by_id.items():
        later = [(s, k) for s, k in seq if s > 20]
        assert [k for _, k in later].count("start") <= 1, (rule_id, seq)
        for (a, ka), (b, kb) in itertools.pairwise(seq):
            if ka == "start" and kb == "clear" and a > 20:
                assert b - a >= MIN_CLEAR, (rule_id, seq)


@pytest.mark.slow
def test_demo_first_300_steps_no_flapping_and_the_new_rules_fire(tmp_path):
    demo = DemoRun(tmp_path, seed=7)
    demo.prefill(20)
    # the dashboard's pipeline: a full store (rollout text kept), a Diagnoser
    full = Follower([str(tmp_path)])
    full.read_all()
    diag = Diagnoser(stalled=False)
    # rltop watch --json's pipeline: its lean store (no rollout text), the JSON printer
    lean = Follower([str(tmp_path)], lean_store())
    lean.read_all()
    watch_diag = Diagnoser(stalled=False)
    out = io.StringIO()
    printer = Printer(True, out)
    events, lines = [], []
    for step in range(20, STEPS + 1):
        if step > 20:
            demo.step += 1
            demo.write_step(demo.step)
            full.read_all()
            lean.read_all()
        update = diag.update(full.store.snapshot())
        events += [(step, "start", w.id) for w in update.started]
        events += [(step, "clear", w.id) for w in update.cleared]
        before = out.tell()
        printer.update(watch_diag.update(lean.store.snapshot()))
        lines += [(step, json.loads(x)) for x in out.getvalue()[before:].splitlines()]

    by_id = _events_by_id(events)
    _no_flapping(by_id)
    # the degenerate phase (from step 220): all four new rules start, within a few steps
    for rule_id in NEW_RULES:
        starts = [s for s, kind in by_id.get(rule_id, []) if kind == "start"]
        assert starts and demo.degenerate_at <= starts[0] <= demo.degenerate_at + 10, rule_id
    active = {w.id: w for w in diag.active}
    assert set(active) >= NEW_RULES
    for rule_id in NEW_RULES:  # dated from the phase's first step, not later
        assert abs(active[rule_id].step - demo.degenerate_at) <= 5, active[rule_id]

    # watch --json: one line per event, no start/clear pair of a warning closer than the
    # hysteresis, and each warning starts at most once
    assert lines and all(doc["event"] in ("start", "change", "clear") for _, doc in lines)
    watch = _events_by_id([(s, d["event"], d["id"]) for s, d in lines if d["event"] != "change"])
    _no_flapping(watch)
    assert "run.slowdown" in watch  # the pace rule needs no text; watch keeps none


def test_new_rules_fire_on_nothing_in_the_fixtures(fixtures):
    snap = read_snapshot(fixtures)
    assert len(snap.runs) >= 5
    for run in snap.runs:
        found = {w.id for w in diagnose(run)}
        assert not found & NEW_RULES, (run.name, found)


def test_demo_before_the_degenerate_phase_is_untouched(tmp_path):
    """The degenerate phase changes nothing before it (the snapshots' demo data stays)."""
    a, b = DemoRun(tmp_path / "a", seed=3), DemoRun(tmp_path / "b", seed=3, degenerate_at=10_000)
    a.prefill(90)
    b.prefill(90)
    for name in ("gsm8k_grpo.jsonl", "rollouts/90.jsonl"):
        assert (a.run_dir / name).read_text() == (b.run_dir / name).read_text()
