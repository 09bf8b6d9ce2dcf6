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

import os
from types import ModuleType

from rltop.core.discover import unrotated
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
    """Pick the parser for ``path`` given its first bytes (may be empty for a new file).

    A rotated log (``metrics.jsonl.1``) is sniffed as the file it was, so it is read as that
    source's history (sniffers decide from the name and ``head``; none opens ``path``)."""
    path = os.path.join(os.path.dirname(path), unrotated(os.path.basename(path)))
    for module in FORMATS:
        found = module.sniff(path, head)
        if found is not None:
            return found
    return Sniffed(None, NOT_A_SOURCE)
