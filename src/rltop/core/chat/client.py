"""The OpenAI-compatible async client: lists models, streams one answer as typed events, never
raises for a failed request (the stream ends with an ``ErrorEvent``)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from rltop.core.chat.endpoint import (
    DEFAULT_ENDPOINT,
    Endpoint,
    ModelInfo,
    api_key_from_env,
    display_url,
    is_loopback,
    model_from_json,
    no_endpoint_message,
    normalize_base_url,
)
from rltop.core.chat.errors import (
    describe_http_error,
    describe_transport_error,
    server_message,
    short_text,
)
from rltop.core.chat.events import (
    ChatError,
    ChatEvent,
    DoneEvent,
    ErrorEvent,
    ReasoningDelta,
    RoleEvent,
    StreamStats,
    UsageEvent,
)
from rltop.core.chat.sse import SSEDecoder, text_event, tool_delta
from rltop.core.messages import ThinkSplitter
from rltop.core.redact import Redactor


class ChatStream:
    """An answer being streamed: iterate it for events; ``aclose()`` (or leaving ``async with``)
    closes the HTTP stream at once. Cancelling the task that iterates it does the same."""

    def __init__(self, agen: AsyncIterator[ChatEvent], stats: StreamStats) -> None:
        self._agen = agen
        self.stats = stats

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> ChatEvent:
        return await self._agen.__anext__()

    async def aclose(self) -> None:
        await self._agen.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _Secret:
    """Holds the API key; its repr never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value

    def reveal(self) -> str | None:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "<set>" if self._value else "<none>"

    __str__ = __repr__


_FROM_ENV: Any = object()


#: an answer longer than this is cut (a server that never stops must not fill the memory)
MAX_ANSWER_CHARS = 2_000_000


class StreamState:
    """What one streamed answer keeps while it arrives: its numbers, clock, decoder and splitter.

    One object instead of closures handed around: the SSE handler, the one-piece fallback and the
    stream loop all update the same ``stats`` through these methods.
    """

    def __init__(
        self, stats: StreamStats, started: float, split_think: bool, redactor: Redactor
    ) -> None:
        self.stats = stats
        self.started = started
        self.splitter = ThinkSplitter() if split_think else None
        self.decoder = SSEDecoder()
        self.redactor = redactor
        # text is redacted as it streams: a secret split across chunks is held back, then masked
        self.content_redactor = redactor.stream()
        self.reasoning_redactor = redactor.stream()

    def finish(self) -> None:
        self.stats.elapsed = time.perf_counter() - self.started
        self.stats.malformed_lines = self.decoder.malformed

    def fail(self, kind: str, message: str, status: int | None = None) -> ErrorEvent:
        self.finish()
        return ErrorEvent(kind, self.redactor.text(message), self.stats, status)

    def token_seen(self) -> None:
        stats = self.stats
        now = time.perf_counter()
        if stats._first_token_at is None:
            stats._first_token_at = now
            stats.ttft = now - self.started
        stats._last_token_at = now
        stats.deltas += 1
        if not stats.tokens_from_usage:
            stats.completion_tokens = stats.deltas

    def reasoning_text(self, text: str) -> str:
        return self.reasoning_redactor.feed(text)

    def held_back(self) -> list[ChatEvent]:
        """The text the redactors held back (a possible secret's start), at the end."""
        events = self.text_events("", last=True)
        rest = self.reasoning_redactor.flush()
        if rest:
            self.stats.reasoning += rest
            events.append(ReasoningDelta(rest))
        return events

    def text_events(self, text: str, *, last: bool = False) -> list[ChatEvent]:
        """Content (or reasoning, split at ``<think>``) as events, the running text kept."""
        text = self.content_redactor.feed(text) if not last else self.content_redactor.flush()
        parts = self.splitter.feed(text) if self.splitter else [("content", text)]
        return [
            text_event(kind, piece, self.stats)
            for kind, piece in parts
            if piece or kind == "recast"
        ]


