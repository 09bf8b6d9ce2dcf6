"""End to end in tmux under NO_COLOR=1 and TERM=xterm (16 colours): the main flows by keyboard."""

from __future__ import annotations

import pytest

from tmuxhelp import TMUX, DemoInTmux, wait

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed (needed for the terminal e2e test)")
def test_main_flows_in_a_16_colour_terminal_without_colour(tmp_path):
    term = DemoInTmux(tmp_path, TERM="xterm", NO_COLOR="1")
    screen = term.screen

    def key(*keys: str, literal: bool = False) -> None:
        # one key at a time: Esc followed at once by a letter would read as Alt+letter
        term.keys(*keys, literal=literal, pause=0.4)

    try:
        term.start()
        wait(lambda: "critic/score/mean" in screen(), 30, "the dashboard")
        key("/")
        key("ppo_kl", literal=True)
        key("Enter")
        wait(
            lambda: "actor/ppo_kl" in screen() and "rollouts/pass@k" not in screen(),
            10,
            "the filter",
        )
        key("Escape", "o")
        wait(lambda: "rollouts of demo-grpo" in screen(), 15, "the rollout browser")
        key("Escape", "w")
        wait(
            lambda: "active warning" in screen() and "Best checkpoint" in screen(),
            15,
            "the warnings",
        )
        key("Escape", "c")
        wait(lambda: "demo-grpo-step-" in screen(), 15, "the chat with the demo model")
        key("C-g", "q")  # Ctrl+G leaves the chat (Esc only stops, letters there are text)
        wait(term.exited, 10, "rltop to exit")
        assert "Traceback" not in screen()
    finally:
        term.stop()
