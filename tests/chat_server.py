"""A real OpenAI-compatible HTTP server on loopback that streams the way vLLM does, or misbehaves.

vLLM's stream: a role-only first chunk (``delta: {role: assistant, content: ""}``), content deltas,
a last choice chunk with ``finish_reason``, a usage chunk with empty ``choices`` (when the request
asks ``stream_options.include_usage``), then ``data: [DONE]``; HTTP/1.1 chunked encoding.

Behaviour is chosen by the model name (or an ``X-Misbehave`` header):

=============  ==================================================================================
ckpt-*, base   a normal answer: "Hello from <model>. You said: <last user message>" word by word
think          ``<think>`` reasoning in the content, tags split across chunks
r1             R1-style: the template opened ``<think>``, so only ``</think>`` arrives
reasoning      ``reasoning_content`` deltas (vLLM's reasoning parser), then content
no-usage       a normal answer without the usage chunk
slow-first     role chunk, then nothing for ``delay`` seconds before the content
stall          role and three content deltas, then silence for ``delay`` seconds
needs-key      401 unless ``Authorization: Bearer test-secret``
busy           429 with an OpenAI error body and ``Retry-After: 2``
crash          500 with a vLLM error body
malformed      valid chunks with garbage lines in between
no-done        a normal answer that ends without ``[DONE]``
drop           some content, then the socket is cut mid-body
empty          role chunk, finish chunk, usage of 0 tokens, [DONE]
tools          only tool-call deltas, finish_reason tool_calls
mid-error      some content, then ``data: {"error": ...}`` and [DONE]
endless        a token every 20 ms until the client goes away (records the disconnect)
flood          1.2 KB content deltas as fast as the socket takes them (up to 60 s)
no-stream      ignores ``stream: true`` and answers with one JSON ``chat.completion``
long           4000 content deltas as fast as the socket takes them (drawing cost)
evil           Rich markup and terminal escape sequences (OSC 52 clipboard write, colours, title)
anything else  404 with vLLM's "The model `x` does not exist." body
=============  ==================================================================================
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

API_KEY = "test-secret"
MODELS = [
    # same ``created`` for all (as vLLM does): the step number decides which is newest
    {"id": "base", "created": 1700000000},
    {"id": "ckpt-step-40", "created": 1700000000},
    {"id": "ckpt-step-120", "created": 1700000000},
]
BEHAVIOURS = {
    "think",
    "r1",
    "reasoning",
    "no-usage",
    "slow-first",
    "stall",
    "needs-key",
    "busy",
    "crash",
    "malformed",
    "no-done",
    "drop",
    "empty",
    "tools",
    "mid-error",
    "endless",
    "flood",
    "evil",
    "long",
    "no-stream",
}


class ChatTestServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.stopping = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.disconnected = threading.Event()
        self.delay = 5.0  # seconds of silence for slow-first / stall
        self.token_interval = 0.0
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, Esc) are part of the tests, not errors to print."""
        self.disconnected.set()

    def start(self) -> ChatTestServer:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(timeout=2)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ChatTestServer

    def setup(self) -> None:
        super().setup()
        # small SSE writes must leave at once (as uvicorn does), not wait for delayed ACKs
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing ------------------------------------------------------------------------------
    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _raw(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _data(self, obj: Any) -> None:
        self._raw("data: " + (obj if isinstance(obj, str) else json.dumps(obj)) + "\n\n")

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _wait(self, seconds: float) -> None:
        self.server.stopping.wait(seconds)

    def _chunk(self, model: str, delta: dict[str, Any], finish: str | None = None) -> dict:
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def _usage(self, model: str, prompt: int, completion: int) -> dict:
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "choices": [],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    # -- routes --------------------------------------------------------------------------------
    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            data = [{**m, "object": "model", "owned_by": "vllm", "root": m["id"]} for m in MODELS]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, {"detail": "Not Found"})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._json(400, {"object": "error", "message": "bad JSON", "code": 400})
            return
        self.server.requests.append(
            {"body": body, "authorized": self.headers.get("Authorization") is not None}
        )
        model = str(body.get("model"))
        behaviour = self.headers.get("X-Misbehave") or model
        known = {m["id"] for m in MODELS} | BEHAVIOURS
        if model not in known:
            self._json(
                404,
                {
                    "object": "error",
                    "message": f"The model `{model}` does not exist.",
                    "type": "NotFoundError",
                    "param": None,
                    "code": 404,
                },
            )
            return
        try:
            self._answer(behaviour, model, body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.server.disconnected.set()
            self.close_connection = True

    def _answer(self, behaviour: str, model: str, body: dict[str, Any]) -> None:
        messages = body.get("messages") or []
        last = next((m.get("content", "") for m in reversed(messages) if m["role"] == "user"), "")
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if behaviour == "needs-key" and self.headers.get("Authorization") != f"Bearer {API_KEY}":
            self._json(
                401,
                {"error": {"message": "Invalid API key", "type": "invalid_request_error"}},
            )
            return
        if behaviour == "busy":
            self._json(
                429,
                {
                    "error": {
                        "message": "Too many requests: 64 requests are already waiting",
                        "type": "rate_limit_error",
                        "code": 429,
                    }
                },
                {"Retry-After": "2"},
            )
            return
        if behaviour == "crash":
            self._json(
                500,
                {
                    "object": "error",
                    "message": "CUDA out of memory while allocating the KV cache",
                    "type": "InternalServerError",
                    "param": None,
                    "code": 500,
                },
            )
            return
        if not body.get("stream") or behaviour == "no-stream":
            text = f"Hello from {model}. You said: {last}"
            self._json(
                200,
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
                },
            )
            return

        self._start_stream()
        self._data(self._chunk(model, {"role": "assistant", "content": ""}))
        words = f"Hello from {model}. You said: {last}".split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        finish = "stop"
        done = True

        if behaviour == "think":
            pieces = ["<th", "ink>Two plus", " two is four.</thi", "nk>The answer", " is 4."]
        elif behaviour == "r1":
            pieces = ["Two plus", " two is four.</th", "ink>\n\nThe answer", " is 4."]
        elif behaviour == "reasoning":
            for piece in ["Adding", " two", " and two."]:
                self._data(self._chunk(model, {"reasoning_content": piece}))
            pieces = ["The answer", " is 4."]
        elif behaviour == "slow-first":
            self._wait(self.server.delay)
        elif behaviour == "stall":
            for piece in pieces[:3]:
                self._data(self._chunk(model, {"content": piece}))
            self._wait(self.server.delay)
            self._end()
            return
        elif behaviour == "empty":
            pieces = []
        elif behaviour == "long":
            pieces = [f" word{i}" + ("\n" if i % 25 == 24 else "") for i in range(4000)]
        elif behaviour == "evil":
            pieces = [
                "[bold red]not bold[/bold red] ",
                "\x1b]52;c;ZXZpbA==\x07",
                "\x1b[31mred\x1b[0m ",
                "\x1b]0;owned\x07done",
            ]
        elif behaviour == "tools":
            pieces = []
            finish = "tool_calls"
            calls = [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                },
                {"index": 0, "function": {"arguments": '{"city": '}},
                {"index": 0, "function": {"arguments": '"Paris"}'}},
            ]
            for call in calls:
                self._data(self._chunk(model, {"tool_calls": [call]}))
        elif behaviour == "flood":
            # 1.2 KB content deltas as fast as the socket takes them, for up to 60 s
            piece = ("flood " * 200)[:1200]
            deadline = time.monotonic() + 60
            try:
                while time.monotonic() < deadline and not self.server.stopping.is_set():
                    self._data(self._chunk(model, {"content": piece}))
            except OSError:
                self.server.disconnected.set()
                return
            self._end()
            return
        elif behaviour == "endless":
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not self.server.stopping.is_set():
                self._data(self._chunk(model, {"content": " tok"}))
                self._wait(0.02)
            self._end()
            return

        for i, piece in enumerate(pieces):
            if behaviour == "malformed" and i in (1, 3):
                self._raw("data: {this is not json\n\n")
                self._raw("garbage without a field name\n\n")
            if behaviour == "drop" and i == 3:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if behaviour == "mid-error" and i == 3:
                self._data(
                    {
                        "error": {
                            "message": "engine dead: the worker process exited",
                            "type": "InternalServerError",
                            "code": 500,
                        }
                    }
                )
                self._data("[DONE]")
                self._end()
                return
            self._data(self._chunk(model, {"content": piece}))
            if self.server.token_interval:
                self._wait(self.server.token_interval)
        self._data(self._chunk(model, {"content": ""}, finish))
        if usage and behaviour != "no-usage":
            self._data(self._usage(model, 12, len(pieces) or (3 if behaviour == "tools" else 0)))
        if behaviour == "no-done":
            done = False
        if done:
            self._data("[DONE]")
        self._end()


@contextlib.contextmanager
def running_chat_server(port: int = 0) -> Iterator[ChatTestServer]:
    """A started server on a free (or the given) loopback port, stopped on exit."""
    server = ChatTestServer(port).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chat_server() -> Iterator[ChatTestServer]:
    with running_chat_server() as server:
        yield server


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
