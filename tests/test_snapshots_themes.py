"""Every screen at 160×48 in the default theme, each shipped theme on the dashboard, the compare
screen's narrow layout at 80×24, and the chat with an answer (deterministic demo data and clocks).

Not every theme × size × screen: a theme only changes colours (and, for rltop-high-contrast, the
cursor and focus styles of its overlay, checked for every widget it names in ``test_themes.py``),
so one screen that shows every themed part (chart, cards and cursor, warnings strip, title, footer)
pictures each theme; what each screen does at 80×24 (the footer's keys, the narrow dashboard and
compare layouts, charts, help, distribution) is checked by the pilot tests at both sizes
(``test_ux_items.py``, ``test_ui_charts.py``, ``test_panes.py``) and by the 80×24 pictures of
``test_snapshots_dashboard.py`` and ``test_snapshots_warnings.py``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest

import rltop.ui.screens.chat as chat_ui
import rltop.ui.screens.dashboard as dashboard_mod
import rltop.ui.warnings_tracker as warnings_mod
import rltop.ui.widgets.status as status
from rltop.core.chat import ChatClient
from rltop.ui.app import make_app
from rltop.ui.screens.chat import AnswerView, ChatScreen
from rltop.ui.screens.compare import CompareScreen
from rltop.ui.screens.distribution import DistributionScreen
from rltop.ui.screens.help import HelpScreen
from rltop.ui.screens.rollout_detail import RolloutDetailScreen
from rltop.ui.screens.rollouts import RolloutsScreen
from rltop.ui.screens.warning_detail import WarningDetailScreen
from rltop.ui.screens.warnings import WarningsScreen
from rltop.ui.themes import DEFAULT_THEME
from rltop.ui.widgets.rollout_list import RolloutList

from chat_server import ChatTestServer, running_chat_server
from uihelp import demo_folder, settled, wait_for

THEMES = ("rltop-dark", "rltop-light", "rltop-high-contrast", "rltop-mono")  # the default first


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch):
    monkeypatch.setattr(status, "clock", lambda _ts: "12:00:00")
    monkeypatch.setattr(dashboard_mod, "wall_clock", lambda: 0.0)  # runs read as live
    monkeypatch.setattr(warnings_mod, "clock", lambda: 0.0)
    monkeypatch.setattr(RolloutsScreen, "SHOW_TIMING", False)
    monkeypatch.delenv("NO_COLOR", raising=False)


def _prepare(app, screen: str):
    async def run_before(pilot) -> None:
        await wait_for(pilot, settled(app), timeout=60)
        await wait_for(pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version)
        if screen in ("rollouts", "detail"):
            await pilot.press("o")
            await wait_for(pilot, lambda: isinstance(app.screen, RolloutsScreen))
            listing = app.screen
            await wait_for(pilot, lambda: listing.complete and listing.query_one(RolloutList).count)
            if screen == "detail":
                await pilot.press("enter")
                await wait_for(pilot, lambda: isinstance(app.screen, RolloutDetailScreen))
        elif screen in ("warnings", "warning"):
            await pilot.press("w")
            await wait_for(pilot, lambda: isinstance(app.screen, WarningsScreen))
            if screen == "warning":
                await pilot.press("enter")
                await wait_for(pilot, lambda: isinstance(app.screen, WarningDetailScreen))
        elif screen == "compare":
            await pilot.press("m")
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        elif screen == "help":
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        elif screen == "distribution":
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, DistributionScreen))
        elif screen == "log-y":
            await pilot.press("L")
        await pilot.pause(0.3)
        app.clear_notifications()
        await pilot.pause(0.2)

    return run_before


SCREENS = (
    "dashboard",
    "log-y",
    "rollouts",
    "detail",
    "warnings",
    "warning",
    "compare",
    "help",
    "distribution",
)


WIDE, NARROW = (160, 48), (80, 24)


def _case(screen: str, theme: str = DEFAULT_THEME, size: tuple[int, int] = WIDE):
    return pytest.param(screen, theme, size, id=f"{screen}-{size[0]}x{size[1]}-{theme}")


CASES = [
    *(_case(screen) for screen in SCREENS),  # every screen in the default theme
    *(
        _case("dashboard", theme) for theme in THEMES if theme != DEFAULT_THEME
    ),  # every theme on the dashboard
    _case("compare", size=NARROW),  # the compare screen's own narrow layout
]


@pytest.mark.parametrize(("screen", "theme", "size"), CASES)
def test_screen_in_theme(snap_compare, tmp_path, screen, theme, size):
    app = make_app([str(demo_folder(tmp_path, steps=90))], theme=theme)
    assert snap_compare(app, terminal_size=size, run_before=_prepare(app, screen))


# -- the chat pane ---------------------------------------------------------------------------------
#: the endpoint the picture shows (vLLM's usual address); requests go to the test server's port
PICTURED_ENDPOINT = "http://127.0.0.1:8000/v1"
QUESTION = "What is 17 * 23?"
NEWEST = "ckpt-step-120"


class _ToTestServer(httpx.AsyncBaseTransport):
    """Sends every request to the loopback test server, whatever port the URL names.

    The test server listens on a free port that changes from run to run; the chat bar shows the
    endpoint's URL, so the picture needs one that does not.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(host="127.0.0.1", port=self.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


