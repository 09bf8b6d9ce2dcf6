"""Chat with the checkpoint being trained: an OpenAI-compatible streaming client (headless).

Trainers (prime-rl, OpenPipe ART, verl rollouts servers) serve the current policy through vLLM or
SGLang, often one model id per checkpoint or LoRA adapter. This module finds the endpoint, picks the
newest checkpoint, and streams an answer as typed events the UI appends as they come. It never
raises for a failed request: every failure ends the stream with an :class:`ErrorEvent` that says
what went wrong in the user's words and keeps whatever text had already arrived.

No Textual here; the UI imports this module lazily so start-up stays fast.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from rltop.core.messages import ThinkSplitter, parse_messages, role_messages, system_prompt
from rltop.core.redact import Redactor

if TYPE_CHECKING:
    import polars as pl

DEFAULT_ENDPOINT = "http://127.0.0.1:8000/v1"
ENDPOINT_ENV = "RLTOP_ENDPOINT"
API_KEY_ENVS = ("RLTOP_API_KEY", "OPENAI_API_KEY")
#: an answer longer than this is cut (a server that never stops must not fill the memory)
MAX_ANSWER_CHARS = 2_000_000


# -- events ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoleEvent:
    """The first chunk of an answer: who speaks (vLLM sends it alone, with empty content)."""

    role: str


@dataclass(frozen=True)
class ContentDelta:
    """Answer text to append."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """Reasoning text to append to the folded "thinking" part.

    From ``reasoning_content`` / ``reasoning`` (vLLM/SGLang reasoning parsers) or from text between
    ``<think>`` and ``</think>`` in the content.
    """

    text: str


@dataclass(frozen=True)
class ContentWasReasoning:
    """The answer text so far (``text``) was reasoning after all: move it into the fold.

    Sent when ``</think>`` arrives without a ``<think>`` (the template opened it in the prompt).
    """

    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a tool call: ``index`` says which call; name and arguments arrive in pieces."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class UsageEvent:
    """Token counts reported by the server (``stream_options.include_usage``)."""

    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None


@dataclass
class StreamStats:
    """Everything known about one answer so far; kept when a stream fails half-way."""

    model: str
    content: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    #: seconds from sending the request to the first token (content, reasoning or tool call)
    ttft: float | None = None
    #: seconds from sending the request to the end of the stream
    elapsed: float | None = None
    prompt_tokens: int | None = None
    #: from the server's usage chunk when it sent one, else the number of deltas received
    completion_tokens: int = 0
    tokens_from_usage: bool = False
    deltas: int = 0
    malformed_lines: int = 0
    saw_done: bool = False
    warnings: list[str] = field(default_factory=list)
    _first_token_at: float | None = field(default=None, repr=False)
    _last_token_at: float | None = field(default=None, repr=False)

    def last_token_age(self) -> float | None:
        """Seconds since the last token arrived (None before the first)."""
        if self._last_token_at is None:
            return None
        return time.perf_counter() - self._last_token_at

    @property
    def tokens_per_s(self) -> float | None:
        """Decode speed: completion tokens over the time from the first to the last token."""
        if self._first_token_at is None or self._last_token_at is None:
            return None
        span = self._last_token_at - self._first_token_at
        tokens = self.completion_tokens - 1  # the first token is not part of the span
        if span <= 0 or tokens <= 0:
            return None
        return tokens / span


@dataclass(frozen=True)
class DoneEvent:
    """The answer ended normally (``warnings`` in the stats say if something was odd)."""

    stats: StreamStats


@dataclass(frozen=True)
class ErrorEvent:
    """The answer failed; ``stats.content`` keeps what arrived before the failure."""

    kind: str
    message: str
    stats: StreamStats
    status: int | None = None


ChatEvent = (
    RoleEvent
    | ContentDelta
    | ReasoningDelta
    | ContentWasReasoning
    | ToolCallDelta
    | UsageEvent
    | DoneEvent
    | ErrorEvent
)


class ChatError(Exception):
    """A request that is not a stream failed (listing models, probing the endpoint)."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


# -- endpoint ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    """Where to chat, and where that came from (so the UI can say why it talks to this URL)."""

    url: str
    source: str  # "argument" | "RLTOP_ENDPOINT" | "config" | "default"


