"""Pilot tests of the chat pane against the loopback test server and the demo endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from rltop.core.demo_endpoint import start_demo_endpoint
from rltop.demo import SYSTEM, DemoRun
from rltop.ui.app import make_app
from rltop.ui.screens.chat import (
    AnswerView,
    BasePicker,
    ChatScreen,
    LoggedAnswer,
    StreamingText,
    replay_rollout,
)
from rltop.ui.screens.dashboard import DashboardScreen

from chat_server import ChatTestServer, free_port, running_chat_server
from uihelp import demo_folder, loaded, wait_for

SIZE = (110, 36)


@pytest.fixture
def server() -> Iterator[ChatTestServer]:
    with running_chat_server() as srv:
        srv.delay = 3.0
        yield srv


def app_for(tmp_path: Path, endpoint: str, **kwargs):
    return make_app([str(tmp_path)], chat_endpoint=endpoint, **kwargs)


async def open_chat(pilot, app) -> ChatScreen:
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
    screen: ChatScreen = app.screen
    await wait_for(pilot, lambda: screen.model is not None or screen.connect_error is not None)
    return screen


async def ask(pilot, screen: ChatScreen, text: str) -> AnswerView:
    before = len(screen.query(AnswerView))
    screen.query_one("#chat-input").value = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: len(screen.query(AnswerView)) > before)
    return list(screen.query(AnswerView))[-1]


async def answered(pilot, view: AnswerView) -> None:
    await wait_for(pilot, lambda: view.turn.done)
    await pilot.pause(0.1)


def shown(widget) -> str:
    return str(widget.render())


async def test_c_opens_chat_streams_an_answer_labelled_with_the_newest_model(
    tmp_path: Path, server: ChatTestServer
) -> None:
    app = app_for(tmp_path, server.url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app)
        assert screen.model == "ckpt-step-120"  # the newest by step (equal ``created``)
        assert "ckpt-step-120" in shown(screen.query_one("#chat-where"))
        view = await ask(pilot, screen, "hi there")
        await answered(pilot, view)
        assert view.body.plain == "Hello from ckpt-step-120. You said: hi there"
        assert "ckpt-step-120" in shown(view.query_one(".head"))
        stats = shown(view.stats)
        assert "TTFT" in stats and "tok/s" in stats and "7 tokens" in stats
        # the conversation keeps its history: the second request carries the first answer
        view2 = await ask(pilot, screen, "again")
        await answered(pilot, view2)
        sent = server.requests[-1]["body"]["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "user"]
        assert sent[1]["content"] == view.body.plain


async def test_think_is_folded(tmp_path: Path, server: ChatTestServer) -> None:
    app = app_for(tmp_path, server.url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app)
        screen.use_model("think")
        view = await ask(pilot, screen, "2+2?")
        await answered(pilot, view)
        assert view.body.plain == "The answer is 4."
        assert view.reasoning.plain == "Two plus two is four."
        assert view.fold.collapsed and view.has_class("thinking")
        assert "thinking" in view.fold.title


async def test_r1_style_reasoning_is_folded_after_the_fact(
    tmp_path: Path, server: ChatTestServer
) -> None:
    app = app_for(tmp_path, server.url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app)
        screen.use_model("r1")
        view = await ask(pilot, screen, "2+2?")
        await answered(pilot, view)
        assert view.body.plain == "The answer is 4."
        assert view.reasoning.plain == "Two plus two is four."
        assert view.has_class("thinking")


async def test_esc_stops_the_stream_ctrl_g_leaves_and_history_stays(
    tmp_path: Path, server: ChatTestServer
) -> None:
    app = app_for(tmp_path, server.url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app)
        screen.use_model("endless")
        view = await ask(pilot, screen, "go on forever")
        await wait_for(pilot, lambda: len(view.turn.content) > 10)
        assert screen.streaming
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.streaming)
        assert await asyncio.to_thread(server.disconnected.wait, 3.0)
        assert view.turn.error == "stopped" and view.turn.content.startswith(" tok")
        assert "stopped" in shown(view.problem)
        assert isinstance(app.screen, ChatScreen)  # Esc only stopped the stream
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ChatScreen)  # ... and never leaves the chat
        await pilot.press("ctrl+g")  # leaving is its own key
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ChatScreen))
        assert app.screen is screen and len(screen.query(AnswerView)) == 1


async def test_switch_models_each_answer_labelled(tmp_path: Path, server: ChatTestServer) -> None:
    app = app_for(tmp_path, server.url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app)
        first = await ask(pilot, screen, "one")
        await answered(pilot, first)
        await pilot.press("ctrl+o")  # after the newest (last listed) comes the first: base
        assert screen.model == "base"
        second = await ask(pilot, screen, "two")
        await answered(pilot, second)
        assert first.turn.model == "ckpt-step-120" and second.turn.model == "base"
        assert "base" in shown(second.query_one(".head"))
        assert server.requests[-1]["body"]["model"] == "base"


async def test_no_endpoint_says_so_and_retry_finds_it(tmp_path: Path) -> None:
    port = free_port()
    app = app_for(tmp_path, f"http://127.0.0.1:{port}/v1")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app)
        assert screen.connect_error and "No chat endpoint answers" in screen.connect_error
        notices = [shown(n) for n in screen.query(".notice")]
        assert any("connection refused" in n and "Ctrl+R" in n for n in notices)
        assert "not answering" in shown(screen.query_one("#chat-where"))
        # the UI stays responsive: typing a question explains rather than hangs
        screen.query_one("#chat-input").value = "hello?"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert len(screen.query(".notice")) == 2
        # a server appears on that port; Ctrl+R finds it
        with running_chat_server(port):
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: screen.model is not None)
            assert screen.connect_error is None
            assert screen.model == "ckpt-step-120"


async def test_server_error_is_shown_text_kept_and_retry_works(
    tmp_path: Path, server: ChatTestServer
) -> None:
    app = app_for(tmp_path, server.url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app)
        screen.use_model("mid-error")
        view = await ask(pilot, screen, "hi")
        await answered(pilot, view)
        assert view.has_class("failed")
        assert "engine dead" in shown(view.problem) and "Ctrl+R" in shown(view.problem)
        assert view.body.plain == "Hello from mid-error."
        screen.use_model("ckpt-step-40")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(screen.query(AnswerView)) == 2)
        retry = list(screen.query(AnswerView))[-1]
        await answered(pilot, retry)
        assert retry.turn.error is None and retry.turn.model == "ckpt-step-40"
        sent = server.requests[-1]["body"]["messages"]
        assert sent == [{"role": "user", "content": "hi"}]  # the failed answer is not resent


async def test_untrusted_text_is_inert(tmp_path: Path, server: ChatTestServer) -> None:
    app = app_for(tmp_path, server.url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app)
        screen.use_model("evil")
        view = await ask(pilot, screen, "[link=file:///etc/passwd]x[/link]")
        await answered(pilot, view)
        text = view.body.text
        assert "[bold red]not bold[/bold red]" in text.plain  # markup shown literally
        assert "\x1b" not in text.plain and "\x07" not in text.plain
        assert not any("bold" in str(span.style) for span in text.spans)
        user = [w for w in screen.query(".user")][-1]
        assert "[link=file:///etc/passwd]" in shown(user)


async def test_settings_and_the_runs_system_prompt(tmp_path: Path, server: ChatTestServer) -> None:
    app = app_for(demo_folder(tmp_path, steps=5), server.url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, loaded(app))
        await wait_for(pilot, lambda: any(r.rollouts.height for r in app.snapshot.runs))
        screen = await open_chat(pilot, app)
        shared = SYSTEM.removeprefix("system\n")
        assert screen.conversation.system_prompt == shared
        await pilot.press("ctrl+t")
        temperature = screen.query_one("#chat-temp")
        temperature.value = "0.1"
        screen.query_one("#chat-max").value = "32"
        await pilot.pause(0.05)
        screen.query_one("#chat-input").focus()
        view = await ask(pilot, screen, "hi")
        await answered(pilot, view)
        body = server.requests[-1]["body"]
        assert body["temperature"] == 0.1 and body["max_tokens"] == 32
        assert body["messages"][0] == {"role": "system", "content": shared}


async def test_chat_with_the_demo_endpoint_follows_the_newest_checkpoint(tmp_path: Path) -> None:
    run = DemoRun(tmp_path, seed=3)
    run.prefill(8)
    endpoint = start_demo_endpoint(run.rollout_dir, word_delay=0.001)
    try:
        app = app_for(tmp_path, endpoint.url)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_chat(pilot, app)
            assert screen.model == "demo-grpo-step-8"
            view = await ask(pilot, screen, "How many apples does Ava have now?")
            await answered(pilot, view)
            assert view.turn.error is None and view.body.plain
            assert "demo model" in shown(view.query_one(".head"))
            run.prefill(1)  # training moves on: the chat follows the new checkpoint
            screen._refresh_models()
            await wait_for(pilot, lambda: screen.model == "demo-grpo-step-9")
            screen.use_model("demo-grpo-base")  # a model the user picks stays picked
            run.prefill(1)
            screen._refresh_models()
            await wait_for(pilot, lambda: "demo-grpo-step-10" in [m.id for m in screen.models])
            assert screen.model == "demo-grpo-base"
    finally:
        endpoint.stop()


async def test_compare_current_and_base_side_by_side(
    tmp_path: Path, server: ChatTestServer
) -> None:
    app = app_for(tmp_path, server.url)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_chat(pilot, app)
        first = await ask(pilot, screen, "hi there")
        await answered(pilot, first)
        assert screen.compare_candidates()[0] == "base"
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: isinstance(app.screen, BasePicker))
        await pilot.press("enter")  # the user picks the base (here: the first offered)
        await wait_for(pilot, lambda: len(screen.query(AnswerView)) == 3)
        current, base = list(screen.query(AnswerView))[1:]
        await answered(pilot, current)
        await answered(pilot, base)
        assert current.body.plain == "Hello from ckpt-step-120. You said: hi there"
        assert base.body.plain == "Hello from base. You said: hi there"
        assert current.parent is base.parent and current.region.y == base.region.y
        # both answers say which model wrote them and which side they are
        assert "ckpt-step-120" in shown(current.query_one(".head"))
        assert "(current)" in shown(current.query_one(".head"))
        assert "base" in shown(base.query_one(".head")) and "(base)" in shown(
            base.query_one(".head")
        )
        # the history keeps the current model's answer, once
        assert [(t.role, t.model) for t in screen.conversation.turns] == [
            ("user", None),
            ("assistant", "ckpt-step-120"),
        ]
        assert {r["body"]["model"] for r in server.requests[-2:]} == {"ckpt-step-120", "base"}


async def test_replay_shows_the_logged_answer_beside_the_new_one(
    tmp_path: Path, server: ChatTestServer
) -> None:
    app = app_for(demo_folder(tmp_path, steps=3), server.url)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, loaded(app))
        await wait_for(pilot, lambda: any(r.rollouts.height for r in app.snapshot.runs))
        run = next(r for r in app.snapshot.runs if r.rollouts.height)
        row = run.rollouts.row(0, named=True)
        screen = replay_rollout(app, row)  # from the dashboard: opens the chat, then replays
        await wait_for(pilot, lambda: len(screen.query(AnswerView)) == 1)
        view = screen.query_one(AnswerView)
        await answered(pilot, view)
        logged = screen.query_one(LoggedAnswer)
        assert logged.step == row["step"] and logged.reward == row["reward"]
        assert logged.content == row["completion"].split("</think>", 1)[1].lstrip("\n")
        assert view.parent is logged.parent  # side by side
        assert logged.region.y == view.region.y and logged.region.x < view.region.x
        sent = server.requests[-1]["body"]["messages"]
        question = row["prompt"].split("\nuser\n", 1)[1].removesuffix("\nassistant\n")
        assert sent == [
            {"role": "system", "content": SYSTEM.removeprefix("system\n")},
            {"role": "user", "content": question},
        ]
        assert view.body.plain == f"Hello from ckpt-step-120. You said: {question}"


async def test_a_long_fast_answer_arrives_whole_and_the_loop_stays_free(
    tmp_path: Path, server: ChatTestServer, monkeypatch
) -> None:
    """4000 deltas as fast as the socket takes them: every word arrives, and the event loop is
    never held for long, by construction rather than by a stopwatch: a delta is only queued,
    the text is drawn in frames (at most ~30 a second, not once per delta), and each frame
    redraws at most ``FREEZE_AT`` characters however long the answer grows."""
    frames: list[int] = []  # characters each frame of the answer's body redraws
    real_draw = StreamingText._draw

    def draw(self: StreamingText) -> None:
        if "body" in self.classes:
            frames.append(len(self._live_text))
        real_draw(self)

    monkeypatch.setattr(StreamingText, "_draw", draw)
    app = app_for(tmp_path, server.url)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chat(pilot, app)
        screen.use_model("long")
        view = await ask(pilot, screen, "go")
        await wait_for(pilot, lambda: view.turn.done, timeout=60)
        assert view.body.plain.count(" word") == 4000 and view.turn.stats.completion_tokens == 4000
        # frames, not deltas: 30 a second for the whole wait could not reach 1000
        assert 1 <= len(frames) < 1000
        assert max(frames) <= StreamingText.FREEZE_AT  # the rest is frozen, drawn once
        assert len(view.body.children) > 2  # ... in pieces along the way


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_enter_while_streaming_queues_the_question_and_sends_it_after(
    tmp_path: Path, server: ChatTestServer, size
) -> None:
    app = app_for(tmp_path, server.url)
    async with app.run_test(size=size) as pilot:
        screen = await open_chat(pilot, app)
        screen.use_model("endless")
        view = await ask(pilot, screen, "go on forever")
        await wait_for(pilot, lambda: len(view.turn.content) > 10)
        screen.query_one("#chat-input").value = "and then?"
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert [text for text, _bubble in screen.queued] == ["and then?"]
        bubble = screen.queued[0][1]
        assert "queued" in shown(bubble)
        assert screen.query_one("#chat-input").value == ""  # taken, not silently dropped
        screen.use_model("ckpt-step-120")
        await pilot.press("escape")  # stops the answer; the queued question goes next
        await wait_for(pilot, lambda: len(screen.query(AnswerView)) == 2)
        second = list(screen.query(AnswerView))[-1]
        await answered(pilot, second)
        assert second.body.plain.endswith("You said: and then?")
        assert "queued" not in shown(bubble) and not screen.queued


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_letters_in_the_chat_are_text_never_shortcuts(
    tmp_path: Path, server: ChatTestServer, size
) -> None:
    app = app_for(tmp_path, server.url)
    async with app.run_test(size=size) as pilot:
        screen = await open_chat(pilot, app)
        server.delay = 0.0
        view = await ask(pilot, screen, "hi")
        await answered(pilot, view)
        await pilot.press("escape")  # nothing streams: Esc does nothing but keep us here
        screen.log_view.focus()  # the conversation, not the box, has focus
        await pilot.pause(0.05)
        for key in ("q", "o", "w", "question_mark"):
            await pilot.press(key)
        await pilot.pause(0.1)
        assert app.is_running and app.screen is screen
        box = screen.query_one("#chat-input")
        assert box.value == "qow?" and box.has_focus


async def test_base_model_is_picked_by_the_user_and_remembered_per_endpoint(
    tmp_path: Path, server: ChatTestServer
) -> None:
    app = app_for(tmp_path, server.url)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_chat(pilot, app)
        server.delay = 0.0
        first = await ask(pilot, screen, "hi")
        await answered(pilot, first)
        candidates = screen.compare_candidates()
        pick = next(m for m in candidates if m not in ("base", screen.model))
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: isinstance(app.screen, BasePicker))
        picker = app.screen
        index = picker.candidates.index(pick)
        for _ in range(index):
            await pilot.press("down")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(screen.query(AnswerView)) == 3)
        assert screen.query(AnswerView)[-1].turn.model == pick
        for view in list(screen.query(AnswerView))[1:]:
            await answered(pilot, view)
        # next time the pick is offered first, for this endpoint only
        assert screen.compare_candidates()[0] == pick
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: isinstance(app.screen, BasePicker))
        assert app.screen.candidates[0] == pick
        await pilot.press("escape")  # cancelled: nothing asked
        await wait_for(pilot, lambda: app.screen is screen)
        assert len(screen.query(AnswerView)) == 3
    from rltop.core import chatprefs

    assert chatprefs.base_model(screen.endpoint.url) == pick
    assert chatprefs.base_model("http://elsewhere:1/v1") is None
