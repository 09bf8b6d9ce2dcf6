"""Issue #12 rows 4-7: run, metric, file and model names (and rollout text) from logs and servers
are shown inert everywhere: no markup interpreted, no escape sequence or invisible character
reaching the terminal. The terminal rows look at the raw bytes a process wrote to a pty."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hostilehelp import (
    BOM,
    CLEAR,
    GROUPED,
    METRIC,
    MODEL,
    OSC0,
    OSC52,
    RLO,
    RUN_NAME,
    ZWSP,
    hostile_logs,
    raw_leaks,
    rltop_argv,
    run_in_pty,
)
from rltop.commands.watch import Printer
from rltop.core.inert import inert, plain
from rltop.ui.app import make_app

import chat_server
from chat_server import running_chat_server
from uihelp import loaded, wait_for

# what a screen or an output may hold of the hostile strings: only visible stand-ins
RAW_CHARS = ["\x1b", "\x07", RLO, ZWSP, BOM, "\udcff", "\x9b"]


def test_inert_shows_every_hostile_character() -> None:
    text = f"a{OSC52}{OSC0}{CLEAR}{RLO}{ZWSP}{BOM}\u2066\u200d\x00\x7f\x9b2J\udcffb\nc"
    out = inert(text)
    assert not any(c in out for c in [*RAW_CHARS, "\x00", "\x7f", "\u2066", "\u200d"])
    assert "⟨U+202E⟩" in out and "⟨U+200B⟩" in out and "⟨U+FEFF⟩" in out and "⟨0xFF⟩" in out
    assert "␛]52" in out and "␛[2J" in out
    assert out.endswith("b\nc")
    assert "\n" not in plain(text) and plain(text).endswith("b⏎c")
    assert plain("[bold]x[/]") == "[bold]x[/]"  # markup is not ours to strip: it is shown


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    hostile_logs(root)
    return root


@pytest.mark.parametrize("command", ["sources", "check"])
def test_text_commands_write_no_raw_escapes_to_the_terminal(logs: Path, command: str) -> None:
    out, code = run_in_pty(rltop_argv(command, str(logs)), timeout=60)
    assert code in (0, 1, 2), out.decode(errors="replace")
    assert raw_leaks(out) == []
    text = out.decode()
    assert "[@click=app.quit]CLICK[/]␛]52" in text
    assert "⟨U+202E⟩" in text and "⟨0xFF⟩⏎X" in text  # the newline stays on its line
    assert "Traceback" not in text


def test_json_output_escapes_names(logs: Path) -> None:
    out, _ = run_in_pty(rltop_argv("sources", "--json", str(logs)), timeout=60)
    assert raw_leaks(out) == []
    doc = json.loads(out.decode().replace("\r\n", "\n"))
    assert any(RUN_NAME in s["run"] for s in doc["sources"])  # JSON keeps the name exact


def test_watch_writes_one_inert_line_per_event(logs: Path) -> None:
    out, _ = run_in_pty(rltop_argv("watch", str(logs)), timeout=60, stop_after=8)
    assert raw_leaks(out) == []
    events = [ln for ln in out.decode().splitlines() if " START " in ln]
    assert events and all("[@click=app.quit]CLICK[/]" in ln for ln in events)
    assert "[link=https://x]loss[/link] = NaN" in events[0]


def test_watch_printer_keeps_one_event_on_one_line() -> None:
    class W:
        id, severity, step, run_id = "run.nan", "critical", 3, "r"
        run = "a\nb" + OSC0
        title = evidence = action = f"x\ny{CLEAR}"

    class Out:
        text = ""

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

    out = Out()
    Printer(False, out).event("start", W())
    assert out.text.count("\n") == 1 and "\x1b" not in out.text and "\x07" not in out.text


def test_tui_writes_no_raw_escapes_from_names(logs: Path, tmp_path: Path) -> None:
    """The app under a real pty: dashboard (title, runs, group headers, cards, the NaN
    notification), chart, warnings, rollouts and a rollout's detail; then q quits (row 4's
    MarkupError used to tear the screen down and hang)."""
    keys = [
        (5.0, b"\r"),  # chart the selected metric
        (1.5, b"w"),
        (1.5, b"\r"),
        (1.0, b"\x1b"),
        (1.0, b"\x1b"),
        (1.0, b"o"),
        (2.0, b"\r"),
        (2.0, b"\x1b"),
        (1.0, b"\x1b"),
        (1.0, b"q"),
    ]
    env = {"RLTOP_CONFIG": str(tmp_path / "none.toml"), "HOME": str(tmp_path)}
    out, code = run_in_pty(rltop_argv(str(logs)), keys=keys, timeout=60, env=env)
    assert raw_leaks(out) == []
    assert code == 0  # quit cleanly on q
    assert "⟨U+202E⟩".encode() in out


async def test_every_place_a_name_is_shown_is_inert(tmp_path: Path, monkeypatch) -> None:
    """Walk every screen showing a run, metric, group, file or model name, and a notification;
    nothing raw on screen, markup shown as text, and clicking the name does not quit."""
    logs = tmp_path / "logs"
    hostile_logs(logs)
    second = logs / f"second{OSC0}[reverse]x"
    second.mkdir()
    (second / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, METRIC: 1.0 / (s + 1), GROUPED: s}) + "\n" for s in range(5))
    )
    monkeypatch.setattr(chat_server, "MODELS", [{"id": MODEL, "created": 1700000000}])
    seen: list[str] = []

    def look(app, where: str) -> None:
        svg = app.export_screenshot()
        for raw in RAW_CHARS:
            assert raw not in svg, f"{raw!r} on screen in {where}"
        seen.append(svg)

    with running_chat_server() as server:
        app = make_app([str(logs)], chat_endpoint=server.url)
        async with app.run_test(size=(140, 45)) as pilot:
            await wait_for(pilot, loaded(app, runs=2))
            # new warnings are announced in the dashboard's strip (no toasts since #15)
            await wait_for(pilot, lambda: bool(app.warnings_tracker.state.news), timeout=15)
            await pilot.pause(0.3)
            from rltop.ui.widgets.warnings import WarningsPane

            strip = str(app.screen.query_one(WarningsPane).render())
            # shown as text (never parsed as markup: a [@click] would be an action; the name itself
            # is checked on the screens below, where it is shown whole)
            assert "new warning" in strip
            notes = list(app._notifications)
            assert all(n.markup is False for n in notes)
            for raw in RAW_CHARS:
                assert raw not in strip
                assert all(raw not in n.message + n.title for n in notes)
            look(app, "dashboard with the warnings strip")
            await pilot.click("#title")
            assert app.is_running
            await pilot.press("enter")  # chart
            await pilot.pause(0.3)
            look(app, "chart")
            await pilot.press("r")  # the other run
            await pilot.pause(0.3)
            look(app, "second run")
            await pilot.press("r", "m")  # compare
            await pilot.pause(0.5)
            look(app, "compare")
            await pilot.press("escape", "w")
            await pilot.pause(0.5)
            look(app, "warnings")
            await pilot.press("enter")
            await pilot.pause(0.3)
            look(app, "warning detail")
            await pilot.press("escape", "escape", "o")
            await pilot.pause(1.0)
            look(app, "rollouts")
            await pilot.press("enter")
            await pilot.pause(0.5)
            look(app, "rollout detail")
            await pilot.press("escape", "escape", "c")
            await wait_for(pilot, lambda: getattr(app.screen, "model", None) is not None)
            look(app, "chat")
            assert app.is_running
    text = "\n".join(seen)
    assert "⟨U+202E⟩" in text.replace("&#8288;", "")
    assert "[@click=app.quit]" in text or "[@click=app.quit]".replace("[", "&#91;") in text
    # every kind of name was on some screen
    assert "second" in text and "grp" in text and "evil" in text and "loss" in text
    assert os.sep  # (paths are shown in the detail's source line)
