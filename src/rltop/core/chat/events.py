"""Typed events of a streamed answer, its running numbers, and the error of a failed request."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


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
