"""Chat messages as trainers log them, in one place: content parts to text, ``<think>`` blocks,
messages to the ``[role] text`` the rollout list shows, and the store's ``messages`` column back
to messages.

Every reader (ART, verifiers, episodes, NeMo-RL, generic rollouts), the rollout detail screen and
the chat replay use these, so a message reads the same everywhere. Text rendered with
``chat_text`` is for people and search; code that needs the messages reads the ``messages`` column
(``parse_messages``), never the rendered text back.
"""

from __future__ import annotations

from typing import Any

import orjson

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


# -- content and messages ----------------------------------------------------------------------
def content_text(content: Any) -> str:
    """A message's ``content`` as text: a string, or the text of each content part on its own line
    (``text``, ``thinking``, nested ``content``; ``[image_url]`` for a part without text)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_part_text(part) for part in content)
    if isinstance(content, dict):
        return _part_text(content)
    if isinstance(content, (int, float, bool)):
        return str(content)
    return dump_json(content)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, dict):
        for key in ("text", "thinking", "content", "refusal"):
            value = part.get(key)
            if value is not None:
                return content_text(value)
        return f"[{part.get('type', 'part')}]"
    return "" if part is None else str(part)


def as_message(item: Any) -> dict[str, Any] | None:
    """An OpenAI chat message from a message or a choice (``{"message": {...}, ...}``)."""
    if not isinstance(item, dict):
        return None
    if "role" not in item and isinstance(item.get("message"), dict):
        msg = dict(item["message"])
        if item.get("finish_reason") is not None:
            msg.setdefault("finish_reason", item["finish_reason"])
        return msg
    return item


def messages_of(value: Any) -> list[dict[str, Any]] | None:
    """Chat messages (and choices) from a message, a list of them, or None when it is neither."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return None
    out = [m for m in (as_message(v) for v in value) if m is not None]
    return out or None


def message_text(msg: Any) -> str:
    """``[role] content`` plus one ``→ name(arguments)`` line per tool call."""
    if not isinstance(msg, dict):
        return str(msg)
    head = f"[{msg.get('role', '')}]"
    if msg.get("tool_call_id"):
        head += f" ({msg['tool_call_id']})"
    lines = [f"{head} {content_text(msg.get('content'))}".rstrip()]
    for call in msg.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        fn = call.get("function") if isinstance(call.get("function"), dict) else call
        args = fn.get("arguments", "")
        if not isinstance(args, str):
            args = dump_json(args)
        lines.append(f"  → {fn.get('name', '?')}({args})")
    return "\n".join(lines)


def chat_text(messages: list[Any] | None) -> str | None:
    """Messages as ``[role] text`` lines, for the rollout list, the detail view and search."""
    if not messages:
        return None
    return "\n".join(message_text(m) for m in messages)


def split_chat(messages: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """Prompt = messages before the first assistant turn; completion = the rest."""
    for i, msg in enumerate(messages):
        if msg.get("role") == "assistant":
            return messages[:i], messages[i:]
    return messages, []


TOO_DEEP_JSON = '"(nested too deeply to show)"'


def dump_json(value: Any, option: int = 0) -> str:
    """``value`` as JSON text (non-JSON values as their ``str``); a value nested past orjson's
    depth limit becomes a short placeholder instead of an exception."""
    try:
        return orjson.dumps(value, default=str, option=option).decode()
    except (TypeError, ValueError):
        return TOO_DEEP_JSON


def dump_messages(messages: list[Any]) -> str:
    """Messages as the JSON text the store's ``messages`` column holds."""
    return dump_json(messages)


def parse_messages(text: str | None) -> list[dict[str, Any]] | None:
    """The store's ``messages`` column (JSON) back to messages; None when it holds none."""
    if not text:
        return None
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, list):
        return None
    return [m for m in parsed if isinstance(m, dict)]


def role_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """``{role, content}`` messages with text content (to send to a chat endpoint)."""
    return [
        {"role": m["role"], "content": content_text(m.get("content"))}
        for m in messages
        if isinstance(m.get("role"), str)
    ]


def system_prompt(messages: list[dict[str, Any]]) -> str | None:
    """The first system message's text, if there is one."""
    for msg in messages:
        if msg.get("role") == "system":
            return content_text(msg.get("content")).strip() or None
    return None


# -- <think> blocks ----------------------------------------------------------------------------
class ThinkSplitter:
    """Splits streamed content into answer and ``<think>`` reasoning, tags cut across chunks.

    Templates of R1-style models (DeepSeek-R1 distills, Qwen3) put ``<think>`` in the prompt, so
    the output starts inside the reasoning and only ``</think>`` shows. A ``</think>`` before any
    ``<think>`` therefore yields a ``("recast", "")`` marker: the text so far was reasoning.
    """

    OPEN = THINK_OPEN
    CLOSE = THINK_CLOSE

    def __init__(self) -> None:
        self.thinking = False
        self.seen_tag = False
        self._pending = ""

    def feed(self, text: str) -> list[tuple[str, str]]:
        """[(``"content"`` | ``"reasoning"`` | ``"recast"``, text), ...] decidable now."""
        out: list[tuple[str, str]] = []
        buf = self._pending + text
        self._pending = ""
        while buf:
            tags = [self.CLOSE] if self.thinking else [self.OPEN]
            if not self.seen_tag:
                tags = [self.OPEN, self.CLOSE]
            kind = "reasoning" if self.thinking else "content"
            found = [(buf.find(tag), tag) for tag in tags if buf.find(tag) >= 0]
            if found:
                at, tag = min(found)
                if at:
                    out.append((kind, buf[:at]))
                buf = buf[at + len(tag) :]
                if tag == self.CLOSE and not self.thinking:
                    out.append(("recast", ""))
                else:
                    self.thinking = not self.thinking
                self.seen_tag = True
                continue
            keep = max(_partial_suffix(buf, tag) for tag in tags)
            if len(buf) > keep:
                out.append((kind, buf[: len(buf) - keep]))
            self._pending = buf[len(buf) - keep :]
            break
        return out

    def flush(self) -> list[tuple[str, str]]:
        """What is still held back (a tag that never completed is plain text after all)."""
        rest, self._pending = self._pending, ""
        return [("reasoning" if self.thinking else "content", rest)] if rest else []


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that could be the start of ``tag``."""
    for n in range(min(len(text), len(tag) - 1), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


def split_think(text: str) -> list[tuple[str, str]]:
    """Whole text -> ``[("content" | "reasoning", text), ...]`` by the same rule as streaming
    (``ThinkSplitter``): text before a ``</think>`` that no ``<think>`` opened is reasoning, and a
    ``<think>`` that never closes runs to the end."""
    splitter = ThinkSplitter()
    parts: list[tuple[str, str]] = []
    for kind, piece in [*splitter.feed(text), *splitter.flush()]:
        if kind == "recast":
            parts = [("reasoning", "".join(p for _, p in parts))] if parts else []
            continue
        if parts and parts[-1][0] == kind:
            parts[-1] = (kind, parts[-1][1] + piece)
        else:
            parts.append((kind, piece))
    return [(kind, piece) for kind, piece in parts if piece]
