"""End to end in a real terminal: ``rltop demo`` in tmux shows the dashboard, updates it, quits on q."""

from __future__ import annotations

import re

import pytest

from tmuxhelp import TMUX, DemoInTmux, wait

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STEP_RE = re.compile(r"step (\d+)")


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (needed for the terminal e2e test)")
def test_demo_in_tmux_updates_and_quits(tmp_path):
    term = DemoInTmux(tmp_path)

    def last_step() -> int | None:
        steps = [int(m) for m in STEP_RE.findall(term.screen())]
        return max(steps) if steps else None

    try:
        term.start()
        wait(lambda: "critic/score/mean" in term.screen(), 30, "the dashboard's metric cards")
        first = wait(last_step, 15, "a step number in the title")
        assert isinstance(first, int)
        wait(lambda: (last_step() or 0) > first, 15, f"the step to grow past {first}")
        term.keys("q")
        wait(term.exited, 10, "rltop to exit after q")
    finally:
        term.stop()
