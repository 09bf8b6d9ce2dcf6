"""Issue #12 rows 9, 16 and 21: a hostile or broken chat server.

Row 9: the API key, ``Bearer`` tokens and the URL's password never come back from the server
text (error bodies, streamed content, reasoning, tool arguments), even split across chunks."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from rltop.core.chat import ChatClient, ContentDelta, DoneEvent, ErrorEvent, ReasoningDelta
from rltop.core.redact import REDACTED, Redactor
from rltop.ui.app import make_app
from rltop.ui.screens import chat as chat_ui
from rltop.ui.screens.chat import REDRAW_EVERY, AnswerView, ChatScreen, StreamingText

from chat_server import running_chat_server
from uihelp import wait_for

KEY = "sk-live-0123456789abcdef"


def _sse(chunks: list[dict]) -> list[bytes]:
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


def _delta(**delta) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


def client_with(handler, url: str = "http://127.0.0.1:9/v1") -> ChatClient:
    client = ChatClient(url, api_key=KEY)
    client._http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return client


async def _collect(client: ChatClient) -> list:
    events = []
    async with client.stream_chat([{"role": "user", "content": "hi"}], "m") as stream:
        async for event in stream:
            events.append(event)
    return events


@pytest.mark.parametrize("status", [401, 500])
async def test_error_body_echoing_the_key_is_redacted(status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        said = f"bad credentials: {request.headers['authorization']} (key {KEY})"
        return httpx.Response(status, json={"error": {"message": said}})

    client = client_with(handler)
    events = await _collect(client)
    error = events[-1]
    assert isinstance(error, ErrorEvent)
    assert KEY not in error.message and "Bearer sk" not in error.message
    assert REDACTED in error.message
    with pytest.raises(Exception) as failed:
        await client.list_models()
    assert KEY not in str(failed.value) and REDACTED in str(failed.value)


async def test_streamed_text_echoing_the_key_is_redacted_across_chunks() -> None:
    pieces = ["your key is sk-live-0123", "456789abc", "def; header Bear", "er tok.en-", "XYZ end"]
    chunks = [_delta(content=p) for p in pieces]
    chunks += [_delta(reasoning_content="I saw " + KEY[:5]), _delta(reasoning_content=KEY[5:])]
    chunks += [_delta(tool_calls=[{"index": 0, "function": {"name": "f", "arguments": KEY}}])]

    async def body():
        for part in _sse(chunks):
            yield part

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    events = await _collect(client_with(handler))
    done = events[-1]
    assert isinstance(done, DoneEvent)
    content = "".join(e.text for e in events if isinstance(e, ContentDelta))
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert content == f"your key is {REDACTED}; header Bearer {REDACTED} end"
    assert reasoning == f"I saw {REDACTED}"
    assert done.stats.content == content
    assert KEY not in json.dumps(done.stats.tool_calls)


async def test_url_password_is_redacted_from_server_text() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="proxy says: user:hunter22secret@host refused")

    events = await _collect(client_with(handler, "http://user:hunter22secret@127.0.0.1:9/v1"))
    assert "hunter22secret" not in events[-1].message


def test_stream_redactor_gives_the_same_text_however_the_stream_is_cut() -> None:
    text = f"a {KEY} b Bearer abc.def c {KEY}{KEY} Bear d B"
    redactor = Redactor([KEY])
    whole = redactor.text(text)
    for size in (1, 2, 3, 7, 50):
        stream = redactor.stream()
        out = "".join(stream.feed(text[i : i + size]) for i in range(0, len(text), size))
        assert out + stream.flush() == whole
    assert KEY not in whole and "abc.def" not in whole


def test_short_keys_are_not_redacted_everywhere() -> None:
    assert Redactor(["ab"]).text("abba") == "abba"


# -- the chat screen against a flooding / stalling server (rows 16, 21) -------------------------
@pytest.fixture
def server():
    with running_chat_server() as srv:
        srv.delay = 4.0
        yield srv


async def _open_chat(pilot, app) -> ChatScreen:
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
    screen = app.screen
    await wait_for(pilot, lambda: screen.model is not None)
    return screen


async def _ask(pilot, screen: ChatScreen, model: str) -> AnswerView:
    screen.use_model(model)
    screen.query_one("#chat-input").value = "go"
    await pilot.press("enter")
    await wait_for(pilot, lambda: bool(screen.query(AnswerView)))
    return list(screen.query(AnswerView))[-1]


async def test_a_flood_is_drawn_at_frame_rate_and_esc_stops_it(tmp_path, server) -> None:
    app = make_app([str(tmp_path)], chat_endpoint=server.url)
    draws = []
    original = StreamingText._draw
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(StreamingText, "_draw", lambda self: (draws.append(1), original(self)))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await _open_chat(pilot, app)
            # a fast machine floods past the default answer cap before Esc is pressed: this test
            # is about Esc, so the cap is set well out of reach
            screen.client.max_answer_chars = 50_000_000
            loop = asyncio.get_running_loop()
            started = loop.time()
            view = await _ask(pilot, screen, "flood")
            await wait_for(pilot, lambda: view.turn.content.count("flood") > 100_000 // 6, 30)
            elapsed = loop.time() - started
            # a redraw waits for its frame (REDRAW_EVERY after the text that asked for it): at
            # most one a frame, however many deltas came (a bound that load only loosens; that
            # frames are far fewer than deltas is test_chat_ui's long answer, counted in deltas)
            assert len(draws) <= elapsed / REDRAW_EVERY + 10
            # what is redrawn each frame stays small: the rest is frozen in its own widgets
            assert len(view.body._live_text) <= 4 * StreamingText.FREEZE_AT + 2000
            await pilot.press("escape")
            # the flood goes on until 50 M characters unless Esc stops it: the error tells which
            await wait_for(pilot, lambda: view.turn.done, timeout=20)
            assert view.turn.error == "stopped"
            await wait_for(pilot, lambda: server.disconnected.is_set(), timeout=20)


async def test_a_server_that_never_stops_is_cut_at_the_answer_limit(tmp_path, server) -> None:
    app = make_app([str(tmp_path)], chat_endpoint=server.url)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open_chat(pilot, app)
        screen.client.max_answer_chars = 200_000
        view = await _ask(pilot, screen, "flood")
        await wait_for(pilot, lambda: view.turn.done, timeout=30)
        assert view.turn.error and "200,000 characters" in view.turn.error
        assert 200_000 < len(view.body.plain) <= 200_000 + 64 * 1024
        assert "200,000 characters" in str(view.problem.render())


async def test_a_stalled_stream_says_how_long_since_the_last_token(tmp_path, server) -> None:
    app = make_app([str(tmp_path)], chat_endpoint=server.url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(chat_ui, "QUIET_SHOWN_AFTER", 0.5)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await _open_chat(pilot, app)
            view = await _ask(pilot, screen, "stall")
            await wait_for(pilot, lambda: bool(view.turn.content or view.body.chars), 10)
            await wait_for(pilot, lambda: "no token for" in str(view.stats.render()), 3)
            status = str(view.stats.render())
            assert "waiting for the first token" not in status and "TTFT" in status
            await pilot.press("escape")
