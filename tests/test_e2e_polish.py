"""End to end in tmux under NO_COLOR=1 and TERM=xterm (16 colours): the main flows by keyboard."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest

from test_e2e_tmux import TMUX, _rltop_command, _tmux, _wait

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (needed for the terminal e2e test)")
def test_main_flows_in_a_16_colour_terminal_without_colour(tmp_path):
    session = f"rltop-e2e-{uuid.uuid4().hex[:8]}"
    socket = str(tmp_path / "tmux.sock")
    env = {
        "TERM": "xterm",
        "NO_COLOR": "1",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "PATH": os.environ.get("PATH", ""),
        "TMPDIR": str(tmp_path),
    }

    def tmux(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _tmux("-S", socket, *args, check=check)

    def screen() -> str:
        out = tmux("capture-pane", "-p", "-t", session, check=False)
        return out.stdout if out.returncode == 0 else ""

    def key(*keys: str, literal: bool = False) -> None:
        # one key at a time: Esc followed at once by a letter would read as Alt+letter
        for k in keys:
            tmux("send-keys", "-t", session, *(["-l"] if literal else []), k)
            time.sleep(0.4)

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
        _wait(lambda: "critic/score/mean" in screen(), 30, "the dashboard")
        key("/")
        key("ppo_kl", literal=True)
        key("Enter")
        _wait(
            lambda: "actor/ppo_kl" in screen() and "rollouts/pass@k" not in screen(),
            10,
            "the filter",
        )
        key("Escape", "o")
        _wait(lambda: "rollouts of demo-grpo" in screen(), 15, "the rollout browser")
        key("Escape", "w")
        _wait(
            lambda: "active warning" in screen() and "Best checkpoint" in screen(),
            15,
            "the warnings",
        )
        key("Escape", "c")
        _wait(lambda: "demo-grpo-step-" in screen(), 15, "the chat with the demo model")
        key("Escape", "q")
        _wait(
            lambda: (
                tmux(
                    "display-message", "-p", "-t", session, "#{pane_dead}", check=False
                ).stdout.strip()
                in ("1", "")
            ),
            10,
            "rltop to exit",
        )
        assert "Traceback" not in screen()
    finally:
        tmux("kill-server", check=False)
