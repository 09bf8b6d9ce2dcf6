"""A toy OpenAI-compatible server for ``rltop demo``: chat works with no set-up and no network.

Its "model" answers from the demo run's own rollouts: the logged completion of the most similar
prompt at the newest step (``demo-grpo-step-<N>``), or at the first step for the base model, streamed
word by word the way vLLM streams (role-only first chunk, content deltas, usage chunk, ``[DONE]``).
Standard library only, loopback only, a daemon thread; it starts in a few milliseconds.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rltop.core.lazyre import lazy

MODEL_PREFIX = "demo-grpo"
BASE_MODEL = f"{MODEL_PREFIX}-base"
OWNER = "rltop-demo"
_WORD = lazy(r"[a-z0-9]+")
_PROMPT_KEYS = ("prompt", "input", "question", "query")
_COMPLETION_KEYS = ("completion", "output", "response")


@dataclass(frozen=True)
class Rollout:
    prompt: str
    completion: str
    reward: float | None
    step: int


def _steps(rollouts_dir: Path) -> list[int]:
    try:
        return sorted(int(p.stem) for p in rollouts_dir.glob("*.jsonl") if p.stem.isdigit())
    except OSError:
        return []


def _read_step(rollouts_dir: Path, step: int) -> list[Rollout]:
    out: list[Rollout] = []
    try:
        lines = (rollouts_dir / f"{step}.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue  # a line being written right now
        if not isinstance(obj, dict):
            continue
        prompt = next((obj[k] for k in _PROMPT_KEYS if isinstance(obj.get(k), str)), None)
        completion = next((obj[k] for k in _COMPLETION_KEYS if isinstance(obj.get(k), str)), None)
        if prompt is None or completion is None:
            continue
        reward = obj.get("reward", obj.get("score"))
        out.append(
            Rollout(prompt, completion, reward if isinstance(reward, (int, float)) else None, step)
        )
    return out


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _question_of(prompt: str) -> str:
    """The user's part of a logged prompt (verl text: ``system\\n...\\nuser\\n<q>\\nassistant``)."""
    m = re.search(r"\nuser\n(.*?)(?:\nassistant\n?)?\Z", prompt, re.DOTALL)
    return m.group(1) if m else prompt


def best_answer(rollouts: list[Rollout], question: str) -> tuple[Rollout | None, float]:
    """The rollout whose prompt shares most words with ``question`` (ties: higher reward)."""
    asked = _words(question)
    best: Rollout | None = None
    best_key: tuple[float, float] = (-1.0, float("-inf"))
    for rollout in rollouts:
        words = _words(_question_of(rollout.prompt))
        overlap = len(asked & words) / (len(asked | words) or 1)
        key = (overlap, rollout.reward if rollout.reward is not None else float("-inf"))
        if key > best_key:
            best, best_key = rollout, key
    return best, max(best_key[0], 0.0)


