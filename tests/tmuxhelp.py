"""A private tmux server running ``rltop demo`` for the end-to-end tests (bounded waits, own socket)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

TMUX = shutil.which("tmux") or ("/usr/bin/tmux" if os.path.exists("/usr/bin/tmux") else None)


def rltop_exe() -> str:
    script = Path(sys.executable).with_name("rltop")
    return str(script) if script.exists() else f"{sys.executable} -m rltop"


def rltop_command() -> str:
    return f"{rltop_exe()} demo --interval 0.3"


#: the least any wait lasts before it fails: timeouts bound a hang, they never measure speed,
#: and a real terminal app drawing on a loaded machine (CI, the suite's two workers) is slow
HANG_BOUND = 60.0


def wait(predicate: Callable[[], object], timeout: float, what: str) -> object:
    timeout = max(timeout, HANG_BOUND)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class DemoInTmux:
    """``rltop demo`` in a detached 100x30 session on a socket of its own (never the user's)."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        command: str | None = None,
        size: tuple[int, int] = (100, 30),
        **env: str,
    ) -> None:
        self.command = command or rltop_command()  # default: the demo
        self.size = size
        self.socket = str(tmp_path / "tmux.sock")
        self.session = f"rltop-e2e-{uuid.uuid4().hex[:8]}"
        self.env = {
            "TERM": "xterm-256color",
            "HOME": os.environ.get("HOME", str(tmp_path)),
            "PATH": os.environ.get("PATH", ""),
            "TMPDIR": str(tmp_path),
            **env,
        }

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        assert TMUX is not None
        return subprocess.run(
            [TMUX, "-S", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=check,
        )

    def start(self) -> None:
        self.tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            self.session,
            "-x",
            str(self.size[0]),
            "-y",
            str(self.size[1]),
            *[f"-e{k}={v}" for k, v in self.env.items()],
            self.command,
        )
        self.tmux("set-option", "-t", self.session, "remain-on-exit", "on")

    def screen(self) -> str:
        out = self.tmux("capture-pane", "-p", "-t", self.session, check=False)
        return out.stdout if out.returncode == 0 else ""

    def keys(self, *keys: str, literal: bool = False, pause: float = 0.0) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", self.session, *(["-l"] if literal else []), key)
            time.sleep(pause)

    def exited(self) -> bool:
        out = self.tmux("display-message", "-p", "-t", self.session, "#{pane_dead}", check=False)
        return out.returncode != 0 or out.stdout.strip() == "1"

    def stop(self) -> None:
        self.tmux("kill-server", check=False)
