"""Diagnostics benchmark (issue #3, "Performance").

Run ``python benchmarks/bench_diagnose.py [--quick]``. Measures, on this machine, in this run:

- rule evaluation after each appended batch at 10,000 steps: a run of 10,000 steps × 150 verl keys
  is in the store; one more step (or a batch of 10) is appended, a snapshot taken, and
  ``Diagnoser.update`` times the evaluation of every rule on the changed run (the budget is
  ≤ 20 ms). Also the same with rollouts (200 per step, groups of 8) for the rollout-based rules,
  and an update with nothing changed (only ``run.stalled`` against the clock).
- the same with rollout text (completions, some looping, some garbled; text on the newest 500
  steps, older text on disk as after a long run) for the text rules (``rl.repetition``,
  ``rl.garbled``, ``rl.mode_collapse``): after one appended step and after a batch of 10.
- ``rltop check`` on a folder holding the foundation benchmark's (a): a verl FileLogger JSONL of
  10,000 steps × 150 keys (the budget is ≤ 2 s), through the real console script, wall time; and
  the split in-process between reading (``Follower.read_all``) and diagnosing.

Each figure is the median (and p95) of repeated runs; the machine is shared, so expect noise.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS-diagnose.md"
sys.path.insert(0, str(HERE))

from bench_foundation import DATA, METRIC_KEYS, METRIC_STEPS, write_metrics  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def verl_rows(start: int, count: int, names: list[str], seed: int = 0) -> list[dict]:
    import random

    rng = random.Random(seed + start)
    rows = []
    for step in range(start, start + count):
        row: dict = {"step": step}
        for i, name in enumerate(names):
            row[name] = (i % 7) * 0.1 + rng.random() * 0.1
        rows.append(row)
    return rows


def completion_pool(size: int = 64) -> list[str]:
    """Completions for the text rules: mostly varied prose (150-500 words), a few loops, one
    garbled."""
    import random

    rng = random.Random(5)
    words = [
        "we",
        "count",
        "the",
        "packs",
        "then",
        "add",
        "the",
        "items",
        "multiply",
        "subtract",
        "check",
        "the",
        "total",
        "again",
        "before",
        "answering",
        "because",
        "each",
        "step",
        "matters",
        "and",
        "the",
        "result",
        "must",
        "match",
        "the",
        "question",
        "exactly",
    ]
    pool = [" ".join(rng.choice(words) for _ in range(rng.randint(150, 500))) for _ in range(size)]
    pool[3] = pool[3][:300] + " Let me re-check the packs and the items once more. " * 40
    pool[7] = pool[7][:200] + " \ufffd\ufffd Ответ ответ ответ неизвестен"
    return pool


_POOL: list[str] = []


def rollout_frame(
    first_step: int, steps: int, per_step: int = 200, group: int = 8, text: bool = False
):
    import numpy as np
    import polars as pl

    from rltop.core.formats.rollouts import CORE_SCHEMA

    n = steps * per_step
    rng = np.random.default_rng(first_step)
    step = np.repeat(np.arange(first_step, first_step + steps), per_step)
    extra = {}
    if text:
        if not _POOL:
            _POOL.extend(completion_pool())
        extra["completion"] = [_POOL[i] for i in rng.integers(0, len(_POOL), n)]
        extra["prompt"] = ["How many items are left?"] * n
    frame = pl.DataFrame(
        {
            **extra,
            "step": step,
            "group": [
                f"p{s}-{i // group}"
                for s, i in zip(step, np.tile(np.arange(per_step), steps), strict=True)
            ],
            "reward": (rng.random(n) > 0.5).astype(float),
            "length": rng.integers(100, 2000, n),
            "tokens": rng.integers(30, 600, n),
        }
    )
    return frame.with_columns(
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in CORE_SCHEMA.items()
        if name not in frame.columns
    ).select(list(CORE_SCHEMA))


def bench_rules(
    steps: int, repeats: int, batch: int, with_rollouts: bool, text: bool = False
) -> dict[str, float]:
    """Time Diagnoser.update on a run of ``steps`` steps after each appended batch."""
    from bench_foundation import metric_names

    from rltop.core.diagnose import Diagnoser
    from rltop.core.model import ParseResult
    from rltop.core.store import SourceInfo, Store

    names = metric_names(METRIC_KEYS)
    store = Store()
    store.add_run("r", "bench", "/bench")
    store.add_source(SourceInfo("/bench/m.jsonl", "verl-filelogger", "metrics", "r"))
    store.apply("/bench/m.jsonl", ParseResult(metrics=verl_rows(1, steps, names)))
    if with_rollouts:
        store.add_source(SourceInfo("/bench/r.jsonl", "rollouts-jsonl", "rollouts", "r"))
        for first in range(1, steps + 1, 500):
            count = min(500, steps - first + 1)
            recent = text and first + count > steps - 500  # text only on the newest steps
            store.apply(
                "/bench/r.jsonl",
                ParseResult(rollout_frame=rollout_frame(first, count, 20, text=recent)),
            )
    diag = Diagnoser(stalled=True)
    diag.update(store.snapshot())
    evaluate, snapshot, idle = [], [], []
    step = steps + 1
    for _ in range(repeats):
        store.apply("/bench/m.jsonl", ParseResult(metrics=verl_rows(step, batch, names)))
        if with_rollouts:
            frame = rollout_frame(step, batch, 20, text=text)
            store.apply("/bench/r.jsonl", ParseResult(rollout_frame=frame))
        step += batch
        t0 = time.perf_counter()
        snap = store.snapshot()
        t1 = time.perf_counter()
        diag.update(snap)
        t2 = time.perf_counter()
        diag.update(snap)  # nothing changed: only the clock rule
        t3 = time.perf_counter()
        snapshot.append(t1 - t0)
        evaluate.append(t2 - t1)
        idle.append(t3 - t2)
    return {
        "evaluate_median": statistics.median(evaluate),
        "evaluate_p95": pct(evaluate, 0.95),
        "snapshot_median": statistics.median(snapshot),
        "idle_median": statistics.median(idle),
        "warnings": len(diag.active),
    }


def bench_check(folder: Path, repeats: int) -> dict[str, float]:
    rltop = str(Path(sys.executable).with_name("rltop"))
    walls = []
    code = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = subprocess.run([rltop, "check", str(folder)], capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        code = out.returncode
    from rltop.core.checkpoint import best_checkpoint
    from rltop.core.diagnose import diagnose
    from rltop.core.follow import Follower

    t0 = time.perf_counter()
    follower = Follower([str(folder)])
    follower.read_all()
    snap = follower.store.snapshot()
    t1 = time.perf_counter()
    for run in snap.runs:
        diagnose(run)
        best_checkpoint(run)
    t2 = time.perf_counter()
    return {
        "wall_median": statistics.median(walls),
        "wall_max": max(walls),
        "read": t1 - t0,
        "diagnose": t2 - t1,
        "exit": code,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 10 if args.quick else 40

    folder = DATA / "a"
    path = folder / "metrics.jsonl"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"writing {path} ({METRIC_STEPS} steps x {METRIC_KEYS} keys)...", file=sys.stderr)
        write_metrics(path, METRIC_STEPS, METRIC_KEYS)

    rows = []
    for batch in (1, 10):
        r = bench_rules(METRIC_STEPS, repeats, batch, with_rollouts=False)
        rows.append(
            (
                f"rule evaluation after a batch of {batch} step(s), 10,000 steps x 150 keys",
                f"{ms(r['evaluate_median'])} (p95 {ms(r['evaluate_p95'])})",
                "≤ 20 ms",
            )
        )
    r = bench_rules(METRIC_STEPS, repeats, 1, with_rollouts=True)
    rows.append(
        (
            "same, with 20 rollouts per step (200,000 rollouts, derived pass@k etc.)",
            f"{ms(r['evaluate_median'])} (p95 {ms(r['evaluate_p95'])})",
            "≤ 20 ms",
        )
    )
    rows.append(("an update with nothing new (run.stalled only)", ms(r["idle_median"]), ""))
    for batch in (1, 10):
        t = bench_rules(METRIC_STEPS, repeats, batch, with_rollouts=True, text=True)
        rows.append(
            (
                f"same with rollout text (text rules: ≤ 16 completions per step), after a batch "
                f"of {batch} step(s)",
                f"{ms(t['evaluate_median'])} (p95 {ms(t['evaluate_p95'])})",
                "≤ 20 ms",
            )
        )
    rows.append(("store snapshot after the batch (not rule time)", ms(r["snapshot_median"]), ""))
    c = bench_check(folder, max(3, repeats // 8))
    rows.append(
        (
            "`rltop check` on (a): 10,000 steps x 150 keys, wall (console script)",
            f"{c['wall_median']:.2f} s (max {c['wall_max']:.2f} s, exit {c['exit']})",
            "≤ 2 s",
        )
    )
    rows.append(("  of which reading (Follower.read_all)", f"{c['read']:.2f} s", ""))
    rows.append(("  of which every rule + best checkpoint", ms(c["diagnose"]), ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  result  (budget)")
    for name, value, budget in rows:
        print(f"{name:<{width}}  {value}" + (f"  ({budget})" if budget else ""))
    RESULTS.write_text(render(rows, args.quick))
    print(f"written to {RESULTS}", file=sys.stderr)
    return 0


def render(rows: list[tuple[str, str, str]], quick: bool) -> str:
    import os
    import platform

    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    head = (
        "# Diagnostics benchmark\n\n"
        f"`python benchmarks/bench_diagnose.py{' --quick' if quick else ''}`, {stamp}, Python "
        f"{platform.python_version()}, {os.cpu_count()} cores (shared with other work while "
        "measured). Rule times are medians (p95) over repeated appends.\n\n"
        "| measure | result | budget |\n|---|---:|---|\n"
    )
    return head + "".join(f"| {n.strip()} | {v} | {b} |\n" for n, v, b in rows)


if __name__ == "__main__":
    raise SystemExit(main())
