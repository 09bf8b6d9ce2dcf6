"""Opening a 50 MB completion in the rollout detail view under ``--max-memory 256M`` (issue #12).

Builds a rollouts file with three short rollouts and one whose completion is 50 MB, starts the
app headless (``run_test``) with a 256 MB text budget, opens the rollouts list, then the long
rollout; reports the time from the key press to the first page on screen and the peak RSS of the
process (``ru_maxrss``, which includes reading the file). Appends to RESULTS-soak.md's sibling
RESULTS-long-text.md.

    python benchmarks/bench_long_text.py
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from rltop.ui.app import make_app  # noqa: E402
from rltop.ui.screens.rollout_detail import PagedView, RolloutDetailScreen  # noqa: E402
from rltop.ui.screens.rollouts import RolloutsScreen  # noqa: E402
from rltop.ui.widgets.rollout_list import RolloutList  # noqa: E402

from uihelp import wait_for  # noqa: E402


async def run(folder: Path) -> tuple[float, float, float]:
    app = make_app([str(folder)], max_memory=256 * 1024 * 1024)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.runs, 60)
        await wait_for(pilot, lambda: app.snapshot.runs[0].rollouts.height == 4, 60)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen), 30)
        rlist = app.screen.query_one(RolloutList)
        await wait_for(pilot, lambda: rlist.count == 4, 30)
        frame = rlist.frame
        row = next(i for i in range(frame.height) if frame["step"][i] == 3)
        start = time.perf_counter()
        screen = RolloutDetailScreen(frame, row)  # reads the row, pages the long text to disk
        built = time.perf_counter() - start
        app.push_screen(screen)
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, RolloutDetailScreen) and app.screen.query(PagedView),
            60,
        )
        await pilot.pause(0)
        opened = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return opened, built, peak_mb


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="rltop-long-"))
    run_dir = tmp / "logs" / "run"
    run_dir.mkdir(parents=True)
    with open(run_dir / "rollouts.jsonl", "w") as fh:
        for step in range(3):
            fh.write(json.dumps({"step": step, "prompt": "p", "completion": "c", "reward": 0.1}))
            fh.write("\n")
        # 50 MB of words and line breaks, written in pieces (this process must not hold it)
        fh.write('{"step": 3, "prompt": "q", "reward": 1, "completion": "')
        piece = "".join(f"word{i} " + ("\\n" if i % 12 == 11 else "") for i in range(100_000))
        for _ in range((50 << 20) // len(piece)):
            fh.write(piece)
        fh.write('"}\n')
    opened, built, peak = asyncio.run(run(tmp / "logs"))
    load = os.getloadavg()[0]
    text = (
        "# A 50 MB completion in the rollout detail view (issue #12 row 15)\n\n"
        f"`python benchmarks/bench_long_text.py` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
        f" shared 2-core machine, load average {load:.1f} during the run), `--max-memory 256M`,"
        " headless app:\n\n"
        "| measure | result | target |\n|---|---:|---|\n"
        f"| opening → first page of the 50 MB completion on screen | {opened:.2f} s | < 1 s |\n"
        f"| of which: reading the row and paging its text to disk | {built:.2f} s | |\n"
        f"| peak RSS of the whole process (app, reading the file, the view) | {peak:.0f} MB | "
        "bounded (was 1.3 GB) |\n\n"
        "The text is written once to a private temporary file and shown 16 KB at a time (`]`/`[`,"
        " or PgDn/PgUp past the end of the view); the screen keeps page offsets only.\n"
    )
    (ROOT / "benchmarks" / "RESULTS-long-text.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