def normalize_base_url(url: str) -> str:
    """``localhost:8000`` -> ``http://localhost:8000/v1``; a pasted ``.../chat/completions`` is cut."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    for tail in ("/chat/completions", "/completions", "/models"):
        if path.endswith(tail):
            path = path[: -len(tail)]
    if not path:
        path = "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def display_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, for messages and the screen."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def is_loopback(url: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: such requests never go through a proxy."""
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def resolve_endpoint(
    explicit: str | None = None,
    *,
    config: Mapping[str, Any] | str | None = None,
    env: Mapping[str, str] | None = None,
) -> Endpoint:
    """The endpoint to use: explicit argument > ``RLTOP_ENDPOINT`` > config > the vLLM default."""
    env = os.environ if env is None else env
    if explicit:
        return Endpoint(normalize_base_url(explicit), "argument")
    if env.get(ENDPOINT_ENV):
        return Endpoint(normalize_base_url(env[ENDPOINT_ENV]), ENDPOINT_ENV)
    configured: Any = config
    if isinstance(config, Mapping):
        configured = config.get("endpoint")
        chat = config.get("chat")
        if not configured and isinstance(chat, Mapping):
            configured = chat.get("endpoint")
    if isinstance(configured, str) and configured.strip():
        return Endpoint(normalize_base_url(configured), "config")
    return Endpoint(DEFAULT_ENDPOINT, "default")


def api_key_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """``RLTOP_API_KEY`` or ``OPENAI_API_KEY``; local servers usually need none."""
    env = os.environ if env is None else env
    for name in API_KEY_ENVS:
        if env.get(name):
            return env[name]
    return None


def no_endpoint_message(endpoint: Endpoint, reason: str) -> str:
    """What to tell the user when nothing answers."""
    how = (
        "Start an OpenAI-compatible server (for example `vllm serve <model>`), or point rltop at one "
        f"with --endpoint URL or {ENDPOINT_ENV}."
    )
    where = "" if endpoint.source == "default" else f" (from {endpoint.source})"
    return f"No chat endpoint answers at {display_url(endpoint.url)}{where}: {reason}. {how}"


async def find_endpoint(
    explicit: str | None = None,
    *,
    config: Mapping[str, Any] | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 1.5,
) -> Endpoint:
    """Resolve the endpoint and check that something answers there.

    Any HTTP answer counts (a 401 still means a server is there); raises :class:`ChatError` with
    kind ``no_endpoint`` and a plain message when nothing does.
    """
    endpoint = resolve_endpoint(explicit, config=config, env=env)
    try:
        async with httpx.AsyncClient(
            timeout=timeout, trust_env=not is_loopback(endpoint.url)
        ) as http:
            await http.get(endpoint.url + "/models")
    except httpx.HTTPError as exc:
        _kind, reason = describe_transport_error(exc, endpoint.url)
        raise ChatError("no_endpoint", no_endpoint_message(endpoint, reason)) from None
    return endpoint


# -- models ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelInfo:
    """One entry of ``/v1/models``; vLLM adds ``root`` and ``parent`` (base model of a LoRA)."""

    id: str
    created: int | None = None
    owned_by: str | None = None
    root: str | None = None
    parent: str | None = None
    max_model_len: int | None = None

    @property
    def step(self) -> int | None:
        return step_in_model_id(self.id)

    @property
    def is_demo(self) -> bool:
        return self.owned_by == "rltop-demo"


_STEP_WORD = re.compile(
    r"(?:global[_\-]?step|step|checkpoint|ckpt|iter(?:ation)?|epoch|rl)[_\-:=]?(\d+)", re.IGNORECASE
)
_TRAILING_NUMBER = re.compile(r"[_\-/:](\d+)$")


def step_in_model_id(model_id: str) -> int | None:
    """``ckpt-step-120`` -> 120, ``run/checkpoint-40`` -> 40, ``Qwen2.5-7B`` -> None."""
    found = _STEP_WORD.findall(model_id)
    if found:
        return int(found[-1])
    m = _TRAILING_NUMBER.search(model_id)
    return int(m.group(1)) if m else None


def pick_current_model(models: Iterable[ModelInfo]) -> ModelInfo | None:
    """The newest checkpoint: latest ``created``, else highest step in the id; ties keep list order.

    vLLM stamps every model with the time of the listing, so equal ``created`` values fall through
    to the step number.
    """
    best: ModelInfo | None = None
    best_key: tuple[float, float] | None = None
    for model in models:
        key = (
            float(model.created) if model.created is not None else float("-inf"),
            float(model.step) if model.step is not None else float("-inf"),
        )
        if best_key is None or key > best_key:
            best, best_key = model, key
    return best


