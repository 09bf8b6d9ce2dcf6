"""A chat's history and settings, the run's own system prompt, and a logged rollout as messages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rltop.core.chat.events import (
    ChatEvent,
    ContentDelta,
    ContentWasReasoning,
    DoneEvent,
    ErrorEvent,
    ReasoningDelta,
    StreamStats,
)
from rltop.core.lazyre import lazy
from rltop.core.messages import parse_messages, role_messages, system_prompt

if TYPE_CHECKING:
    import polars as pl


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
_CHATML_TURN = lazy(r"<\|?im_start\|?>\s*(\w+)\s*\n(.*?)(?:<\|?im_end\|?>|\Z)", re.DOTALL)
_LLAMA_TURN = lazy(
    r"<\|start_header_id\|>(\w+)<\|end_header_id\|>\s*(.*?)(?:<\|eot_id\|>|\Z)", re.DOTALL
)
_PLAIN_ROLE = lazy(r"^(system|user|assistant|human)$", re.MULTILINE)


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
