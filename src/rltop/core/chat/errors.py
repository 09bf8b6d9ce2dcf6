"""Failures in the user's words: transport errors (refused, DNS, timeouts) and HTTP error bodies."""

from __future__ import annotations

import errno
import json
import socket
from urllib.parse import urlsplit

import httpx


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
        return "connect_error", f"could not connect ({short_text(str(exc))})"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", "the server did not answer in time"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return "dropped", "the server closed the connection"
    return "network", short_text(str(exc)) or type(exc).__name__


def short_text(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def server_message(body: bytes | str) -> str:
    """The server's own error message from an OpenAI/vLLM/FastAPI error body, else the raw text."""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        obj = json.loads(raw)
    except ValueError:
        return short_text(raw)
    if isinstance(obj, dict):  # {"error": {"message"}} (OpenAI), {"message"} (vLLM), {"detail"}
        err = obj.get("error", obj)
        if isinstance(err, dict):
            for key in ("message", "detail", "msg"):
                if isinstance(err.get(key), str):
                    return short_text(err[key])
        if isinstance(err, str):
            return short_text(err)
        detail = obj.get("detail")
        if detail is not None:
            return short_text(detail if isinstance(detail, str) else json.dumps(detail))
    return short_text(raw)


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