class ChatClient:
    """An OpenAI-compatible client for ``/v1/models`` and streaming ``/v1/chat/completions``.

    ``first_token_timeout`` bounds the wait for the first token (prompt processing, queueing);
    ``stall_timeout`` bounds silence once tokens flow.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_ENDPOINT,
        *,
        api_key: str | None = _FROM_ENV,
        connect_timeout: float = 5.0,
        first_token_timeout: float = 60.0,
        stall_timeout: float = 30.0,
        request_timeout: float = 10.0,
        endpoint_source: str = "argument",
        max_answer_chars: int = MAX_ANSWER_CHARS,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.max_answer_chars = max_answer_chars
        self.endpoint_source = endpoint_source
        self._key = _Secret(api_key_from_env() if api_key is _FROM_ENV else api_key)
        #: what a server says back never shows the key, a Bearer token or the URL's password
        self.redactor = Redactor([self._key.reveal(), urlsplit(self.base_url).password])
        self.connect_timeout = connect_timeout
        self.first_token_timeout = first_token_timeout
        self.stall_timeout = stall_timeout
        self.request_timeout = request_timeout
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"ChatClient({display_url(self.base_url)!r}, api_key={self._key!r})"

    @property
    def has_api_key(self) -> bool:
        return bool(self._key)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            # read=None: reads are bounded by our own first-token / stall clocks
            timeout = httpx.Timeout(
                connect=self.connect_timeout, read=None, write=self.request_timeout, pool=5.0
            )
            # proxies from the environment, but never for a server on this machine
            self._http = httpx.AsyncClient(
                timeout=timeout, trust_env=not is_loopback(self.base_url)
            )
        return self._http

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        key = self._key.reveal()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- models --------------------------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        """The endpoint's models, in its order; :class:`ChatError` when that fails."""
        url = self.base_url + "/models"
        try:
            response = await self._client().get(
                url, headers=self._headers(), timeout=self.request_timeout
            )
        except httpx.HTTPError as exc:
            kind, reason = describe_transport_error(exc, url)
            endpoint = Endpoint(self.base_url, self.endpoint_source)
            raise ChatError(
                kind, self.redactor.text(no_endpoint_message(endpoint, reason))
            ) from None
        if response.status_code >= 400:
            kind, message = describe_http_error(
                response.status_code,
                response.content,
                model=None,
                had_key=self.has_api_key,
                retry_after=response.headers.get("retry-after"),
            )
            raise ChatError(kind, self.redactor.text(message), response.status_code)
        try:
            data = response.json()
        except ValueError:
            raise ChatError(
                "bad_response",
                self.redactor.text(
                    f"{display_url(url)} did not answer with JSON: {short_text(response.text)}"
                ),
            ) from None
        items = data.get("data") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ChatError("bad_response", f"{display_url(url)} did not list models")
        return [m for m in (model_from_json(i) for i in items if isinstance(i, dict)) if m]

    # -- chat ----------------------------------------------------------------------------------
    def stream_chat(
        self,
        messages: list[dict[str, Any]],
        model: str,
        *,
        temperature: float | None = 0.7,
        max_tokens: int | None = 1024,
        extra: Mapping[str, Any] | None = None,
        split_think: bool = True,
    ) -> ChatStream:
        """Start streaming an answer; iterate the result for :data:`ChatEvent` values.

        The stream always ends with one :class:`DoneEvent` or :class:`ErrorEvent`.
        """
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if extra:
            body.update(extra)
        stats = StreamStats(model=model)
        return ChatStream(self._stream(body, stats, split_think), stats)

    async def chat(self, messages: list[dict[str, Any]], model: str, **kwargs: Any) -> ChatEvent:
        """Stream an answer to the end and return its final Done/Error event."""
        last: ChatEvent | None = None
        async with self.stream_chat(messages, model, **kwargs) as stream:
            async for event in stream:
                last = event
        assert isinstance(last, (DoneEvent, ErrorEvent))
        return last

    async def _stream(
        self, body: dict[str, Any], stats: StreamStats, split_think: bool
    ) -> AsyncIterator[ChatEvent]:
        url = self.base_url + "/chat/completions"
        model = body["model"]
        started = time.perf_counter()
        first_deadline = started + self.first_token_timeout
        headers = {**self._headers(), "Accept": "text/event-stream"}
        http = self._client()
        request = http.build_request("POST", url, json=body, headers=headers)
        response: httpx.Response | None = None
        state = StreamState(stats, started, split_think, self.redactor)
        splitter, decoder = state.splitter, state.decoder
        finish, fail = state.finish, state.fail

        try:
            try:
                response = await asyncio.wait_for(
                    http.send(request, stream=True), timeout=self.first_token_timeout
                )
            except asyncio.TimeoutError:
                yield fail(
                    "first_token_timeout",
                    f"No answer from {model} within {self.first_token_timeout:g} s "
                    "(the server accepted the request but sent nothing). Retry, or check the "
                    "server's load.",
                )
                return
            except httpx.HTTPError as exc:
                kind, reason = describe_transport_error(exc, url)
                yield fail(kind, f"Cannot reach {display_url(self.base_url)}: {reason}.")
                return

            if response.status_code >= 400:
                try:
                    error_body = await asyncio.wait_for(response.aread(), self.request_timeout)
                except (asyncio.TimeoutError, httpx.HTTPError):
                    error_body = b""
                kind, message = describe_http_error(
                    response.status_code,
                    error_body,
                    model=model,
                    had_key=self.has_api_key,
                    retry_after=response.headers.get("retry-after"),
                )
                yield fail(kind, message, response.status_code)
                return

            content_type = response.headers.get("content-type", "")
            chunks = response.aiter_bytes().__aiter__()
            not_sse = "text/event-stream" not in content_type
            whole = bytearray()
            while True:
                now = time.perf_counter()
                waiting_first = stats._first_token_at is None
                timeout = max(0.0, first_deadline - now) if waiting_first else self.stall_timeout
                try:
                    chunk = await _next_within(chunks, timeout)
                except StopAsyncIteration:
                    break
                except asyncio.TimeoutError:
                    if waiting_first:
                        yield fail(
                            "first_token_timeout",
                            f"No token from {model} within {self.first_token_timeout:g} s. "
                            "Retry, or check the server's load.",
                        )
                    else:
                        yield fail(
                            "stall",
                            f"The stream stalled: nothing from {model} for "
                            f"{self.stall_timeout:g} s. The text so far is kept; retry to ask "
                            "again.",
                        )
                    return
                except httpx.HTTPError as exc:
                    _kind, reason = describe_transport_error(exc, url)
                    yield fail(
                        "dropped",
                        f"The answer broke off: {reason}. The text so far is kept.",
                    )
                    return
                if not_sse:
                    whole.extend(chunk)  # read on; judged below from the whole body
                    continue
                for data in decoder.feed(chunk):
                    for event in self._handle_data(data, state):
                        if isinstance(event, ErrorEvent):
                            yield fail(event.kind, event.message, event.status)
                            return
                        yield event
                    if stats.saw_done:
                        break
                if stats.saw_done:
                    break
                if len(stats.content) + len(stats.reasoning) > self.max_answer_chars:
                    yield fail(
                        "too_long",
                        f"The answer passed {self.max_answer_chars:,} characters: stopped "
                        "reading it (the server kept sending). The text so far is kept.",
                    )
                    return

            if not_sse and "json" in content_type:
                # a server that ignores ``stream: true`` and answers in one piece
                for event in self._whole_answer(bytes(whole), state):
                    if isinstance(event, ErrorEvent):
                        yield fail(event.kind, event.message, event.status)
                        return
                    yield event
                for event in state.held_back():
                    yield event
                if splitter:
                    for kind, piece in splitter.flush():
                        yield text_event(kind, piece, stats)
                stats.warnings.append("the server answered in one piece (it does not stream)")
                if not stats.content and not stats.tool_calls:
                    stats.warnings.append("the model returned an empty completion")
                finish()
                yield DoneEvent(stats)
                return
            if not_sse:
                yield fail(
                    "bad_response",
                    f"{display_url(url)} answered with {content_type or 'no content type'}, not an event "
                    "stream. Is this an OpenAI-compatible server?",
                )
                return
            if not stats.saw_done:
                for data in decoder.close():
                    for event in self._handle_data(data, state):
                        if isinstance(event, ErrorEvent):
                            yield fail(event.kind, event.message, event.status)
                            return
                        yield event
            for event in state.held_back():
                yield event
            if splitter:
                for kind, piece in splitter.flush():
                    yield text_event(kind, piece, stats)
            if splitter and splitter.thinking:
                stats.warnings.append("the reasoning never closed (no </think>)")
            if not stats.saw_done:
                stats.warnings.append(
                    "the stream ended without [DONE]; the answer may be cut short"
                )
            if decoder.malformed:
                stats.warnings.append(
                    f"skipped {decoder.malformed} malformed stream line"
                    + ("s" if decoder.malformed != 1 else "")
                )
            if not stats.content and not stats.tool_calls:
                if stats.reasoning:
                    stats.warnings.append("the model only reasoned; no answer after </think>")
                else:
                    stats.warnings.append("the model returned an empty completion")
            elif stats.tool_calls and not stats.content:
                stats.warnings.append("the answer is only tool calls")
            if stats.finish_reason == "length":
                stats.warnings.append("the answer hit max tokens")
            finish()
            yield DoneEvent(stats)
        finally:
            if response is not None:
                await response.aclose()

    def _whole_answer(self, body: bytes, state: StreamState) -> list[ChatEvent]:
        """Events from a non-streamed ``chat.completion`` body, as if it had streamed."""
        stats = state.stats
        try:
            obj = json.loads(body)
        except ValueError:
            return [
                ErrorEvent(
                    "bad_response",
                    f"The answer is not valid JSON: {short_text(body.decode('utf-8', 'replace'))}",
                    stats,
                )
            ]
        if not isinstance(obj, dict) or not isinstance(obj.get("choices"), list):
            return [
                ErrorEvent(
                    "bad_response",
                    f"The answer is not a chat completion: {server_message(body)}",
                    stats,
                )
            ]
        chunk: dict[str, Any] = {
            "model": obj.get("model"),
            "usage": obj.get("usage"),
            "choices": [],
        }
        for choice in obj["choices"][:1]:
            if isinstance(choice, dict):
                message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
                chunk["choices"].append(
                    {"delta": message, "finish_reason": choice.get("finish_reason")}
                )
        events = self._handle_data(json.dumps(chunk), state)
        stats.saw_done = True
        return events

    def _handle_data(self, data: str, state: StreamState) -> list[ChatEvent]:
        """Events from one SSE ``data`` payload (a chat.completion.chunk, an error, or [DONE])."""
        stats, decoder = state.stats, state.decoder
        token_seen, text_events = state.token_seen, state.text_events
        if data.strip() == "[DONE]":
            stats.saw_done = True
            return []
        try:
            obj = json.loads(data)
        except ValueError:
            decoder.malformed += 1
            return []
        if not isinstance(obj, dict):
            decoder.malformed += 1
            return []
        if "error" in obj or obj.get("object") == "error":
            code = obj.get("error", {}).get("code") if isinstance(obj.get("error"), dict) else None
            code = code if code is not None else obj.get("code")
            status = code if isinstance(code, int) else None
            return [
                ErrorEvent(
                    "stream_error",
                    f"The server reported an error mid-answer: {server_message(data)}. "
                    "The text so far is kept.",
                    stats,
                    status,
                )
            ]
        events: list[ChatEvent] = []
        usage = obj.get("usage")
        if isinstance(usage, dict):
            completion = usage.get("completion_tokens")
            prompt = usage.get("prompt_tokens")
            if isinstance(completion, int):
                stats.completion_tokens = completion
                stats.tokens_from_usage = True
            if isinstance(prompt, int):
                stats.prompt_tokens = prompt
            total = usage.get("total_tokens")
            events.append(
                UsageEvent(
                    prompt if isinstance(prompt, int) else None,
                    completion if isinstance(completion, int) else None,
                    total if isinstance(total, int) else None,
                )
            )
        choices = obj.get("choices")
        if not isinstance(choices, list):
            if not isinstance(usage, dict):
                decoder.malformed += 1
            return events
        if isinstance(obj.get("model"), str):
            stats.model = obj["model"]
        for choice in choices[:1]:  # n=1: one answer per request
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                delta = {}
            role = delta.get("role")
            if isinstance(role, str) and role:
                events.append(RoleEvent(role))
            reasoning = delta.get("reasoning_content")
            if not isinstance(reasoning, str):
                reasoning = delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                token_seen()
                reasoning = state.reasoning_text(reasoning)
                if reasoning:
                    stats.reasoning += reasoning
                    events.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                token_seen()
                events.extend(text_events(content))
            tool_calls = delta.get("tool_calls")
            if isinstance(tool_calls, list) and tool_calls:
                token_seen()
                for position, call in enumerate(tool_calls):
                    if isinstance(call, dict):
                        events.append(tool_delta(call, position, stats, self.redactor))
            finish_reason = choice.get("finish_reason")
            if isinstance(finish_reason, str):
                stats.finish_reason = finish_reason
        return events


async def _next_within(chunks: Any, timeout: float) -> Any:
    """The next chunk, or ``asyncio.TimeoutError`` after ``timeout`` seconds.

    Not ``asyncio.wait_for``: before Python 3.12 it drops a cancellation that arrives while the
    chunk is already there, so a server sending without pause could never be stopped (Esc).
    """
    task = asyncio.ensure_future(chunks.__anext__())
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        raise asyncio.TimeoutError
    return task.result()
