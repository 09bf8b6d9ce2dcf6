"""Server-sent events: the ``data:`` lines of a streamed chat completion, and the events built from
their text and tool-call deltas."""

from __future__ import annotations

from typing import Any

from rltop.core.chat.events import (
    ChatEvent,
    ContentDelta,
    ContentWasReasoning,
    ReasoningDelta,
    StreamStats,
    ToolCallDelta,
)
from rltop.core.redact import Redactor


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


def text_event(kind: str, text: str, stats: StreamStats) -> ChatEvent:
    if kind == "recast":
        moved, stats.content = stats.content, ""
        stats.reasoning += moved
        return ContentWasReasoning(moved)
    if kind == "reasoning":
        stats.reasoning += text
        return ReasoningDelta(text)
    stats.content += text
    return ContentDelta(text)


def tool_delta(
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
