"""``c``: chat with the checkpoint being trained, streaming into the view as tokens arrive.

Each answer is its own small widget; a token appends to that widget's ``Text`` and schedules one
redraw of it (coalesced to ~30 per second), so a long conversation is never re-rendered per chunk.
The stream runs in an async Textual worker over the async client; cancelling the worker (Esc)
closes the HTTP stream. Everything the model or the server writes goes through
:mod:`rltop.ui.safe` before it is shown.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Collapsible, Input, OptionList, Select, Static

from rltop.core import chatprefs
from rltop.core.redact import mask_url
from rltop.ui.safe import clean, safe_text
from rltop.ui.typed import rltop_app
from rltop.ui.widgets.footer import RltopFooter

if TYPE_CHECKING:
    from rltop.core.chat import ChatClient, Conversation, Endpoint, ModelInfo, Turn
    from rltop.ui.app import RltopApp

REDRAW_EVERY = 1 / 30  # seconds: at most this often per answer while tokens stream
MODELS_EVERY = 30.0  # seconds between looks at the endpoint's model list
STATUS_EVERY = 0.5  # seconds between refreshes of a streaming answer's status line
QUIET_SHOWN_AFTER = 2.0  # seconds without a token before the status line says so


class StreamingText(Vertical):
    """Text that grows by appending, drawn at most ~30 times a second.

    Pieces are only queued as they arrive; each redraw turns the queue into one inert ``Text``
    (one escaping pass, not one per chunk). Once the part being drawn passes ``FREEZE_AT``
    characters it is frozen into a widget of its own at a line break, so each redraw costs the
    last few thousand characters, not the whole answer.
    """

    DEFAULT_CSS = """
    StreamingText { height: auto; }
    StreamingText > Static { height: auto; }
    """
    FREEZE_AT = 4000

    def __init__(self, style: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.style = style
        self.text = Text(style=style)  # all of it (``plain`` and the tests read it)
        self.chars = 0  # characters appended, drawn or queued
        self._live_text = Text(style=style)
        self._live = Static("")
        self._queue: list[tuple[str, str]] = []
        self._pending = False

    def compose(self) -> ComposeResult:
        yield self._live

    def append(self, piece: str, style: str = "") -> None:
        self._queue.append((piece, style))
        self.chars += len(piece)
        if not self._pending:
            self._pending = True
            self.set_timer(REDRAW_EVERY, self._flush)

    def clear(self) -> None:
        """Forget everything shown (the answer was reasoning after all)."""
        self._queue.clear()
        self.text = Text(style=self.style)
        self._live_text = Text(style=self.style)
        self.chars = 0
        for frozen in list(self.children):
            if frozen is not self._live:
                frozen.remove()
        self._draw()

    def _take_queue(self) -> None:
        queue, self._queue = self._queue, []
        i = 0
        while i < len(queue):
            style = queue[i][1]
            j = i
            while j < len(queue) and queue[j][1] == style:
                j += 1
            piece = safe_text("".join(p for p, _ in queue[i:j]), style)
            self.text.append_text(piece)
            self._live_text.append_text(piece)
            i = j
        live = self._live_text
        if len(live) > self.FREEZE_AT:
            plain = live.plain
            cut = plain.rfind("\n", 0, len(plain) - 1) + 1
            if cut <= 0 and len(plain) > 4 * self.FREEZE_AT:
                cut = len(plain)  # one endless line: freeze it anyway
            if cut > 0 and self.is_attached:
                frozen, rest = live.divide([cut]) if cut < len(plain) else (live, Text())
                self.mount(Static(frozen), before=self._live)
                self._live_text = Text(style=self.style)
                self._live_text.append_text(rest)

    def _draw(self) -> None:
        self._live.update(self._live_text)

    def _flush(self) -> None:
        self._pending = False
        self._take_queue()
        self._draw()
        screen = self.screen
        if isinstance(screen, ChatScreen):
            screen.follow_tail()

    def flush_now(self) -> None:
        self._pending = False
        self._take_queue()
        self._draw()

    @property
    def plain(self) -> str:
        if self._queue:
            self._take_queue()
        return self.text.plain


class AnswerView(Vertical):
    """One answer: the model id that wrote it, folded reasoning, the text, and its numbers."""

    DEFAULT_CSS = """
    AnswerView { height: auto; margin: 0 0 1 0; padding: 0 1; border-left: thick $accent; }
    AnswerView .head { color: $text-muted; }
    AnswerView Collapsible { display: none; border: none; padding: 0; margin: 0; }
    AnswerView.thinking Collapsible { display: block; }
    AnswerView Collapsible StreamingText { color: $text-muted; }
    AnswerView .stats { color: $text-muted; }
    AnswerView .problem { color: $warning; }
    AnswerView.failed .problem { color: $error; }
    """

    def __init__(self, turn: Turn, *, demo: bool = False, label: str = "") -> None:
        super().__init__()
        self.turn = turn
        self.demo = demo
        self.label = label  # "current" / "base" in a comparison
        self.body = StreamingText(classes="body")
        self.reasoning = StreamingText()
        self.fold = Collapsible(self.reasoning, title="thinking…", collapsed=True)
        self.stats = Static("", classes="stats")
        self.problem = Static("", classes="problem")
        self._leading = True  # strip the newline models put right after </think>
        self.stream_stats: Any = None  # the live stream's numbers while it runs
        self.stop_requested = False  # Esc: the stream loop stops at its next event

    def compose(self) -> ComposeResult:
        head = Text("◆ ", style="bold")
        head.append_text(safe_text(self.turn.model or "?", "bold", keep_newlines=False))
        if self.label:
            head.append(f"  ({self.label})", style="italic")
        if self.demo:
            head.append("  demo model", style="italic")
        yield Static(head, classes="head")
        yield self.fold
        yield self.body
        yield self.stats
        yield self.problem

    def add_content(self, piece: str) -> None:
        if self._leading:
            piece = piece.lstrip("\n")
            if not piece:
                return
            self._leading = False
        self.body.append(piece)

    def add_reasoning(self, piece: str) -> None:
        self.add_class("thinking")
        self.reasoning.append(piece)
        self.fold.title = f"thinking · {self.reasoning.chars} chars"

    def recast_as_reasoning(self) -> None:
        """The text shown so far was reasoning (``</think>`` came without ``<think>``)."""
        moved = self.body.plain
        self.body.clear()
        self._leading = True
        if moved:
            self.add_reasoning(moved)

    def add_tool_call(self, text: str) -> None:
        self.body.append(text, "italic")

    def show_status(self, text: Text) -> None:
        self.stats.update(text)

    def finish(self, stats_line: Text, problem: Text | None, failed: bool) -> None:
        self.body.flush_now()
        self.reasoning.flush_now()
        if self.reasoning.chars:
            self.fold.title = f"thinking · {self.reasoning.chars} chars (Enter/click to open)"
        self.stats.update(stats_line)
        self.problem.update(problem or "")
        self.set_class(failed, "failed")


class LoggedAnswer(Vertical):
    """The completion the run logged for a replayed prompt, with its step and reward."""

    DEFAULT_CSS = """
    LoggedAnswer { height: auto; margin: 0 1 1 0; padding: 0 1; border-left: thick $secondary; }
    LoggedAnswer .head { color: $text-muted; }
    LoggedAnswer Collapsible { border: none; padding: 0; margin: 0; }
    LoggedAnswer Collapsible Static { color: $text-muted; }
    """

    def __init__(self, completion: str, *, reward: float | None, step: int | None) -> None:
        super().__init__()
        from rltop.core.messages import split_think

        parts = split_think(completion)  # one rule: a leading </think> closes reasoning too
        self.content = "".join(t for kind, t in parts if kind == "content").lstrip("\n")
        self.reasoning = "".join(t for kind, t in parts if kind == "reasoning")
        self.reward = reward
        self.step = step

    def compose(self) -> ComposeResult:
        head = Text("◇ logged", style="bold")
        if self.step is not None:
            head.append(f" at step {self.step}")
        if self.reward is not None:
            head.append(f" · reward {self.reward:g}")
        yield Static(head, classes="head")
        if self.reasoning:
            yield Collapsible(
                Static(safe_text(self.reasoning)),
                title=f"thinking · {len(self.reasoning)} chars",
                collapsed=True,
            )
        yield Static(safe_text(self.content or "(empty)"), classes="body")


def stats_line(model: str, stats: Any | None, *, streaming: bool = False) -> Text:
    """``ckpt-step-120 · TTFT 0.21 s · 48.3 tok/s · 212 tokens`` (numbers only when known)."""
    text = Text()
    if stats is None:
        text.append("waiting for the first token…" if streaming else "")
        return text
    parts = []
    if stats.ttft is not None:
        parts.append(f"TTFT {stats.ttft:.2f} s")
    elif streaming:
        parts.append("waiting for the first token…")
    quiet = stats.last_token_age() if streaming else None
    if quiet is not None and quiet >= QUIET_SHOWN_AFTER:
        parts.append(f"no token for {quiet:.0f} s")
    if stats.tokens_per_s is not None:
        parts.append(f"{stats.tokens_per_s:.1f} tok/s")
    if stats.completion_tokens:
        counted = "" if stats.tokens_from_usage else " (counted)"
        parts.append(f"{stats.completion_tokens} tokens{counted}")
    if stats.finish_reason and stats.finish_reason != "stop":
        parts.append(f"finish: {clean(stats.finish_reason, keep_newlines=False)}")
    text.append(" · ".join(parts))
    return text


class BasePicker(ModalScreen[str | None]):
    """Pick the model to compare the current one with (Ctrl+B); the last pick comes first."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    BasePicker { align: center middle; }
    BasePicker > Vertical { width: 60; max-width: 90%; height: auto; max-height: 80%;
        background: $panel; border: round $accent; padding: 0 1; }
    BasePicker OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, current: str, candidates: list[str]) -> None:
        super().__init__()
        self.current = current
        self.candidates = candidates

    def compose(self) -> ComposeResult:
        with Vertical():
            head = Text("Compare ")
            head.append_text(safe_text(self.current, "bold", keep_newlines=False))
            head.append(" with which base model? (Enter picks, Esc cancels)")
            yield Static(head)
            yield OptionList(*(safe_text(m, keep_newlines=False) for m in self.candidates))

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.candidates[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChatScreen(Screen):
    """Chat with the endpoint's current checkpoint; the dashboard keeps following logs meanwhile."""

    BINDINGS = [
        Binding("escape", "stop", "Stop", id="chat.escape"),
        Binding("ctrl+g", "leave", "Dashboard", id="chat.leave"),
        Binding("ctrl+r", "retry", "Retry", id="chat.retry"),
        Binding("ctrl+o", "next_model", "Next model", id="chat.next_model"),
        Binding("ctrl+b", "compare", "Compare", id="chat.compare"),
        Binding("ctrl+t", "settings", "Settings", id="chat.settings"),
        Binding("ctrl+l", "new_chat", "New chat", id="chat.new"),
    ]

    DEFAULT_CSS = """
    ChatScreen { layout: vertical; }
    #chat-bar { height: 3; }
    #chat-where { width: 1fr; height: 3; padding: 1 1 0 1; background: $panel; }
    #chat-model { width: 40%; max-width: 48; min-width: 28; }
    #chat-settings { height: auto; display: none; padding: 0 1; background: $panel; }
    #chat-settings.shown { display: block; }
    #chat-settings Horizontal { height: auto; }
    #chat-settings Input { width: 1fr; }
    #conversation { height: 1fr; padding: 0 1; }
    #conversation .user { margin: 0 0 1 0; padding: 0 1; border-left: thick $primary; }
    #conversation .notice { margin: 0 0 1 0; color: $text-muted; }
    #conversation .notice.error { color: $error; }
    #conversation .replay { height: auto; }
    #conversation .replay > * { width: 1fr; }
    #chat-input { dock: bottom; margin-bottom: 1; }
    """

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        config: Any = None,
        system_prompt: str | None = None,
        first_token_timeout: float = 60.0,
        stall_timeout: float = 30.0,
        connect_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        from rltop.core.chat import Conversation

        self.explicit_endpoint = endpoint
        self.config = config
        self.conversation: Conversation = Conversation(system_prompt=system_prompt)
        self.timeouts = {
            "first_token_timeout": first_token_timeout,
            "stall_timeout": stall_timeout,
            "connect_timeout": connect_timeout,
        }
        self.endpoint: Endpoint | None = None
        self.client: ChatClient | None = None
        self.models: list[ModelInfo] = []
        self.model: str | None = None
        self.current: AnswerView | None = None
        self.connect_error: str | None = None
        self.model_pinned = False  # the user chose a model: stop following the newest
        self._live: set[AnswerView] = set()
        self._looked = False  # the endpoint was asked at least once (answer or failure)
        self._system_prompt_edited = False
        self._pending_replay: tuple | None = None
        #: questions typed while an answer streams, sent in order once it ends (with their bubble)
        self.queued: list[tuple[str, Static]] = []

    # -- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="chat-bar"):
            yield Static("chat: looking for an endpoint…", id="chat-where")
            yield Select([], prompt="model", allow_blank=True, id="chat-model")
        with Vertical(id="chat-settings"):
            system = Input(
                self.conversation.system_prompt or "", placeholder="none", id="chat-system"
            )
            system.border_title = "system prompt"
            yield system
            with Horizontal():
                temperature = Input(str(self.conversation.temperature), id="chat-temp")
                temperature.border_title = "temperature"
                yield temperature
                max_tokens = Input(str(self.conversation.max_tokens), id="chat-max")
                max_tokens.border_title = "max tokens"
                yield max_tokens
        yield VerticalScroll(id="conversation")
        yield Input(
            placeholder="Ask the checkpoint… (Enter sends, Esc stops, Ctrl+G back)",
            id="chat-input",
            select_on_focus=False,  # a key typed elsewhere lands here: it must not be selected
        )
        yield RltopFooter()

    @property
    def streaming(self) -> bool:
        return bool(self._live)

    def on_mount(self) -> None:
        self.query_one("#chat-input", Input).focus()
        self._connect()
        # training adds checkpoints: look again now and then (and on every return to the chat)
        self.set_interval(MODELS_EVERY, self._refresh_models)
        # a stalled stream sends no events: its status line is refreshed on a clock
        self.set_interval(STATUS_EVERY, self._refresh_status)

    def _refresh_status(self) -> None:
        for view in list(self._live):
            if view.stream_stats is not None and not view.turn.done:
                view.show_status(
                    stats_line(view.turn.model or "", view.stream_stats, streaming=True)
                )

    def _refresh_models(self) -> None:
        if not self.streaming and self.client is not None and self.connect_error is None:
            self._connect(quiet=True)

    def on_screen_resume(self) -> None:
        """Look for new checkpoints; before the first question, follow the run's system prompt."""
        if self._looked:  # not on the first push: on_mount is looking already
            self._connect(quiet=self.connect_error is None)
        if self.conversation.turns or self._system_prompt_edited:
            return
        prompt = default_system_prompt(rltop_app(self))
        if prompt and prompt != self.conversation.system_prompt:
            self.conversation.system_prompt = prompt
            self.query_one("#chat-system", Input).value = prompt
            self._show_where()

    async def on_unmount(self) -> None:
        self.workers.cancel_node(self)
        if self.client is not None:
            client, self.client = self.client, None
            await client.aclose()

    # -- endpoint and models -------------------------------------------------------------------
    @work(exclusive=True, group="chat-connect", exit_on_error=False)
    async def _connect(self, quiet: bool = False) -> None:
        """Find the endpoint and list its models; say plainly when nothing answers.

        Follows the newest checkpoint unless the user picked a model that is still served.
        """
        from rltop.core.chat import ChatClient, ChatError, pick_current_model, resolve_endpoint

        self.endpoint = endpoint = resolve_endpoint(self.explicit_endpoint, config=self.config)
        if self.client is None or self.client.base_url != endpoint.url:
            if self.client is not None:
                await self.client.aclose()
            self.client = ChatClient(endpoint.url, endpoint_source=endpoint.source, **self.timeouts)
        self._show_where()
        try:
            models = await self.client.list_models()
        except ChatError as exc:
            self._looked = True
            message = exc.message
            self.connect_error = message
            if not quiet:
                self.add_notice(message + " Press Ctrl+R to try again.", error=True)
            self._show_where()
            return
        self._looked = True
        self.connect_error = None
        self.models = models
        if not models:
            self.add_notice("The endpoint lists no models.", error=True)
            return
        current = pick_current_model(models)
        served = {m.id for m in models}
        keep = (
            self.model if self.model in served and (self.model_pinned or self.streaming) else None
        )
        if keep is None:
            self.model_pinned = False
        self.model = keep or (current.id if current else models[0].id)
        self._fill_models(current.id if current else None)
        self._show_where()
        if self._pending_replay is not None:
            prompt, completion, reward, step, messages = self._pending_replay
            self._pending_replay = None
            self.replay(prompt, completion=completion, reward=reward, step=step, messages=messages)

    def _fill_models(self, newest: str | None) -> None:
        select = self.query_one("#chat-model", Select)
        options = []
        for info in self.models:
            label = safe_text(info.id, keep_newlines=False)
            if info.id == newest:
                label.append("  newest", style="bold")
            if info.is_demo:
                label.append("  demo", style="italic")
            options.append((label, info.id))
        with select.prevent(Select.Changed):  # only the user's own picks come back as Changed
            select.set_options(options)
            if self.model is not None:
                select.value = self.model

    @on(Select.Changed, "#chat-model")
    def _model_picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.model:
            self.use_model(event.value)

    def use_model(self, model_id: str) -> None:
        """Ask ``model_id`` from now on (and stop following the newest checkpoint)."""
        self.model = model_id
        self.model_pinned = True
        select = self.query_one("#chat-model", Select)
        if model_id in {m.id for m in self.models} and select.value != model_id:
            with select.prevent(Select.Changed):
                select.value = model_id
        self._show_where()

    def _show_where(self) -> None:
        text = Text()
        if self.endpoint is None:
            text.append("chat: looking for an endpoint…")
        else:
            text.append("chat ", style="bold")
            text.append_text(safe_text(mask_url(self.endpoint.url) or "", keep_newlines=False))
            if self.endpoint.source != "argument":
                text.append(f" ({self.endpoint.source})", style="dim")
            if self.connect_error:
                text.append("  not answering", style="bold red")
            elif self.model:
                text.append("  → ")
                text.append_text(safe_text(self.model, "bold", keep_newlines=False))
            text.append(
                f"  T={self.conversation.temperature:g} max={self.conversation.max_tokens}",
                style="dim",
            )
            if self.conversation.system_prompt:
                text.append(" system ✓", style="dim")
        self.query_one("#chat-where", Static).update(text)

    def model_info(self, model_id: str | None) -> ModelInfo | None:
        return next((m for m in self.models if m.id == model_id), None)

    # -- conversation view ---------------------------------------------------------------------
    @property
    def log_view(self) -> VerticalScroll:
        return self.query_one("#conversation", VerticalScroll)

    def follow_tail(self) -> None:
        """Keep the newest text in view unless the user scrolled up to read."""
        log = self.log_view
        if log.max_scroll_y - log.scroll_y <= 3:
            log.scroll_end(animate=False, immediate=False)

    def add_notice(self, message: str, *, error: bool = False) -> Static:
        notice = Static(safe_text(message), classes="notice error" if error else "notice")
        self.log_view.mount(notice)
        self.log_view.scroll_end(animate=False)
        return notice

    def _add_user(self, text: str, *, queued: bool = False) -> Static:
        bubble = Static(_user_text(text, queued), classes="user")
        self.log_view.mount(bubble)
        self.log_view.scroll_end(animate=False)
        return bubble

    # -- sending -------------------------------------------------------------------------------
    @on(Input.Submitted, "#chat-input")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        event.input.value = ""
        if self.streaming:
            # asked while an answer streams: sent as soon as it ends (finished or stopped)
            self.queued.append((text, self._add_user(text, queued=True)))
            return
        self.send(text)

    def _send_queued(self) -> None:
        if self.streaming or not self.queued:
            return
        text, bubble = self.queued.pop(0)
        bubble.update(_user_text(text, False))
        self.conversation.add_user(text)
        self._ask()

    def on_key(self, event: events.Key) -> None:
        """Printable keys are text: they go to the question box, never to a shortcut.

        Keeps ``q`` (and every other letter) from quitting or switching screens when the
        conversation, not the box, has focus.
        """
        if event.is_printable and event.character and not isinstance(self.focused, Input):
            event.stop()
            event.prevent_default()
            box = self.query_one("#chat-input", Input)
            box.focus()
            box.insert_text_at_cursor(event.character)

    def send(self, text: str) -> None:
        """Ask ``text`` as the next user turn."""
        self.conversation.add_user(text)
        self._add_user(text)
        self._ask()

    def _ask(self, parent: Widget | None = None, label: str = "") -> AnswerView | None:
        if self.client is None or self.model is None:
            message = self.connect_error or "No model to ask yet (the endpoint is being probed)."
            self.add_notice(message + " Press Ctrl+R to try again.", error=True)
            return None
        messages = self.conversation.messages()
        turn = self.conversation.begin_answer(self.model)
        view = self._answer_view(turn, parent, label=label)
        self.current = view
        self._stream(turn, view, messages)
        return view

    def _answer_view(self, turn: Turn, parent: Widget | None, label: str = "") -> AnswerView:
        info = self.model_info(turn.model)
        view = AnswerView(turn, demo=bool(info and info.is_demo), label=label)
        (parent or self.log_view).mount(view)
        self.log_view.scroll_end(animate=False)
        view.show_status(stats_line(turn.model or "", None, streaming=True))
        self._live.add(view)
        return view

    # -- compare -------------------------------------------------------------------------------
    def compare_candidates(self) -> list[str]:
        """The models to compare the current one with; the remembered or likely base first."""
        others = [m.id for m in self.models if m.id != self.model]
        first: list[str] = []
        remembered = chatprefs.base_model(self.endpoint.url) if self.endpoint is not None else None
        if remembered in others:
            first.append(remembered)
        current = self.model_info(self.model)
        if current is not None:
            for ref in (current.parent, current.root):
                if ref and ref in others and ref not in first:
                    first.append(ref)
        stepless = [m.id for m in self.models if m.id in others and m.step is None]
        rest = [m for m in stepless + others if m not in first]
        return first + list(dict.fromkeys(rest))

    def action_compare(self) -> None:
        """Ask the last question to the current model and a base the user picks, side by side."""
        if self.streaming or self.client is None or self.model is None:
            return
        if self.conversation.last_user_text is None:
            self.add_notice("Ask something first; Ctrl+B then asks it to two models side by side.")
            return
        candidates = self.compare_candidates()
        if not candidates:
            self.add_notice("The endpoint serves only one model: nothing to compare with.")
            return
        self.app.push_screen(BasePicker(self.model, candidates), self._base_picked)

    def _base_picked(self, other: str | None) -> None:
        if other is None or self.streaming or self.model is None:
            return
        if self.endpoint is not None:
            chatprefs.remember_base_model(self.endpoint.url, other)
        self.compare_with(other)

    def compare_with(self, other: str) -> None:
        """Ask the last question again to the current model and ``other`` (the base)."""
        from rltop.core.chat import Turn

        assert self.model is not None
        if self.conversation.turns[-1].role == "assistant":
            self.conversation.turns.pop()  # its view stays; the pair below answers anew
        self.add_notice(f"── compare: {clean(self.model)} (current) vs {clean(other)} (base) ──")
        pair = Horizontal(classes="replay")
        self.log_view.mount(pair)
        messages = self.conversation.messages()
        self._ask(parent=pair, label="current")
        side = Turn("assistant", model=other)  # shown, not part of the conversation's history
        self._stream_side(side, self._answer_view(side, pair, label="base"), messages)

    # -- replay --------------------------------------------------------------------------------
    def replay(
        self,
        prompt: str | None,
        *,
        completion: str | None = None,
        reward: float | None = None,
        step: int | None = None,
        messages: str | None = None,
    ) -> None:
        """Send a logged rollout's prompt to the current checkpoint, the logged answer beside.

        The conversation starts afresh from the rollout's messages (its system prompt included),
        so follow-up questions continue from there.
        """
        if self.client is None or self.model is None:
            self._pending_replay = (prompt, completion, reward, step, messages)
            if self.connect_error:
                self.add_notice(self.connect_error + " Press Ctrl+R to try again.", error=True)
            return
        from rltop.core.chat import Turn, prompt_messages

        sent = prompt_messages(prompt, messages)
        if not sent:
            self.add_notice("This rollout has no prompt to send.", error=True)
            return
        self.workers.cancel_group(self, "chat-stream")
        self.workers.cancel_group(self, "chat-compare")
        convo = self.conversation
        convo.clear()
        system = [m["content"] for m in sent if m["role"] == "system"]
        if system:
            convo.system_prompt = system[0]
            self._system_prompt_edited = True
            self.query_one("#chat-system", Input).value = system[0]
        for msg in sent:
            if msg["role"] != "system":
                convo.turns.append(Turn(msg["role"], msg["content"], model="(logged)", done=True))
        where = "replay of a logged rollout"
        if step is not None:
            where += f" from step {step}"
        if reward is not None:
            where += f", reward {reward:g}"
        self.add_notice(f"── {where} ──")
        self._add_user(convo.last_user_text or "")
        pair = Horizontal(classes="replay")
        self.log_view.mount(pair)
        pair.mount(LoggedAnswer(completion or "", reward=reward, step=step))
        self._ask(parent=pair)
        self._show_where()

    @work(exclusive=True, group="chat-stream", exit_on_error=False)
    async def _stream(self, turn: Turn, view: AnswerView, messages: list[dict]) -> None:
        """Stream one answer into ``view``; Esc cancels this worker, which closes the stream."""
        await self._run_stream(turn, view, messages)

    @work(exclusive=True, group="chat-compare", exit_on_error=False)
    async def _stream_side(self, turn: Turn, view: AnswerView, messages: list[dict]) -> None:
        """The second answer of a comparison, streamed at the same time."""
        await self._run_stream(turn, view, messages)

    async def _run_stream(self, turn: Turn, view: AnswerView, messages: list[dict]) -> None:
        from rltop.core.chat import (
            ContentDelta,
            ContentWasReasoning,
            DoneEvent,
            ErrorEvent,
            ReasoningDelta,
            ToolCallDelta,
        )

        assert self.client is not None
        convo = self.conversation
        stream = self.client.stream_chat(
            messages, turn.model or "", temperature=convo.temperature, max_tokens=convo.max_tokens
        )
        view.stream_stats = stream.stats
        last_status = 0.0
        loop = asyncio.get_running_loop()
        try:
            async with stream:
                async for event in stream:
                    if view.stop_requested:
                        raise asyncio.CancelledError
                    turn.absorb(event)
                    if isinstance(event, ContentDelta):
                        view.add_content(event.text)
                    elif isinstance(event, ReasoningDelta):
                        view.add_reasoning(event.text)
                    elif isinstance(event, ContentWasReasoning):
                        view.recast_as_reasoning()
                    elif isinstance(event, ToolCallDelta):
                        if event.name:
                            view.add_tool_call(f"\n[tool call] {event.name}(")
                        if event.arguments:
                            view.add_tool_call(event.arguments)
                    elif isinstance(event, DoneEvent):
                        problem = "; ".join(event.stats.warnings) or None
                        if event.stats.tool_calls:
                            view.add_tool_call(")")
                        view.finish(
                            stats_line(turn.model or "", event.stats),
                            safe_text("⚠ " + problem) if problem else None,
                            failed=False,
                        )
                    elif isinstance(event, ErrorEvent):
                        view.finish(
                            stats_line(turn.model or "", event.stats),
                            safe_text("✖ " + event.message + "  (Ctrl+R retries)"),
                            failed=True,
                        )
                    if loop.time() - last_status > 0.25 and not turn.done:
                        last_status = loop.time()
                        view.show_status(stats_line(turn.model or "", stream.stats, streaming=True))
        except asyncio.CancelledError:
            turn.stats = stream.stats
            turn.error = "stopped"
            turn.done = True
            view.finish(
                stats_line(turn.model or "", stream.stats),
                safe_text("■ stopped (Esc). The text so far is kept; Ctrl+R asks again."),
                failed=True,
            )
            raise
        finally:
            self._live.discard(view)
            self.follow_tail()
            if not self._live and self.queued:
                self.call_later(self._send_queued)

    # -- actions -------------------------------------------------------------------------------
    def action_stop(self) -> None:
        """Stop the answers streaming; never leaves the chat (that is ``action_leave``)."""
        if self.streaming:
            for view in self._live:
                view.stop_requested = True
            self.workers.cancel_group(self, "chat-stream")
            self.workers.cancel_group(self, "chat-compare")
        elif self.query_one("#chat-settings").has_class("shown"):
            self.query_one("#chat-settings").remove_class("shown")
        self.query_one("#chat-input", Input).focus()

    def action_leave(self) -> None:
        """Back to the screen the chat was opened from; the conversation is kept."""
        self.app.pop_screen()

    def action_retry(self) -> None:
        """Ask the last question again (after a failure, a stop, or to sample anew)."""
        if self.streaming:
            return
        if self.client is None or self.model is None:
            self.add_notice("Trying the endpoint again…")
            self._connect()
            return
        if self.conversation.last_user_text is None:
            return
        last = self.conversation.turns[-1]
        if last.role == "assistant" and last.error is None:
            # a fine answer: ask again as a new sample, keeping the old one in view
            self.conversation.turns.pop()
        else:
            self.conversation.drop_failed_answer()
        self._ask()

    def action_next_model(self) -> None:
        if not self.models or self.streaming:
            return
        ids = [m.id for m in self.models]
        at = ids.index(self.model) if self.model in ids else -1
        self.use_model(ids[(at + 1) % len(ids)])

    def action_settings(self) -> None:
        settings = self.query_one("#chat-settings")
        shown = settings.toggle_class("shown").has_class("shown")
        if shown:
            self.query_one("#chat-system", Input).focus()
        else:
            self.query_one("#chat-input", Input).focus()

    def action_new_chat(self) -> None:
        if self.streaming:
            return
        self.conversation.clear()
        self.log_view.remove_children()

    @on(Input.Changed, "#chat-system")
    def _system_changed(self, event: Input.Changed) -> None:
        if (event.value.strip() or None) != self.conversation.system_prompt:
            self._system_prompt_edited = True
        self.conversation.system_prompt = event.value.strip() or None
        self._show_where()

    @on(Input.Changed, "#chat-temp")
    def _temperature_changed(self, event: Input.Changed) -> None:
        try:
            value = float(event.value)
        except ValueError:
            return
        if 0 <= value <= 5:
            self.conversation.temperature = value
            self._show_where()

    @on(Input.Changed, "#chat-max")
    def _max_changed(self, event: Input.Changed) -> None:
        try:
            value = int(event.value)
        except ValueError:
            return
        if value > 0:
            self.conversation.max_tokens = value
            self._show_where()

    @on(Input.Submitted, "#chat-system,#chat-temp,#chat-max")
    def _settings_done(self, _event: Input.Submitted) -> None:
        self.query_one("#chat-settings").remove_class("shown")
        self.query_one("#chat-input", Input).focus()


def _user_text(text: str, queued: bool) -> Text:
    bubble = Text("you  ", style="bold")
    bubble.append_text(safe_text(text))
    if queued:
        bubble.append("  (queued: sent when the answer ends)", style="italic dim")
    return bubble


def default_system_prompt(app: RltopApp) -> str | None:
    """The system prompt the shown run's rollouts share (the chat's default), if any."""
    from rltop.core.chat import shared_system_prompt

    snapshot = app.snapshot
    if snapshot is None:
        return None
    run = app.dashboard.run
    runs = [run] if run is not None else []
    runs += [r for r in snapshot.runs if r is not run]
    for candidate in runs:
        if candidate.rollouts.height:
            return shared_system_prompt(candidate.rollouts)
    return None


def open_chat(app: RltopApp, **kwargs: Any) -> ChatScreen:
    """The chat screen for ``app``: its endpoint setting and the run's shared system prompt."""
    kwargs.setdefault("endpoint", app.chat_endpoint)
    kwargs.setdefault("config", app.chat_config)
    kwargs.setdefault("system_prompt", default_system_prompt(app))
    return ChatScreen(**kwargs)


def replay_rollout(app: RltopApp, row: Any) -> ChatScreen:
    """Open the chat and replay one rollout (a row of the store's rollout frame, as a mapping).

    For the rollout detail view: one key sends ``row["prompt"]`` to the current checkpoint and
    shows ``row["completion"]`` (with its reward and step) beside the new answer.
    """
    if not isinstance(app.screen, ChatScreen):
        app.action_chat()
    screen = app.get_screen("chat")
    screen.replay(
        row.get("prompt"),
        completion=row.get("completion"),
        reward=row.get("reward"),
        step=row.get("step"),
        messages=row.get("messages"),
    )
    return screen
