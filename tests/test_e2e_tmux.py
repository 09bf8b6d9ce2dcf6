"""End to end in a real terminal: ``rltop demo`` in tmux shows the dashboard, updates it, quits on q."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TMUX = shutil.which("tmux") or ("/usr/bin/tmux" if os.path.exists("/usr/bin/tmux") else None)
STEP_RE = re.compile(r"step (\d+)")


def _tmux(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    assert TMUX is not None
    return subprocess.run([TMUX, *args], capture_output=True, text=True, timeout=10, check=check)


def _rltop_command() -> str:
    script = Path(sys.executable).with_name("rltop")
    exe = str(script) if script.exists() else f"{sys.executable} -m rltop"
    return f"{exe} demo --interval 0.3"


def _wait(predicate: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (needed for the terminal e2e test)")
def test_demo_in_tmux_updates_and_quits(tmp_path):
    session = f"rltop-e2e-{uuid.uuid4().hex[:8]}"
    env = {
        "TERM": "xterm-256color",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "PATH": os.environ.get("PATH", ""),
        "TMPDIR": str(tmp_path),
    }
    # a private server socket: never touches the user's tmux sessions
    socket = str(tmp_path / "tmux.sock")

    def tmux(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _tmux("-S", socket, *args, check=check)

    def screen() -> str:
        out = tmux("capture-pane", "-p", "-t", session, check=False)
        return out.stdout if out.returncode == 0 else ""

    def last_step() -> int | None:
        steps = [int(m) for m in STEP_RE.findall(screen())]
        return max(steps) if steps else None

    try:
        tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "100",
            "-y",
            "30",
            *[f"-e{k}={v}" for k, v in env.items()],
            _rltop_command(),
        )
        tmux("set-option", "-t", session, "remain-on-exit", "on")
        _wait(lambda: "critic/score/mean" in screen(), 30, "the dashboard's metric cards")
        first = _wait(last_step, 15, "a step number in the title")
        assert isinstance(first, int)
        _wait(lambda: (last_step() or 0) > first, 15, f"the step to grow past {first}")

        tmux("send-keys", "-t", session, "q")

        def exited() -> bool:
            out = tmux("display-message", "-p", "-t", session, "#{pane_dead}", check=False)
            return out.returncode != 0 or out.stdout.strip() == "1"

        _wait(exited, 10, "rltop to exit after q")
    finally:
        tmux("kill-server", check=False)