def _model_from_json(obj: Mapping[str, Any]) -> ModelInfo | None:
    model_id = obj.get("id")
    if not isinstance(model_id, str) or not model_id:
        return None

    def as_int(value: Any) -> int | None:
        return (
            int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        )

    def as_str(value: Any) -> str | None:
        return value if isinstance(value, str) else None

    return ModelInfo(
        id=model_id,
        created=as_int(obj.get("created")),
        owned_by=as_str(obj.get("owned_by")),
        root=as_str(obj.get("root")),
        parent=as_str(obj.get("parent")),
        max_model_len=as_int(obj.get("max_model_len")),
    )


# -- errors in the user's words ----------------------------------------------------------------
def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is s for s in seen) or len(seen) > 20:
            continue
        seen.append(item)
        todo.extend([item.__cause__, item.__context__])
    return seen


def describe_transport_error(exc: BaseException, url: str) -> tuple[str, str]:
    """(kind, plain reason) for a failure below HTTP: refused, DNS, timeouts, dropped connection."""
    host = urlsplit(url).hostname or url
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, socket.gaierror) for e in chain) or any(
        s in text
        for s in (
            "name or service not known",
            "nodename nor servname",
            "temporary failure in name resolution",
            "getaddrinfo failed",
            "no address associated",
        )
    ):
        return "dns", f"the host name {host!r} does not resolve (DNS lookup failed)"
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect_timeout", f"connecting to {host} timed out"
    if any(
        isinstance(e, ConnectionRefusedError)
        or (isinstance(e, OSError) and e.errno == errno.ECONNREFUSED)
        for e in chain
    ) or any(
        s in text for s in ("refused", "connect call failed", "all connection attempts failed")
    ):
        return "connection_refused", "connection refused (nothing is listening there)"
    if isinstance(exc, httpx.ConnectError):
        return "connect_error", f"could not connect ({_short(str(exc))})"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", "the server did not answer in time"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return "dropped", "the server closed the connection"
    return "network", _short(str(exc)) or type(exc).__name__


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def server_message(body: bytes | str) -> str:
    """The server's own error message from an OpenAI/vLLM/FastAPI error body, else the raw text."""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        obj = json.loads(raw)
    except ValueError:
        return _short(raw)
    if isinstance(obj, dict):  # {"error": {"message"}} (OpenAI), {"message"} (vLLM), {"detail"}
        err = obj.get("error", obj)
        if isinstance(err, dict):
            for key in ("message", "detail", "msg"):
                if isinstance(err.get(key), str):
                    return _short(err[key])
        if isinstance(err, str):
            return _short(err)
        detail = obj.get("detail")
        if detail is not None:
            return _short(detail if isinstance(detail, str) else json.dumps(detail))
    return _short(raw)


def describe_http_error(
    status: int, body: bytes | str, *, model: str | None, had_key: bool, retry_after: str | None
) -> tuple[str, str]:
    """(kind, message) for an HTTP error status, quoting the server's message."""
    said = server_message(body).rstrip(". ") or "(no message)"
    if status in (401, 403):
        hint = (
            "the API key was rejected; check RLTOP_API_KEY / OPENAI_API_KEY"
            if had_key
            else "the server wants an API key; set RLTOP_API_KEY (or OPENAI_API_KEY)"
        )
        return "unauthorized", f"Not allowed (HTTP {status}): {said}. {hint[0].upper()}{hint[1:]}."
    if status == 404:
        if model and ("model" in said.lower() or model in said):
            return "unknown_model", (
                f"Unknown model {model!r} (HTTP 404): {said}. Pick another model from the list."
            )
        return "not_found", (
            f"Not found (HTTP 404): {said}. Is the endpoint URL right (it usually ends in /v1)?"
        )
    if status == 429:
        wait = f" Retry in {retry_after} s." if retry_after else " Retry in a moment."
        return "rate_limited", f"The server is busy (HTTP 429): {said}.{wait}"
    if status >= 500:
        return "server_error", f"The server failed (HTTP {status}): {said}."
    return "http_error", f"The server refused the request (HTTP {status}): {said}."


