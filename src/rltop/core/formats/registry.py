"""The one ordered list of formats: which module reads a file, and which parser reads a row back.

Every format module has the same small interface:

- ``sniff(path, head) -> Sniffed | None``: decide from the name and at most ``SNIFF_BYTES`` of the
  head. ``Sniffed(parser, reason)`` claims the file (``parser`` None: the module knows the file and
  says why it is not read); ``None`` leaves it to the modules after it.
- ``PARSERS``: its ``Parser`` classes, each with a unique ``format`` id. ``Parser.feed`` /
  ``parse_whole`` parse; a rollout parser whose rows carry a location (``Parser.locate``) reads
  one row back from its bytes with ``Parser.reread`` (``coldtext`` asks it by the row's
  ``_format``).

Modules are asked in ``FORMATS`` order, so the specific ones (a trainer's file names and folders)
come before the generic readers of any CSV, JSON-lines or text log.
"""

from __future__ import annotations

from types import ModuleType

from rltop.core.formats import (
    art,
    console,
    csv,
    episodes,
    hf_state,
    jsonl,
    nemo_skyrl,
    parquet,
    prime_rl,
    rollouts,
    tensorboard,
    tinker_logtree,
    wandb,
    wandb_tables,
)
from rltop.core.formats.base import Parser, Sniffed

__all__ = ["FORMATS", "SNIFF_BYTES", "Sniffed", "parser_for", "sniff"]

#: how much of a file's head the sniffers look at
SNIFF_BYTES = 64 * 1024

#: format modules in the order they are asked
FORMATS: tuple[ModuleType, ...] = (
    tensorboard,
    wandb,
    wandb_tables,
    parquet,
    tinker_logtree,
    nemo_skyrl,
    prime_rl,
    art,
    episodes,
    hf_state,
    csv,
    rollouts,
    jsonl,
    console,
)

NOT_A_SOURCE = "not a metrics or rollouts file type"


def _parsers() -> dict[str, type[Parser]]:
    out: dict[str, type[Parser]] = {}
    for module in FORMATS:
        for cls in module.PARSERS:
            if out.get(cls.format, cls) is not cls:
                raise RuntimeError(f"format id {cls.format!r} is used by two parsers")
            out[cls.format] = cls
    return out


PARSERS: dict[str, type[Parser]] = _parsers()


def parser_for(format_id: str) -> type[Parser] | None:
    """The parser class whose ``format`` is ``format_id`` (what a row's ``_format`` names)."""
    return PARSERS.get(format_id)


def sniff(path: str, head: bytes) -> Sniffed:
    """Pick the parser for ``path`` given its first bytes (may be empty for a new file)."""
    for module in FORMATS:
        found = module.sniff(path, head)
        if found is not None:
            return found
    return Sniffed(None, NOT_A_SOURCE)
