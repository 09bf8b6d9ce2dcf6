"""Where the chat's model is served: the endpoint (flag > $RLTOP_ENDPOINT > config > default), its
probe, and the model list read as checkpoints (the newest by step)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from rltop.core.chat.errors import describe_transport_error
from rltop.core.chat.events import ChatError
from rltop.core.lazyre import lazy

DEFAULT_ENDPOINT = "http://127.0.0.1:8000/v1"
ENDPOINT_ENV = "RLTOP_ENDPOINT"
API_KEY_ENVS = ("RLTOP_API_KEY", "OPENAI_API_KEY")


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


_STEP_WORD = lazy(
    r"(?:global[_\-]?step|step|checkpoint|ckpt|iter(?:ation)?|epoch|rl)[_\-:=]?(\d+)", re.IGNORECASE
)
_TRAILING_NUMBER = lazy(r"[_\-/:](\d+)$")


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


def model_from_json(obj: Mapping[str, Any]) -> ModelInfo | None:
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
