"""Chat with the checkpoint being trained: an OpenAI-compatible streaming client (headless).

Trainers (prime-rl, OpenPipe ART, verl rollouts servers) serve the current policy through vLLM or
SGLang, often one model id per checkpoint or LoRA adapter. The package finds the endpoint, picks the
newest checkpoint, and streams an answer as typed events the UI appends as they come. It never
raises for a failed request: every failure ends the stream with an ``ErrorEvent`` that says what
went wrong in the user's words and keeps whatever text had already arrived.

- ``events``: the typed events and ``StreamStats``; ``ChatError``
- ``endpoint``: endpoint resolution and probing, the model list, the newest checkpoint
- ``errors``: transport and HTTP failures in the user's words
- ``sse``: server-sent event decoding, events from deltas
- ``client``: ``ChatClient`` (models, streaming, one-shot answers)
- ``conversation``: ``Turn``, ``Conversation``, the run's system prompt, replayed rollouts

No Textual here; the UI imports this package lazily so start-up stays fast.
"""

from __future__ import annotations

from rltop.core.chat.client import MAX_ANSWER_CHARS, ChatClient, ChatStream, StreamState
from rltop.core.chat.conversation import (
    Conversation,
    Turn,
    prompt_messages,
    shared_system_prompt,
    system_prompt_of,
)
from rltop.core.chat.endpoint import (
    API_KEY_ENVS,
    DEFAULT_ENDPOINT,
    ENDPOINT_ENV,
    Endpoint,
    ModelInfo,
    api_key_from_env,
    display_url,
    find_endpoint,
    is_loopback,
    model_from_json,
    no_endpoint_message,
    normalize_base_url,
    pick_current_model,
    resolve_endpoint,
    step_in_model_id,
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
    ContentDelta,
    ContentWasReasoning,
    DoneEvent,
    ErrorEvent,
    ReasoningDelta,
    RoleEvent,
    StreamStats,
    ToolCallDelta,
    UsageEvent,
)
from rltop.core.chat.sse import SSEDecoder, text_event, tool_delta

__all__ = [
    "API_KEY_ENVS",
    "DEFAULT_ENDPOINT",
    "ENDPOINT_ENV",
    "MAX_ANSWER_CHARS",
    "ChatClient",
    "ChatError",
    "ChatEvent",
    "ChatStream",
    "ContentDelta",
    "ContentWasReasoning",
    "Conversation",
    "DoneEvent",
    "Endpoint",
    "ErrorEvent",
    "ModelInfo",
    "ReasoningDelta",
    "RoleEvent",
    "SSEDecoder",
    "StreamState",
    "StreamStats",
    "ToolCallDelta",
    "Turn",
    "UsageEvent",
    "api_key_from_env",
    "describe_http_error",
    "describe_transport_error",
    "display_url",
    "find_endpoint",
    "is_loopback",
    "model_from_json",
    "no_endpoint_message",
    "normalize_base_url",
    "pick_current_model",
    "prompt_messages",
    "resolve_endpoint",
    "server_message",
    "shared_system_prompt",
    "short_text",
    "step_in_model_id",
    "system_prompt_of",
    "text_event",
    "tool_delta",
]
