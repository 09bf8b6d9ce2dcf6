"""Bytes rltop writes to the terminal per second: idle (must be zero) and while a run is tailing.

Runs ``rltop <folder>`` in a real pty (120x40), lets it settle, then counts what it writes:
(1) for IDLE seconds with nothing written to the logs, (2) for TAIL seconds while a writer appends
one metric line a second, (3) the same with ``--refresh 0.2``. Writes RESULTS-terminal.md.

    python benchmarks/bench_terminal_output.py [--idle 15] [--tail 15]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path


def count_bytes(fd: int, seconds: float) -> int:
    total, end = 0, time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        if ready:
            try:
                total += len(os.read(fd, 65536))
            except OSError:
                break
    return total


def measure(folder: Path, idle: float, tail: float, extra: list[str]) -> tuple[float, float]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    exe = shutil.which("rltop") or str(Path(sys.executable).with_name("rltop"))
    env = {**os.environ, "TERM": "xterm-256color"}
    proc = subprocess.Popen(
        [exe, str(folder), *extra], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
    )
    os.close(slave)
    try:
        count_bytes(master, 5.0)  # start-up and first frames
        idle_bytes = count_bytes(master, idle)
        stop = threading.Event()
        path = folder / "run" / "metrics.jsonl"

        def writer() -> None:
            step = 1000
            while not stop.wait(1.0):
                step += 1
                with open(path, "a") as fh:
                    fh.write(
                        json.dumps({"step": step, "reward": step % 7 / 7, "loss": 1 / step}) + "\n"
                    )

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        tail_bytes = count_bytes(master, tail)
        stop.set()
        thread.join()
        return idle_bytes / idle, tail_bytes / tail
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.close(master)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=float, default=15.0)
    parser.add_argument("--tail", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "run").mkdir()
        with open(folder / "run" / "metrics.jsonl", "w") as fh:
            for step in range(1, 1001):
                fh.write(json.dumps({"step": step, "reward": step / 1000, "loss": 1 / step}) + "\n")
        rows = []
        for label, extra in (("adaptive (default)", []), ("--refresh 0.2", ["--refresh", "0.2"])):
            idle_rate, tail_rate = measure(folder, args.idle, args.tail, extra)
            rows.append((label, idle_rate, tail_rate))
    lines = [
        "# Terminal output of rltop (bytes written to the terminal per second)",
        "",
        f"`python benchmarks/bench_terminal_output.py` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"120x40 pty, idle {args.idle:.0f} s, tailing {args.tail:.0f} s (one metric line per second).",
        "",
        "| pacing | idle B/s (target 0) | tailing B/s |",
        "|---|---:|---:|",
        *[f"| {label} | {idle:.1f} | {tail:,.0f} |" for label, idle, tail in rows],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    (Path(__file__).with_name("RESULTS-terminal.md")).write_text(text)


if __name__ == "__main__":
    main()
