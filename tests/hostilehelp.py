"""Hostile names for the inert-output tests, and a pty runner that returns the raw bytes a
command wrote to its terminal (so an escape sequence that reached the terminal is seen, not only
what a screen emulator made of it)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

# Terminal-affecting payloads: OSC 52 (clipboard write), OSC 0 (window title), clear screen,
# a right-to-left override, zero-width space, BOM, and Rich/Textual markup that would become a
# clickable action. Each raw form must never reach a terminal.
OSC52 = "\x1b]52;c;SE9TVElMRQ==\x07"
OSC0 = "\x1b]0;PWNED\x07"
CLEAR = "\x1b[2J"
RLO, ZWSP, BOM = "\u202e", "\u200b", "\ufeff"
RAW_FORBIDDEN = [
    b"\x1b]52",
    b"\x1b]0;PWNED",
    b"\x1b[2J",
    RLO.encode(),
    ZWSP.encode(),
    BOM.encode(),
    b"\xff",
]

RUN_NAME = f"[@click=app.quit]CLICK[/]{OSC52}{OSC0}{CLEAR}{RLO}{ZWSP}{BOM}run"
RUN_NAME_BYTES = os.fsencode(RUN_NAME) + b"\xff\nX"  # not UTF-8, and a newline
METRIC = "[link=https://x]loss[/link]"
GROUPED = f"grp{OSC0}{CLEAR}{RLO}[/]/reward"
MODEL = f"evil{RLO}model{ZWSP}{OSC52}"


def hostile_logs(root: Path, steps: int = 12) -> Path:
    """A logs folder with one run whose folder, metric names, group prefix and rollout text are
    all hostile; the loss turns NaN at the end (so a warning names the metric)."""
    run = Path(os.fsdecode(os.path.join(os.fsencode(root), RUN_NAME_BYTES)))
    run.mkdir(parents=True)
    with open(run / "metrics.jsonl", "w", encoding="utf-8") as fh:
        for step in range(steps):
            loss = float("nan") if step == steps - 1 else 1.0 / (step + 1)
            row = {"step": step, METRIC: loss, GROUPED: step * 0.1, "loss[/]": loss}
            fh.write(json.dumps(row) + "\n")
    with open(run / "rollouts.jsonl", "w", encoding="utf-8") as fh:
        for step in range(steps):
            doc = {
                "step": step,
                "prompt": f"p{RLO}{OSC0} {step}",
                "completion": f"c{ZWSP}{BOM}{CLEAR} {step}",
                "reward": 0.5,
                "model": MODEL,
            }
            fh.write(json.dumps(doc) + "\n")
    return run


def raw_leaks(data: bytes) -> list[bytes]:
    return [b for b in RAW_FORBIDDEN if b in data]


def run_in_pty(
    argv: list[str],
    *,
    keys: Iterable[tuple[float, bytes]] = (),
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
    cols: int = 120,
    rows: int = 40,
    stop_after: float | None = None,
) -> tuple[bytes, int | None]:
    """Run ``argv`` with a pty as its terminal; send each ``(delay, bytes)`` after the previous,
    then read until it exits (or ``stop_after`` seconds, when it is sent SIGTERM). Returns every
    byte it wrote and its exit code (None if it had to be killed)."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols), **(env or {})}
    proc = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=full_env,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    out = bytearray()
    start = time.monotonic()
    pending = list(keys)
    next_at = start + (pending[0][0] if pending else 0)
    code: int | None = None
    try:
        while True:
            now = time.monotonic()
            if now - start > timeout:
                break
            if stop_after is not None and now - start > stop_after and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                stop_after = None
            if pending and now >= next_at:
                os.write(master, pending.pop(0)[1])
                if pending:
                    next_at = now + pending[0][0]
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    if proc.poll() is not None:
                        break
                    continue
                out.extend(chunk)
            elif proc.poll() is not None and not pending:
                # drain what is left
                while select.select([master], [], [], 0.05)[0]:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    out.extend(chunk)
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        code = proc.wait(timeout=10)
        os.close(master)
    return bytes(out), code


def rltop_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "rltop", *args]