# -- streaming helpers -------------------------------------------------------------------------
class SSEDecoder:
    """Server-sent events from byte chunks: yields each event's joined ``data`` payload.

    Lines that are not SSE fields are counted in ``malformed`` and skipped.
    """

    _FIELDS = ("event", "id", "retry")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self.malformed = 0

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += chunk
        events: list[str] = []
        while True:
            nl = self._buffer.find(b"\n")
            if nl < 0:
                break
            raw, self._buffer = self._buffer[:nl], self._buffer[nl + 1 :]
            self._line(raw.rstrip(b"\r").decode("utf-8", "replace"), events)
        return events

    def close(self) -> list[str]:
        """Events still pending when the stream ends (a last event without its blank line)."""
        events: list[str] = []
        if self._buffer:
            self._line(self._buffer.rstrip(b"\r").decode("utf-8", "replace"), events)
            self._buffer = b""
        self._line("", events)
        return events

    def _line(self, line: str, events: list[str]) -> None:
        if not line:
            if self._data:
                events.append("\n".join(self._data))
                self._data = []
            return
        if line.startswith(":"):
            return  # comment / keep-alive
        name, sep, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data" and sep:
            self._data.append(value)
        elif name in self._FIELDS and sep:
            return
        else:
            self.malformed += 1


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
                    f"{display_url(url)} did not answer with JSON: {_short(response.text)}"
                ),
            ) from None
        items = data.get("data") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ChatError("bad_response", f"{display_url(url)} did not list models")
        return [m for m in (_model_from_json(i) for i in items if isinstance(i, dict)) if m]

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
        splitter = ThinkSplitter() if split_think else None
        decoder = SSEDecoder()
        content_redactor = self.redactor.stream()
        reasoning_redactor = self.redactor.stream()

        def finish() -> None:
            stats.elapsed = time.perf_counter() - started
            stats.malformed_lines = decoder.malformed

        def fail(kind: str, message: str, status: int | None = None) -> ErrorEvent:
            finish()
            return ErrorEvent(kind, self.redactor.text(message), stats, status)

        def token_seen() -> None:
            now = time.perf_counter()
            if stats._first_token_at is None:
                stats._first_token_at = now
                stats.ttft = now - started
            stats._last_token_at = now
            stats.deltas += 1
            if not stats.tokens_from_usage:
                stats.completion_tokens = stats.deltas

        def reasoning_text(text: str) -> str:
            return reasoning_redactor.feed(text)

        def held_back() -> list[ChatEvent]:
            """The text the redactors held back (a possible secret's start), at the end."""
            events = text_events("", last=True)
            rest = reasoning_redactor.flush()
            if rest:
                stats.reasoning += rest
                events.append(ReasoningDelta(rest))
            return events

        def text_events(text: str, *, last: bool = False) -> list[ChatEvent]:
            text = content_redactor.feed(text) if not last else content_redactor.flush()
            parts = splitter.feed(text) if splitter else [("content", text)]
            return [
                _text_event(kind, piece, stats)
                for kind, piece in parts
                if piece or kind == "recast"
            ]

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
                    for event in self._handle_data(
                        data, stats, decoder, text_events, token_seen, reasoning_text
                    ):
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
                for event in self._whole_answer(
                    bytes(whole), stats, text_events, token_seen, reasoning_text
                ):
                    if isinstance(event, ErrorEvent):
                        yield fail(event.kind, event.message, event.status)
                        return
                    yield event
                for event in held_back():
                    yield event
                if splitter:
                    for kind, piece in splitter.flush():
                        yield _text_event(kind, piece, stats)
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
                    for event in self._handle_data(
                        data, stats, decoder, text_events, token_seen, reasoning_text
                    ):
                        if isinstance(event, ErrorEvent):
                            yield fail(event.kind, event.message, event.status)
                            return
                        yield event
            for event in held_back():
                yield event
            if splitter:
                for kind, piece in splitter.flush():
                    yield _text_event(kind, piece, stats)
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

    def _whole_answer(
        self,
        body: bytes,
        stats: StreamStats,
        text_events: Any,
        token_seen: Any,
        reasoning_text: Any = None,
    ) -> list[ChatEvent]:
        """Events from a non-streamed ``chat.completion`` body, as if it had streamed."""
        try:
            obj = json.loads(body)
        except ValueError:
            return [
                ErrorEvent(
                    "bad_response",
                    f"The answer is not valid JSON: {_short(body.decode('utf-8', 'replace'))}",
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
        decoder = SSEDecoder()
        events = self._handle_data(
            json.dumps(chunk), stats, decoder, text_events, token_seen, reasoning_text
        )
        stats.saw_done = True
        return events

    def _handle_data(
        self,
        data: str,
        stats: StreamStats,
        decoder: SSEDecoder,
        text_events: Any,
        token_seen: Any,
        reasoning_text: Any = None,
    ) -> list[ChatEvent]:
        """Events from one SSE ``data`` payload (a chat.completion.chunk, an error, or [DONE])."""
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
                if reasoning_text is not None:
                    reasoning = reasoning_text(reasoning)
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
                        events.append(_tool_delta(call, position, stats, self.redactor))
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


def _text_event(kind: str, text: str, stats: StreamStats) -> ChatEvent:
    if kind == "recast":
        moved, stats.content = stats.content, ""
        stats.reasoning += moved
        return ContentWasReasoning(moved)
    if kind == "reasoning":
        stats.reasoning += text
        return ReasoningDelta(text)
    stats.content += text
    return ContentDelta(text)


def _tool_delta(
    call: dict[str, Any], position: int, stats: StreamStats, redactor: Redactor
) -> ToolCallDelta:
    index = call.get("index")
    index = index if isinstance(index, int) else position
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    name = function.get("name") if isinstance(function.get("name"), str) else None
    arguments = function.get("arguments") if isinstance(function.get("arguments"), str) else ""
    arguments = redactor.text(arguments)
    call_id = call.get("id") if isinstance(call.get("id"), str) else None
    while len(stats.tool_calls) <= index:
        stats.tool_calls.append({"id": None, "name": "", "arguments": ""})
    slot = stats.tool_calls[index]
    if call_id:
        slot["id"] = call_id
    if name:
        slot["name"] += name
    slot["arguments"] += arguments
    return ToolCallDelta(index, call_id, name, arguments)


# -- conversation ------------------------------------------------------------------------------
@dataclass
class Turn:
    """One message of the conversation; an assistant turn remembers which model wrote it."""

    role: str
    content: str = ""
    reasoning: str = ""
    model: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    stats: StreamStats | None = None
    error: str | None = None
    done: bool = False

    def absorb(self, event: ChatEvent) -> None:
        """Fold one stream event into this (assistant) turn."""
        if isinstance(event, ContentDelta):
            self.content += event.text
        elif isinstance(event, ReasoningDelta):
            self.reasoning += event.text
        elif isinstance(event, ContentWasReasoning):
            self.reasoning += self.content
            self.content = ""
        elif isinstance(event, (DoneEvent, ErrorEvent)):
            self.stats = event.stats
            self.model = event.stats.model or self.model
            self.tool_calls = list(event.stats.tool_calls)
            self.done = True
            if isinstance(event, ErrorEvent):
                self.error = event.message


@dataclass
class Conversation:
    """A chat: history, system prompt and sampling settings, sent whole with each question."""

    system_prompt: str | None = None
    temperature: float = 0.7
    max_tokens: int = 1024
    turns: list[Turn] = field(default_factory=list)

    def add_user(self, text: str) -> Turn:
        turn = Turn("user", text, done=True)
        self.turns.append(turn)
        return turn

    def begin_answer(self, model: str) -> Turn:
        turn = Turn("assistant", model=model)
        self.turns.append(turn)
        return turn

    def drop_failed_answer(self) -> Turn | None:
        """Remove the last answer if it failed or is unfinished (before a retry)."""
        if self.turns and self.turns[-1].role == "assistant":
            last = self.turns[-1]
            if last.error is not None or not last.done:
                return self.turns.pop()
        return None

    @property
    def last_user_text(self) -> str | None:
        for turn in reversed(self.turns):
            if turn.role == "user":
                return turn.content
        return None

    def messages(self) -> list[dict[str, Any]]:
        """The API message list: system prompt, then the turns.

        Answers without text are left out and back-to-back user turns are joined, because many
        chat templates insist that user and assistant alternate.
        """
        out: list[dict[str, Any]] = []
        if self.system_prompt:
            out.append({"role": "system", "content": self.system_prompt})
        for turn in self.turns:
            if turn.role == "assistant" and not turn.content:
                continue
            if out and out[-1]["role"] == turn.role == "user":
                out[-1] = {"role": "user", "content": out[-1]["content"] + "\n\n" + turn.content}
                continue
            out.append({"role": turn.role, "content": turn.content})
        return out

    def clear(self) -> None:
        self.turns.clear()


# -- the run's own system prompt ---------------------------------------------------------------
_SYSTEM_PATTERNS = [
    # ChatML (Qwen): <|im_start|>system\n...<|im_end|>
    re.compile(r"<\|?im_start\|?>\s*system\s*\n(.*?)<\|?im_end\|?>", re.DOTALL),
    # Llama 3
    re.compile(r"<\|start_header_id\|>system<\|end_header_id\|>\s*(.*?)<\|eot_id\|>", re.DOTALL),
    # decoded without special tokens (verl dumps): "system\n...\nuser\n..."
    re.compile(r"\Asystem\n(.*?)\n(?:user|human)\n", re.DOTALL),
]


def system_prompt_of(prompt: str | None, messages: str | None = None) -> str | None:
    """The system prompt inside one logged prompt (chat messages first, then template text)."""
    parsed = parse_messages(messages)
    if parsed is not None:
        return system_prompt(parsed)
    if not prompt:
        return None
    text = prompt.lstrip()
    for pattern in _SYSTEM_PATTERNS:
        m = pattern.search(text)
        if m and m.group(1).strip():
            return m.group(1).strip()
    return None


def shared_system_prompt(
    rollouts: pl.DataFrame | None, *, sample: int = 400, min_share: float = 0.9
) -> str | None:
    """The system prompt the run's rollouts share, if they share one (the chat's default).

    Looks at the newest ``sample`` rows of the store's rollout frame (``prompt`` and, when
    present, ``messages``); a prompt counts when at least ``min_share`` of them carry it.
    """
    if rollouts is None or rollouts.height == 0 or "prompt" not in rollouts.columns:
        return None
    tail = rollouts.tail(sample)
    prompts = tail["prompt"].to_list()
    messages = tail["messages"].to_list() if "messages" in tail.columns else [None] * len(prompts)
    counts: dict[str, int] = {}
    seen = 0
    for prompt, msgs in zip(prompts, messages, strict=True):
        if prompt is None and msgs is None:
            continue
        seen += 1
        found = system_prompt_of(prompt, msgs)
        if found:
            counts[found] = counts.get(found, 0) + 1
    if not counts or not seen:
        return None
    best, n = max(counts.items(), key=lambda item: item[1])
    return best if n / seen >= min_share else None


# -- replaying a logged rollout ----------------------------------------------------------------
_CHATML_TURN = re.compile(r"<\|?im_start\|?>\s*(\w+)\s*\n(.*?)(?:<\|?im_end\|?>|\Z)", re.DOTALL)
_LLAMA_TURN = re.compile(
    r"<\|start_header_id\|>(\w+)<\|end_header_id\|>\s*(.*?)(?:<\|eot_id\|>|\Z)", re.DOTALL
)
_PLAIN_ROLE = re.compile(r"^(system|user|assistant|human)$", re.MULTILINE)


def prompt_messages(prompt: str | None, messages: str | None = None) -> list[dict[str, str]]:
    """A logged prompt as chat messages to send again (the answer the run logged is left out).

    Reads the store's ``messages`` JSON when present (rows whose text was rendered from chat
    messages always have it), else ChatML / Llama 3 template text or verl's decoded
    ``system\\n…\\nuser\\n…\\nassistant\\n`` text; anything else is one user message.
    """
    out: list[dict[str, str]] = role_messages(parse_messages(messages) or [])
    text = prompt or ""
    if not out:
        for pattern in (_CHATML_TURN, _LLAMA_TURN):
            found = pattern.findall(text)
            if found:
                out = [{"role": role, "content": body.strip()} for role, body in found]
                break
    if not out and re.match(r"\A\s*system\n", text):
        parts = _PLAIN_ROLE.split(text.strip())[1:]
        out = [
            {"role": role, "content": body.strip()}
            for role, body in zip(parts[::2], parts[1::2], strict=True)
        ]
    for msg in out:
        if msg["role"] == "human":
            msg["role"] = "user"
    while out and out[-1]["role"] == "assistant":
        out.pop()  # the generation prompt, or the logged answer itself
    if not any(m["role"] == "user" for m in out):
        return [{"role": "user", "content": text.strip()}] if text.strip() else []
    return out