class DemoEndpoint:
    """The running demo server: ``url`` is the ``/v1`` base; ``stop()`` shuts it down."""

    def __init__(self, rollouts_dir: Path, *, word_delay: float = 0.012) -> None:
        self.rollouts_dir = Path(rollouts_dir)
        self.word_delay = word_delay
        self.started_at = int(time.time())
        self._stopping = threading.Event()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="rltop-demo-endpoint",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)

    # -- the toy model -------------------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        """Base, then a few recent checkpoints, the current one last (highest step, newest)."""
        steps = _steps(self.rollouts_dir)
        entries = [self._model(BASE_MODEL, self.started_at - 3600, None)]
        for step in steps[-3:]:
            entries.append(self._model(f"{MODEL_PREFIX}-step-{step}", self.started_at + step, step))
        return entries

    def _model(self, model_id: str, created: int, step: int | None) -> dict[str, Any]:
        return {
            "id": model_id,
            "object": "model",
            "created": created,
            "owned_by": OWNER,
            "root": BASE_MODEL,
            "parent": None if step is None else BASE_MODEL,
            "max_model_len": 4096,
        }

    def step_of(self, model_id: str) -> int | None:
        """The rollout step a model id answers from; None when the id is unknown."""
        steps = _steps(self.rollouts_dir)
        if model_id == BASE_MODEL:
            return steps[0] if steps else 0
        m = re.fullmatch(re.escape(MODEL_PREFIX) + r"-step-(\d+)", model_id)
        if m and int(m.group(1)) in steps:
            return int(m.group(1))
        if model_id in (MODEL_PREFIX, f"{MODEL_PREFIX}-current", "demo"):
            return steps[-1] if steps else 0
        return None

    def answer(self, model_id: str, messages: list[dict[str, Any]]) -> str:
        step = self.step_of(model_id)
        if step is None:
            return ""
        question = next(
            (str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"),
            "",
        )
        rollouts = _read_step(self.rollouts_dir, step)
        if not rollouts:
            return (
                "(demo model) The demo run has not logged any rollouts yet; ask again in a moment."
            )
        best, overlap = best_answer(rollouts, question)
        assert best is not None
        if overlap < 0.2:
            return (
                f"(demo model) I only know the demo run's word problems. At step {step} I answered "
                f"one like this:\n\n{best.completion}"
            )
        return best.completion

    def wait(self, seconds: float) -> bool:
        """Sleep between words; True when the server is stopping."""
        return self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, endpoint: DemoEndpoint) -> None:
        self.endpoint = endpoint
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Never print a traceback over the UI; a client hanging up is normal (Esc)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # small SSE writes must leave at once (as uvicorn does), not wait for delayed ACKs
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # never print over the UI
        pass

    def _json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, kind: str) -> None:
        self._json(
            status,
            {"object": "error", "message": message, "type": kind, "param": None, "code": status},
        )

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": self.server.endpoint.models()})
        else:
            self._error(404, f"Not found: {self.path}", "NotFoundError")

    def do_POST(self) -> None:
        endpoint = self.server.endpoint
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._error(400, "The request body is not JSON.", "BadRequestError")
            return
        if self.path.rstrip("/") != "/v1/chat/completions" or not isinstance(body, dict):
            self._error(404, f"Not found: {self.path}", "NotFoundError")
            return
        model = str(body.get("model") or "")
        messages = body.get("messages") if isinstance(body.get("messages"), list) else []
        if endpoint.step_of(model) is None:
            self._error(404, f"The model `{model}` does not exist.", "NotFoundError")
            return
        text = endpoint.answer(model, [m for m in messages if isinstance(m, dict)])
        max_tokens = body.get("max_tokens")
        words = re.findall(r"\s*\S+", text)
        finish = "stop"
        if isinstance(max_tokens, int) and 0 < max_tokens < len(words):
            words, finish = words[:max_tokens], "length"
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
        created = int(time.time())
        if not body.get("stream"):
            self._json(
                200,
                {
                    "id": "chatcmpl-demo",
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(words)},
                            "finish_reason": finish,
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": len(words),
                        "total_tokens": prompt_tokens + len(words),
                    },
                },
            )
            return
        try:
            self._stream(model, created, words, finish, prompt_tokens, body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True  # the user pressed Esc

    def _stream(
        self,
        model: str,
        created: int,
        words: list[str],
        finish: str,
        prompt_tokens: int,
        body: dict[str, Any],
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(obj: Any) -> None:
            data = ("data: " + (obj if isinstance(obj, str) else json.dumps(obj)) + "\n\n").encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def chunk(delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-demo",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
                ],
            }

        endpoint = self.server.endpoint
        send(chunk({"role": "assistant", "content": ""}))
        for word in words:
            if endpoint.wait(endpoint.word_delay):
                break
            send(chunk({"content": word}))
        send(chunk({"content": ""}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            send(
                {
                    "id": "chatcmpl-demo",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": len(words),
                        "total_tokens": prompt_tokens + len(words),
                    },
                }
            )
        send("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def start_demo_endpoint(rollouts_dir: Path, *, word_delay: float = 0.012) -> DemoEndpoint:
    """Start the demo server on a free loopback port in a daemon thread."""
    return DemoEndpoint(Path(rollouts_dir), word_delay=word_delay)
