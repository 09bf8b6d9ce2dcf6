"""Message handling in one place: content parts, ``[role] text``, ``<think>`` blocks."""

from __future__ import annotations

from rltop.core.messages import (
    chat_text,
    content_text,
    parse_messages,
    split_think,
)


def test_content_parts_to_text():
    assert content_text(None) == ""
    assert content_text("plain") == "plain"
    parts = [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "x"}},
        {"type": "thinking", "thinking": "hmm"},
        "raw",
    ]
    assert content_text(parts) == "look\n[image_url]\nhmm\nraw"


def test_chat_text_shows_roles_and_tool_calls():
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"function": {"name": "search", "arguments": {"q": "w"}}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    assert chat_text(messages) == (
        '[user] weather?\n[assistant]\n  → search({"q":"w"})\n[tool] (c1) sunny'
    )
    assert chat_text([]) is None


def test_parse_messages_reads_the_column_back():
    assert parse_messages('[{"role": "user", "content": "q"}, 3]') == [
        {"role": "user", "content": "q"}
    ]
    assert parse_messages("not json") is None
    assert parse_messages(None) is None


def test_split_think_one_rule():
    assert split_think("plain") == [("content", "plain")]
    assert split_think("<think>why</think>answer") == [("reasoning", "why"), ("content", "answer")]
    # the template opened <think> in the prompt: only </think> shows in the completion
    assert split_think("I reason</think>answer") == [
        ("reasoning", "I reason"),
        ("content", "answer"),
    ]
    assert split_think("a<think>never closed") == [("content", "a"), ("reasoning", "never closed")]
    assert split_think("</think>answer") == [("content", "answer")]


def test_detail_view_and_replay_split_think_by_the_same_rule():
    from rltop.ui.screens import rollout_detail
    from rltop.ui.screens.chat import LoggedAnswer

    logged = LoggedAnswer("I reason</think>answer", reward=1.0, step=3)
    assert (logged.reasoning, logged.content) == ("I reason", "answer")
    assert rollout_detail.split_think is split_think  # the detail view uses the one function
