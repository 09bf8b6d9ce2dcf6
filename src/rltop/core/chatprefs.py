"""What the chat remembers between sessions: the base model picked for each endpoint.

A small JSON file in the user's state folder (``$RLTOP_STATE_DIR`` or platformdirs'
``user_state_dir("rltop")``). A file that cannot be read or written is ignored: the memory is a
convenience, never a reason to fail.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE_NAME = "chat.json"


def state_dir() -> Path:
    override = os.environ.get("RLTOP_STATE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_state_dir

    return Path(user_state_dir("rltop"))


def _load() -> dict:
    try:
        data = json.loads((state_dir() / FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def base_model(endpoint_url: str) -> str | None:
    """The base model the user picked last time for ``endpoint_url``, if any."""
    bases = _load().get("base_models")
    value = bases.get(endpoint_url) if isinstance(bases, dict) else None
    return value if isinstance(value, str) else None


def remember_base_model(endpoint_url: str, model: str) -> None:
    data = _load()
    bases = data.get("base_models")
    if not isinstance(bases, dict):
        bases = data["base_models"] = {}
    bases[endpoint_url] = model
    folder = state_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (FILE_NAME + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(folder / FILE_NAME)
    except OSError:
        pass
