"""A 50 MB completion: read, listed and opened under ``--max-memory 256M`` and the default (#12 row 15).

Builds a rollouts file with three short rollouts and one whose completion is 50 MB (written in
pieces). Each measurement runs in a fresh process (``--child``): the app starts headless
(``run_test``) with the budget, reads the folder, opens the rollouts list, then the long rollout.
It reports the time from the key press to the first page on screen, and the process's peak RSS
(``VmHWM`` from ``/proc/self/status``: the whole process, reading the file included) once the
file is read and at the end. The baseline is the same run over the same file without the long
rollout (the interpreter, polars and Textual with a detail view open): the long line's cost is
the difference. Rounds are interleaved; medians are reported. Writes RESULTS-long-text.md.

    python benchmarks/bench_long_text.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

MB = 1024 * 1024
BUDGET = 256 * MB


def vm_hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_logs(folder: Path, long_text: bool) -> None:
    run_dir = folder / "run"
    run_dir.mkdir(parents=True)
    with open(run_dir / "rollouts.jsonl", "w") as fh:
        for step in range(3):
            fh.write(json.dumps({"step": step, "prompt": "p", "completion": "c", "reward": 0.1}))
            fh.write("\n")
        fh.write('{"step": 3, "prompt": "q", "reward": 1, "completion": "')
        if long_text:  # 50 MB of words and line breaks, written in pieces
            piece = "".join(f"word{i} " + ("\\n" if i % 12 == 11 else "") for i in range(100_000))
            for _ in range((50 << 20) // len(piece)):
                fh.write(piece)
        else:
            fh.write("a short answer")
        fh.write('"}\n')


async def child_run(folder: Path, max_memory: int | None) -> dict[str, float]:
    from rltop.ui.app import make_app
    from rltop.ui.screens.rollout_detail import PagedView, RolloutDetailScreen
    from rltop.ui.screens.rollouts import RolloutsScreen
    from rltop.ui.widgets.rollout_list import RolloutList

    from uihelp import wait_for

    app = make_app([str(folder)], max_memory=max_memory)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.runs, 60)
        await wait_for(pilot, lambda: app.snapshot.runs[0].rollouts.height == 4, 60)
        read_peak = vm_hwm_mb()
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen), 30)
        rlist = app.screen.query_one(RolloutList)
        await wait_for(pilot, lambda: rlist.count == 4, 30)
        await pilot.pause(0.2)  # the list draws its rows (the long one's head)
        frame = rlist.frame
        row = next(i for i in range(frame.height) if frame["step"][i] == 3)
        start = time.perf_counter()
        screen = RolloutDetailScreen(frame, row)  # reads the row, pages a long text to disk
        built = time.perf_counter() - start
        app.push_screen(screen)
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, RolloutDetailScreen)
                and (app.screen.query(PagedView) or not app.screen.paged)
            ),
            60,
        )
        await pilot.pause(0)
        opened = time.perf_counter() - start
    return {"opened": opened, "built": built, "read_peak": read_peak, "peak": vm_hwm_mb()}


def child(kind: str, budget: str) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="rltop-long-"))
    try:
        write_logs(tmp / "logs", long_text=kind == "long")
        got = asyncio.run(child_run(tmp / "logs", BUDGET if budget == "256M" else None))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(got))
    return 0


CASES = [("short", "256M"), ("long", "256M"), ("long", "default")]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "BUDGET"))
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    results: dict[tuple[str, str], list[dict[str, float]]] = {case: [] for case in CASES}
    loads = []
    for _ in range(args.rounds):
        for case in CASES:
            out = subprocess.run(
                [sys.executable, __file__, "--child", *case],
                capture_output=True,
                text=True,
                env=env,
                timeout=600,
                check=True,
            )
            results[case].append(json.loads(out.stdout.strip().splitlines()[-1]))
            loads.append(os.getloadavg()[0])

    def med(case: tuple[str, str], key: str) -> float:
        return statistics.median(r[key] for r in results[case])

    base = med(("short", "256M"), "peak")
    rows = []
    for case in CASES:
        kind, budget = case
        what = "50 MB completion" if kind == "long" else "baseline (no long text)"
        rows.append(
            f"| {what} | {budget} | {med(case, 'opened'):.2f} s | {med(case, 'built'):.2f} s |"
            f" {med(case, 'read_peak'):.0f} MB | {med(case, 'peak'):.0f} MB |"
            f" {med(case, 'peak') - base:+.0f} MB |"
        )
    long_peak = med(("long", "256M"), "peak")
    text = (
        "# A 50 MB completion in the rollout detail view (issue #12 row 15)\n\n"
        f"`python benchmarks/bench_long_text.py --rounds {args.rounds}`"
        f" ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, shared 2-core machine, load"
        f" average {min(loads):.1f}-{max(loads):.1f} during the runs), headless app, each run a"
        " fresh process, medians of the rounds. Peak = `VmHWM` of the whole process (reading"
        " the file, the list, the view):\n\n"
        "| file | --max-memory | open → first page | of which reading the row and paging it |"
        " peak RSS once read | peak RSS at the end | over the baseline |\n"
        "|---|---|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n\n"
        f"Target: the 50 MB line costs at most the budget over the baseline: {long_peak:.0f} MB"
        f" ≤ {base:.0f} MB + 256 MB: **{'met' if long_peak <= base + 256 else 'NOT met'}**"
        " (before: 875 MB at 256M, 1.3-1.8 GB before the paged view).\n\n"
        "A line over 1 MB is never held: the tail passes over it, the reader scans its bytes a"
        " 1 MB window at a time for the small fields (step, reward, ids, length), its text stays"
        " on disk; the list reads the head of it, the view decodes it piece by piece into a"
        " private temporary file shown 16 KB at a time (`]`/`[`, or PgDn/PgUp past the end).\n"
    )
    (ROOT / "benchmarks" / "RESULTS-long-text.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