_real_stats_line = chat_ui.stats_line


def _pinned_stats_line(model, stats, *, streaming=False):
    """The real stats line with the clock readings pinned (TTFT 0.21 s, 48.0 tok/s)."""
    if stats is not None and stats.ttft is not None:
        span = max(stats.completion_tokens - 1, 1) / 48.0
        stats = dataclasses.replace(stats, ttft=0.21, _first_token_at=0.0, _last_token_at=span)
    return _real_stats_line(model, stats, streaming=streaming)


@pytest.fixture
def pictured_chat_server(monkeypatch) -> Iterator[ChatTestServer]:
    with running_chat_server() as server:
        port = server.server_address[1]

        def client(self: ChatClient) -> httpx.AsyncClient:
            if self._http is None or self._http.is_closed:
                self._http = httpx.AsyncClient(transport=_ToTestServer(port), trust_env=False)
            return self._http

        monkeypatch.setattr(ChatClient, "_client", client)
        monkeypatch.setattr(chat_ui, "stats_line", _pinned_stats_line)
        monkeypatch.delenv("RLTOP_ENDPOINT", raising=False)
        yield server


def _idle(screen: ChatScreen) -> bool:
    """No worker of the chat screen (endpoint probe, stream) is pending or running."""
    return not any(w.node is screen and not w.is_finished for w in screen.app.workers)


def _chat_answered(app):
    """Open the chat, wait for the endpoint's models, ask one question and wait for the whole
    answer; every wait is on the app's state, never on time alone."""

    async def run_before(pilot) -> None:
        await wait_for(pilot, settled(app), timeout=60)
        await wait_for(pilot, lambda: app.warnings_tracker.state.version == app.snapshot.version)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        screen: ChatScreen = app.screen
        prompt = screen.query_one("#chat-input")
        prompt.cursor_blink = False
        # the probe has answered, the newest checkpoint is picked, the run's system prompt is in
        await wait_for(
            pilot,
            lambda: (
                screen._looked
                and screen.connect_error is None
                and screen.model == NEWEST
                and screen.query_one("#chat-model").value == NEWEST
                and screen.conversation.system_prompt is not None
                and _idle(screen)
            ),
            timeout=20,
        )
        prompt.value = QUESTION
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(screen.query(AnswerView)) == 1)
        view = screen.query_one(AnswerView)
        # the stream is over, the final stats line is drawn and no chat worker is left running
        await wait_for(
            pilot,
            lambda: (
                view.turn.done
                and not screen.streaming
                and _idle(screen)
                and "tokens" in str(view.stats.render())
                and view.body.plain.endswith(QUESTION)
            ),
            timeout=20,
        )
        app.clear_notifications()
        await pilot.pause(0.2)

    return run_before


def test_chat_answered(snap_compare, tmp_path, pictured_chat_server):
    app = make_app([str(demo_folder(tmp_path, steps=90))], theme=DEFAULT_THEME)
    app.chat_endpoint = PICTURED_ENDPOINT
    assert snap_compare(app, terminal_size=WIDE, run_before=_chat_answered(app))
