"""The formats rltop reads, one module per family; ``registry`` lists them in the order they are
asked (see docs/DEVELOPING.md, "Add a format")."""

from __future__ import annotations

from rltop.core.formats.registry import FORMATS, SNIFF_BYTES, Sniffed, parser_for, sniff

__all__ = ["FORMATS", "SNIFF_BYTES", "Sniffed", "parser_for", "sniff"]
