"""Soak: follow runs for minutes while a hostile writer appends, truncates, rotates, deletes and
recreates their files; nothing valid may be lost, memory must stay flat (issue #12).

Two followers watch the same folder for ``--minutes``:
- ``rltop watch --json`` as a subprocess (what a server runs for days): its RSS is sampled every
  second from /proc, its warning events counted, its stderr checked for tracebacks;
- the same live follower in this process (``Follower.run``, as ``watch`` and the app use it), so
  its store can be compared at the end with an independent reading of what is on disk.

The writer, over ``RUNS`` runs: appends metric lines (a unique step per run), now and then garbage
lines (malformed, binary, nested 3000 deep, a step past 2^63) and NaN losses (so warnings start and
clear), truncates a file and writes it afresh, rotates it logrotate-style (``.1`` -> ``.2``, file ->
``.1``, new file), deletes it and recreates it. Lost = valid steps on disk at the end that the
follower does not have; invented = steps it has that no file holds. Writes RESULTS-soak.md.

    python benchmarks/bench_soak.py [--minutes 3]

(The TUI is not soaked here: its follower is this same ``Follower.run``; what the TUI adds is
drawing, measured by bench_foundation.py and bench_terminal_output.py.)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from rltop.core.follow import Follower  # noqa: E402

RUNS = 4
GARBAGE = [
    b"{not json",
    b"\x00\x01\x02binary\xff",
    b'{"step": 1, "x": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    b'{"step": 9223372036854775808, "loss": 1}',
    b"\x1b]52;c;SE9TVElMRQ==\x07",
]


class Writer:
    """The hostile writer; ``events`` counts what it did."""

    def __init__(self, root: Path, seed: int = 12) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.step = dict.fromkeys(range(RUNS), 0)
        self.events = {
            "lines": 0,
            "garbage": 0,
            "nan": 0,
            "truncate": 0,
            "rotate": 0,
            "delete+recreate": 0,
        }
        for run in range(RUNS):
            (root / f"run{run}").mkdir(parents=True)
            self.path(run).touch()

    def path(self, run: int) -> Path:
        return self.root / f"run{run}" / "metrics.jsonl"

    def line(self, run: int, nan: bool = False) -> bytes:
        step = self.step[run]
        self.step[run] += 1
        loss = float("nan") if nan else 1.0 / (1 + step)
        return json.dumps({"step": step, "loss": loss, "reward": 0.01 * (step % 100)}).encode()

    def tick(self) -> None:
        run = self.rng.randrange(RUNS)
        path = self.path(run)
        roll = self.rng.random()
        if roll < 0.004:
            path.write_bytes(b"")  # truncated: what it held is gone from disk, legitimately
            self.events["truncate"] += 1
        elif roll < 0.008:
            one, two = Path(f"{path}.1"), Path(f"{path}.2")
            if one.exists():
                os.replace(one, two)
            os.replace(path, one)
            path.touch()
            self.events["rotate"] += 1
        elif roll < 0.011:
            kept = path.read_bytes()
            path.unlink()
            time.sleep(0.05)
            path.write_bytes(kept)  # the same content in a new file
            self.events["delete+recreate"] += 1
        lines = []
        for _ in range(self.rng.randint(1, 20)):
            r = self.rng.random()
            if r < 0.03:
                lines.append(self.rng.choice(GARBAGE))
                self.events["garbage"] += 1
            else:
                nan = r < 0.035
                lines.append(self.line(run, nan=nan))
                self.events["nan" if nan else "lines"] += 1
        with open(path, "ab") as fh:
            fh.write(b"\n".join(lines) + b"\n")


def on_disk(root: Path) -> dict[str, set[int]]:
    """Valid steps per run in the files as they are now (an independent reader)."""
    out: dict[str, set[int]] = {}
    for path in root.rglob("metrics.jsonl*"):
        steps = out.setdefault(path.parent.name, set())
        for raw in path.read_bytes().split(b"\n"):
            try:
                obj = json.loads(raw)
            except (ValueError, RecursionError):
                continue
            if isinstance(obj, dict) and isinstance(obj.get("step"), int) and obj["step"] < 2**63:
                steps.add(obj["step"])
    return out


def rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=40.0, help="writer actions per second")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rltop-soak-"))
    root = tmp / "logs"
    writer = Writer(root)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "RLTOP_CONFIG": str(tmp / "none.toml")}
    watch = subprocess.Popen(
        [sys.executable, "-m", "rltop", "watch", "--json", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    events: list[str] = []
    threading.Thread(target=lambda: events.extend(watch.stdout), daemon=True).start()
    follower = Follower([str(root)])
    stop = threading.Event()
    live = threading.Thread(target=follower.run, args=(stop, lambda: None), daemon=True)
    live.start()
    rss: list[tuple[float, int]] = []
    start = time.monotonic()
    end = start + args.minutes * 60
    next_sample = start
    while time.monotonic() < end:
        writer.tick()
        now = time.monotonic()
        if now >= next_sample:
            kb = rss_kb(watch.pid)
            if kb:
                rss.append((now - start, kb))
            next_sample = now + 1.0
        time.sleep(1.0 / args.rate)
    settle_end = time.monotonic() + 30
    time.sleep(3)
    while follower.pending() and time.monotonic() < settle_end:
        time.sleep(0.5)
    time.sleep(3)
    stop.set()
    live.join(10)
    expected = on_disk(root)
    snap = follower.store.snapshot()
    have = {r.name: set(r.metrics.get_column("step").to_list()) for r in snap.runs}
    lost = sum(len(steps - have.get(run, set())) for run, steps in expected.items())
    invented = sum(len(steps - expected.get(run, set())) for run, steps in have.items())
    watch.terminate()
    try:
        _, err = watch.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        watch.kill()
        _, err = watch.communicate()
    tracebacks = err.count("Traceback")
    skipped = sum(s.skipped for s in snap.sources)
    n = len(rss)
    first = [kb for t, kb in rss[n // 8 : n // 4]] or [rss[0][1]]
    last = [kb for t, kb in rss[-n // 4 :]] or [rss[-1][1]]
    growth = (sum(last) / len(last)) / (sum(first) / len(first))
    valid_on_disk = sum(len(s) for s in expected.values())
    lines = [
        "# Soak: `rltop watch` under a hostile writer (issue #12)",
        "",
        f"`python benchmarks/bench_soak.py --minutes {args.minutes:g}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()}-core machine, "
        "shared with other work).",
        "",
        "| measure | result | target |",
        "|---|---:|---|",
        f"| valid lines on disk at the end | {valid_on_disk:,} | |",
        f"| lost (on disk, not in the live follower's store) | {lost} | 0 |",
        f"| invented (in the store, on no file) | {invented} | 0 |",
        f"| lines skipped with a reason | {skipped:,} | the garbage |",
        f"| `rltop watch --json` RSS, first → last sample | {rss[0][1] / 1024:.0f} → "
        f"{rss[-1][1] / 1024:.0f} MB (max {max(kb for _, kb in rss) / 1024:.0f} MB) | flat |",
        f"| RSS last quarter / second eighth | {growth:.2f} | ≤ 1.2 |",
        f"| warning events printed by watch | {len(events)} | some (NaN losses) |",
        f"| tracebacks on watch's stderr | {tracebacks} | 0 |",
        f"| watch still running at the end | {'yes' if watch.returncode in (None, 0, -15) else 'no'}"
        " | yes |",
        "",
        "Writer actions: "
        + ", ".join(f"{k} {v:,}" for k, v in writer.events.items())
        + f" over {args.minutes:g} min at ~{args.rate:g} actions/s.",
        "",
        "RSS of `rltop watch` over time (s: MB): "
        + ", ".join(f"{t:.0f}: {kb / 1024:.0f}" for t, kb in rss[:: max(1, n // 12)]),
        "",
    ]
    out = ROOT / "benchmarks" / "RESULTS-soak.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if lost == 0 and invented == 0 and tracebacks == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
