"""A chat server streaming 1.2 KB chunks as fast as it can (issue #12 row 16).

Against ``tests/chat_server.py``'s ``flood`` model on loopback, in the headless app
(``run_test``): for each try, ask, let the flood run ``--flood`` seconds, send Esc, and time

- Esc → the stream loop stopped (the answer says "stopped"; the UI is free again), and
- Esc → the server saw the connection closed (no more bytes are taken from it).

Esc is posted as a key event to the app, as a terminal's key press arrives, and the clock
starts when it is posted. Also measured: redraws per second while flooding (the frame rate
cap), and the process's RSS over a flood that runs until the answer cap (``MAX_ANSWER_CHARS``)
stops it (memory bounded by that cap). Writes RESULTS-chat-flood.md.

    python benchmarks/bench_chat_flood.py [--tries 12] [--flood 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from textual import events  # noqa: E402

from rltop.core.chat.client import MAX_ANSWER_CHARS  # noqa: E402
from rltop.ui.app import make_app  # noqa: E402
from rltop.ui.screens.chat import AnswerView, ChatScreen, StreamingText  # noqa: E402

from chat_server import running_chat_server  # noqa: E402
from uihelp import wait_for  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def ask(pilot, screen: ChatScreen, model: str) -> AnswerView:
    before = len(screen.query(AnswerView))
    screen.use_model(model)
    screen.query_one("#chat-input").value = "go"
    await pilot.press("enter")
    await wait_for(pilot, lambda: len(screen.query(AnswerView)) > before, 10)
    return list(screen.query(AnswerView))[-1]


async def run(tries: int, flood: float, cap_run: bool = True) -> dict:
    stops: list[float] = []
    closes: list[float] = []
    rates: list[float] = []
    memory: list[tuple[float, float, int]] = []
    draws = [0]
    original = StreamingText._draw

    def counted(self: StreamingText) -> None:
        draws[0] += 1
        original(self)

    StreamingText._draw = counted  # type: ignore[method-assign]
    with running_chat_server() as server:
        app = make_app([str(ROOT / "benchmarks")], chat_endpoint=server.url)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen), 20)
            screen = app.screen
            await wait_for(pilot, lambda: screen.model is not None, 20)
            loop = asyncio.get_running_loop()
            # -- Esc while flooding ------------------------------------------------------------
            screen.client.max_answer_chars = 500_000_000  # Esc, not the cap, ends these
            for _ in range(tries):
                server.disconnected.clear()
                closed_at: list[float] = []

                def watch(closed_at: list[float] = closed_at) -> None:
                    server.disconnected.wait(10)
                    closed_at.append(time.perf_counter())

                watcher = threading.Thread(target=watch, daemon=True)
                watcher.start()
                view = await ask(pilot, screen, "flood")
                await wait_for(pilot, lambda v=view: v.stream_stats.deltas > 10, 20)
                draws[0] = 0
                started = loop.time()
                await asyncio.sleep(flood)
                rates.append(draws[0] / (loop.time() - started))
                sent = time.perf_counter()
                app.post_message(events.Key("escape", None))
                while not view.turn.done:
                    await asyncio.sleep(0.001)
                stops.append(time.perf_counter() - sent)
                watcher.join(10)
                if closed_at and server.disconnected.is_set():
                    closes.append(closed_at[0] - sent)
                await pilot.pause(0.1)
            # -- memory over a flood the answer cap stops --------------------------------------
            screen.client.max_answer_chars = MAX_ANSWER_CHARS
            start_rss = rss_mb()
            view = await ask(pilot, screen, "flood")
            t0 = loop.time()
            while cap_run and not view.turn.done and loop.time() - t0 < 120:
                memory.append((loop.time() - t0, rss_mb(), view.body.chars))
                await asyncio.sleep(0.25)
            memory.append((loop.time() - t0, rss_mb(), view.body.chars))
    StreamingText._draw = original  # type: ignore[method-assign]
    return {
        "stops": stops,
        "closes": closes,
        "rates": rates,
        "memory": memory,
        "start_rss": start_rss,
        "capped": view.turn.error or "",
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tries", type=int, default=12)
    parser.add_argument("--flood", type=float, default=1.0, help="seconds of flood before Esc")
    parser.add_argument("--no-cap-run", action="store_true", help="skip the memory run")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    got = asyncio.run(run(args.tries, args.flood, not args.no_cap_run))
    ms = [s * 1000 for s in got["stops"]]
    cs = [c * 1000 for c in got["closes"]]
    mem = got["memory"]
    samples = ", ".join(f"{t:.0f} s {r:.0f} MB" for t, r, _ in mem[:: max(1, len(mem) // 8)])
    peak = max(r for _, r, _ in mem)
    text = (
        "# A chat server flooding 1.2 KB chunks (issue #12 row 16)\n\n"
        f"`python benchmarks/bench_chat_flood.py --tries {args.tries} --flood {args.flood}`"
        f" ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, shared 2-core machine, load"
        f" average {load:.1f}), headless app, `tests/chat_server.py`'s `flood` model on"
        " loopback (server and app share the machine's two cores):\n\n"
        "| measure | median | p95 | max | target |\n|---|---:|---:|---:|---|\n"
        f"| Esc → stream stopped (answer marked stopped), {len(ms)} tries |"
        f" {statistics.median(ms):.0f} ms | {pct(ms, 0.95):.0f} ms | {max(ms):.0f} ms | < 100 ms |\n"
        f"| Esc → server sees the connection closed, {len(cs)} tries |"
        f" {statistics.median(cs):.0f} ms | {pct(cs, 0.95):.0f} ms | {max(cs):.0f} ms | |\n"
        f"| redraws per second while flooding | {statistics.median(got['rates']):.0f} |"
        f" {pct(got['rates'], 0.95):.0f} | {max(got['rates']):.0f} | ≤ 30 (frame rate) |\n\n"
        f"Memory over one flood left to run until the answer cap ({MAX_ANSWER_CHARS:,}"
        f" characters) stops it: RSS {got['start_rss']:.0f} MB before, peak {peak:.0f} MB,"
        f" {mem[-1][1]:.0f} MB at the end after {mem[-1][0]:.1f} s and"
        f" {mem[-1][2]:,} characters (samples: {samples}). It ended with: {got['capped']}\n"
    )
    (ROOT / "benchmarks" / "RESULTS-chat-flood.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
