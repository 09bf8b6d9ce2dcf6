"""Benchmark of the rollout browser on a 200,000-rollout (~480 MB) JSONL file.

    python benchmarks/bench_rollouts.py            # generate (once) and measure
    python benchmarks/bench_rollouts.py --rows 20000

Measures, and writes to ``benchmarks/RESULTS-rollouts.md``:
- ingest through the follower vs ``polars.read_ndjson`` on the same file;
- a text search's first page (targets: <= 200 ms), a rare phrase's full scan, a regex;
- a reward filter (target: <= 100 ms) and a sort;
- one page of the list (what a scroll step costs on the UI thread), and key presses in the app;
- peak RSS of reading the file under ``--max-memory`` budgets (each in a fresh process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
WORDS = (  # noqa: SIM905 - easier to read as a sentence
    "the of and to in is that for it as with was on be by this are from at or an which have not "
    "number total each then so we add multiply subtract answer check step value result equals "
    "apples marbles coins books pencils cookies shells stickers packs box left gives buys"
).split()


def generate(path: Path, rows: int, seed: int = 11) -> None:
    """Deterministic verl-style rows: ~2.4 KB each, 8 completions per prompt, 200 rows per step."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        prompt_text = ""
        for i in range(rows):
            step = i // 200 + 1
            if i % 8 == 0:
                body = " ".join(rng.choice(WORDS) for _ in range(55))
                prompt_text = (
                    "system\nYou are a helpful math assistant. Think step by step.\nuser\n"
                    f"Problem {i // 8}: {body}?\nassistant\n"
                )
            think = " ".join(rng.choice(WORDS) for _ in range(360))
            rare = " reward hacking detected here" if rng.random() < 0.002 else ""
            answer = rng.randint(0, 999)
            completion = f"<think>{think}{rare}</think>\nThe answer is {answer}.\n#### {answer}"
            score = 1.0 if rng.random() < min(0.9, 0.1 + step / 1200) else 0.0
            fh.write(
                json.dumps(
                    {
                        "input": prompt_text,
                        "output": completion,
                        "gts": str(answer),
                        "score": score,
                        "step": step,
                        "acc": score > 0,
                    }
                )
                + "\n"
            )
    os.replace(tmp, path)


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    """Median wall time in ms over ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def read_store(path: Path):
    from rltop.core.follow import Follower

    follower = Follower([str(path)])
    follower.read_all()
    return follower.store.snapshot().runs[0].rollouts


def core_numbers(path: Path) -> dict[str, float]:
    import polars as pl

    from rltop.core.coldtext import fill_text
    from rltop.core.search import iter_matches, ordered_positions, parse_query

    out: dict[str, float] = {}
    start = time.perf_counter()
    direct = pl.read_ndjson(path)
    out["polars.read_ndjson (s)"] = time.perf_counter() - start
    del direct
    start = time.perf_counter()
    frame = read_store(path)
    out["ingest through the follower (s)"] = time.perf_counter() - start
    out["rows"] = frame.height
    schema = dict(frame.schema)

    def first_page(text: str, size: int = 100):
        query = parse_query(text, schema)
        found = 0
        for part in iter_matches(frame, query, loader=fill_text):
            found += len(part)
            if found >= size:
                break
        return found

    def full(text: str):
        query = parse_query(text, schema)
        return sum(len(p) for p in iter_matches(frame, query, loader=fill_text))

    out["text search, first page of 100 (ms)"], _ = timed(lambda: first_page("answer is 42"))
    out["text search, rare phrase, whole file (ms)"], hits = timed(
        lambda: full("reward hacking detected")
    )
    out["  (matches of the rare phrase)"] = hits
    out["regex search, first page (ms)"], _ = timed(lambda: first_page("/answer is 4[0-9]{2}\\./"))
    out["reward filter reward<0.2 (ms)"], n = timed(
        lambda: len(ordered_positions(frame, parse_query("reward<0.2", schema)))
    )
    out["  (rows with reward<0.2)"] = n
    out["filter + sort: step>500 acc=true sort:-length (ms)"], _ = timed(
        lambda: len(ordered_positions(frame, parse_query("step>500 acc=true sort:-length", schema)))
    )
    positions = ordered_positions(frame, parse_query("", schema))
    rng = random.Random(1)

    def one_page():
        start = rng.randrange(0, max(1, len(positions) - 50))
        part = frame.select("step", "reward", "group", "length", "prompt", "completion")[
            positions.slice(start, 50)
        ]
        return len(list(part.iter_rows(named=True)))

    out["one list page of 50 rows (ms)"], _ = timed(one_page, repeat=50)
    return out


async def _ui_scroll(path: Path) -> dict[str, float]:
    from textual.geometry import Region

    from rltop.ui.app import make_app
    from rltop.ui.screens.rollouts import RolloutsScreen
    from rltop.ui.widgets.rollout_list import RolloutList

    app = make_app([str(path)])
    out: dict[str, float] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        while not (app.snapshot and app.snapshot.runs and app.snapshot.runs[0].rollouts.height):
            await pilot.pause(0.2)
        while any(
            s.status == "following" and s.bytes_read < path.stat().st_size
            for s in app.snapshot.sources
        ):
            await pilot.pause(0.2)
        app.open_rollouts(app.snapshot.runs[0].run_id)
        while not isinstance(app.screen, RolloutsScreen) or not app.screen.query(RolloutList):
            await pilot.pause(0.05)
        rlist = app.screen.query_one(RolloutList)
        while not (app.screen.complete and rlist.count):
            await pilot.pause(0.05)
        times = []
        for key in ["pagedown"] * 40 + ["G", "g"] + ["j"] * 20:
            start = time.perf_counter()
            await pilot.press(key)
            times.append((time.perf_counter() - start) * 1000)
        out["key press through the test pilot, median (ms)"] = statistics.median(times)
        # what a scroll step costs the UI thread: rendering every visible line of a new page
        renders = []
        whole = Region(0, 0, rlist.size.width, rlist.size.height)
        for start_row in range(0, rlist.count - 100, max(1, rlist.count // 40)):
            rlist.move_to(start_row)
            rlist._cache.clear()
            rlist._styles_cache.clear()  # Textual's cache of drawn lines: none is reused
            start = time.perf_counter()
            rlist.render_lines(whole)  # what Textual calls to draw the widget's lines
            renders.append((time.perf_counter() - start) * 1000)
        out["render a new page of the list on the UI thread, median (ms)"] = statistics.median(
            renders
        )
        out["render a new page of the list on the UI thread, max (ms)"] = max(renders)
        screen = app.screen
        stamps: list[float] = []
        shown = screen._show_result

        def stamped(*args):  # when the UI thread gets a page to show
            stamps.append(time.perf_counter())
            return shown(*args)

        screen._show_result = stamped
        for label, text in [("frequent phrase", "answer is 42"), ("rare phrase", "reward hacking")]:
            firsts = []
            for _ in range(5):
                stamps.clear()
                start = time.perf_counter()
                screen.set_query(text)
                while not stamps:
                    await pilot.pause(0.005)
                firsts.append((stamps[0] - start) * 1000)
                while not screen.complete:
                    await pilot.pause(0.01)
                screen.set_query("")
                while not screen.complete:
                    await pilot.pause(0.01)
            out[f"text search in the app, {label}, first page on the UI thread (ms)"] = (
                statistics.median(firsts)
            )
    return out


def rss_numbers(path: Path, budgets: list[str]) -> dict[str, float]:
    """Peak RSS (VmHWM: this process only) of reading ``path`` in a fresh process per budget."""
    out = {}
    rows = path.stem.split("_")[-1]
    for budget in budgets:
        code = (
            "import sys\n"
            "from rltop.core import coldtext, numfmt\n"
            f"coldtext.set_max_memory(numfmt.parse_size({budget!r}))\n"
            f"sys.path.insert(0, {str(HERE)!r})\n"
            "from bench_rollouts import read_store\n"
            f"frame = read_store(__import__('pathlib').Path({str(path)!r}))\n"
            "cold = frame['completion'].null_count()\n"
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
            "print(hwm, cold)\n"
        )
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        peak_kb, cold = (int(x) for x in res.stdout.split())
        out[f"peak RSS reading {rows} rows, --max-memory {budget} (MB)"] = peak_kb / 1024
        out[f"  rows whose text is on disk, {rows} rows, --max-memory {budget}"] = cold
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--no-ui", action="store_true", help="skip the app-level measurements")
    parser.add_argument(
        "--big-rows",
        type=int,
        default=0,
        help="also measure peak RSS on a file this many rows long (e.g. 1000000, ~2.4 GB)",
    )
    parser.add_argument("--ui-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "src"))
    if args.ui_child:
        from rltop.core import startup

        startup.starting()  # as ``rltop.cli.entry`` does; the app's reading settles it
        print(json.dumps(asyncio.run(_ui_scroll(Path(args.ui_child)))))
        return 0
    path = DATA / f"rollouts_{args.rows}.jsonl"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, args.rows)
    size_mb = path.stat().st_size / 1e6
    print(f"{path.name}: {args.rows:,} rows, {size_mb:.0f} MB", flush=True)
    results = core_numbers(path)
    for k, v in results.items():
        print(f"{k:55} {v:,.3f}" if isinstance(v, float) else f"{k:55} {v:,}", flush=True)
    if not args.no_ui:
        # the app in a process of its own, started as the ``rltop`` command starts (its garbage
        # collector settings, ``rltop.core.startup``), nothing left from the measurements above
        ui = json.loads(
            subprocess.run(
                [sys.executable, __file__, "--ui-child", str(path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.splitlines()[-1]
        )
        for k, v in ui.items():
            print(f"{k:55} {v:,.1f}", flush=True)
        results.update(ui)
    rss = rss_numbers(path, ["2G", "1G", "512M"])
    if args.big_rows:
        big = DATA / f"rollouts_{args.big_rows}.jsonl"
        if not big.exists():
            print(f"generating {big} ...", flush=True)
            generate(big, args.big_rows)
        rss.update(rss_numbers(big, ["2G", "1G"]))
    for k, v in rss.items():
        print(f"{k:55} {v:,.0f}", flush=True)
    results.update(rss)
    write_results(path, size_mb, results)
    return 0


TARGETS = {
    "text search, first page of 100 (ms)": "≤ 200",
    "text search in the app, frequent phrase, first page on the UI thread (ms)": "≤ 200",
    "text search in the app, rare phrase, first page on the UI thread (ms)": "≤ 200",
    "reward filter reward<0.2 (ms)": "≤ 100",
    "one list page of 50 rows (ms)": "≪ 16 (never blocks)",
    "render a new page of the list on the UI thread, max (ms)": "≪ 16 (never blocks)",
    "--max-memory 2G (MB)": "< 2048",
    "--max-memory 1G (MB)": "< 1024",
    "--max-memory 512M (MB)": "< 512",
}


def write_results(path: Path, size_mb: float, results: dict[str, float]) -> None:
    lines = [
        "# Rollout browser benchmark",
        "",
        f"`python benchmarks/bench_rollouts.py` on `{path.name}` ({size_mb:.0f} MB), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores (shared with other work while measured). Times are medians.",
        "",
        "| measure | result | target |",
        "|---|---:|---|",
    ]
    for key, value in results.items():
        shown = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
        target = TARGETS.get(key) or next(
            (t for k, t in TARGETS.items() if k.startswith("--") and key.endswith(k)), ""
        )
        lines.append(f"| {key.strip()} | {shown} | {target} |")
    lines += ["", NOTES]
    (HERE / "RESULTS-rollouts.md").write_text("\n".join(lines))


NOTES = """Notes
- "first page": the matches a tall terminal shows (100), found in sort order (newest step first);
  the rest of the result follows in the background. A rare phrase needs the whole file searched.
- The UI thread only ever renders the visible page (line API over the result's row positions);
  searches and sorts run in a thread worker. "key press through the test pilot" includes the
  pilot's own waiting for the screen to settle; the page render is what blocks the UI: the
  widget's `render_lines` over its whole region (what Textual calls to draw it), after a jump to
  another part of the list, with the list's row cache and Textual's line cache emptied, so every
  row of the page is read (its text back from disk) and drawn. The app runs in a process of its
  own, started as the `rltop` command starts (`rltop.core.startup`: what start-up made is frozen
  out of the garbage collector's scans).
- Peak RSS is VmHWM of a fresh process that reads the whole file under the budget. Rollout frames
  may take 40% of --max-memory; past that, the oldest steps' text is dropped and read back from
  the file by byte offset when shown or searched. A 20 GB log was not measured here: a row whose
  text is on disk keeps its numbers and location in memory (polars estimates 51 bytes a row on
  the 1M-row file), ~0.4-0.8 GB for the 8.3 M rows of a 20 GB log, which fits the default 2 GB.
"""


if __name__ == "__main__":
    raise SystemExit(main())
