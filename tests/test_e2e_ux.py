"""End to end in tmux: a run restarted under rltop's eyes, and typing in the chat after an answer."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tmuxhelp import TMUX, DemoInTmux, rltop_exe, wait

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (needed for the e2e tests)"),
]


def test_typing_after_a_finished_answer_stays_in_the_chat(tmp_path: Path) -> None:
    term = DemoInTmux(tmp_path)
    screen = term.screen

    def key(*keys: str, literal: bool = False) -> None:
        term.keys(*keys, literal=literal, pause=0.3)

    try:
        term.start()
        wait(lambda: "critic/score/mean" in screen(), 30, "the dashboard")
        key("c")
        wait(lambda: "demo-grpo-step-" in screen(), 15, "the chat with the demo model")
        key("what is 2+2", literal=True)
        key("Enter")
        wait(lambda: "tok/s" in screen(), 30, "the demo model's answer to finish")
        key("Escape")  # nothing streams: Esc must not leave the chat
        key("and now quit", literal=True)  # q, w, o... are text here, not shortcuts
        wait(lambda: "and now quit" in screen(), 10, "the typed text in the chat's box")
        assert not term.exited() and "Ask the checkpoint" not in screen()
        key("C-g")  # leaving is its own key
        wait(lambda: "critic/score/mean" in screen(), 10, "the dashboard again")
        assert "and now quit" not in screen()
        key("q")
        wait(term.exited, 10, "rltop to exit")
        assert "Traceback" not in screen()
    finally:
        term.stop()


def _rows(path: Path, steps: range, scale: float) -> None:
    with path.open("a") as fh:
        for step in steps:
            fh.write(json.dumps({"step": step, "loss": scale / step, "reward": step * 0.01}) + "\n")


def test_a_restarted_run_keeps_focus_and_says_so(tmp_path: Path) -> None:
    logs = tmp_path / "run1"
    logs.mkdir()
    metrics = logs / "metrics.jsonl"
    _rows(metrics, range(1, 41), 2.0)
    term = DemoInTmux(tmp_path, command=f"{rltop_exe()} {shlex.quote(str(logs))}", size=(100, 30))
    screen = term.screen

    def key(*keys: str) -> None:
        term.keys(*keys, pause=0.3)

    try:
        term.start()
        wait(lambda: "step 40" in screen(), 30, "the run at step 40")
        metrics.write_text("")  # the trainer restarts: the file is cut to zero ...
        wait(lambda: "step 40" not in screen(), 15, "the cut file to be noticed")
        _rows(metrics, range(1, 6), 3.0)  # ... and written again from step 1
        wait(lambda: "restarted at step 1" in screen(), 15, "the restart notice")
        assert "metrics.jsonl restarted at step 1" in screen()
        wait(lambda: "step 5" in screen(), 15, "the new steps")
        # keys still work without Tab: the focus survived the data change
        key("/")
        term.keys("reward", literal=True)
        wait(lambda: "filter: reward" in screen(), 10, "the filter to take keys")
        key("Escape", "q")
        wait(term.exited, 10, "rltop to exit")
        assert "Traceback" not in screen()
    finally:
        term.stop()
