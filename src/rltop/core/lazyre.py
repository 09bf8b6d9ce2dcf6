"""Regular expressions compiled on first use.

A module-level ``re.compile`` runs at import, and ``rltop check`` imports every format reader and
rule to read one folder: the patterns of the readers and rules a run never reaches (the console
log, W&B tables, long JSON lines, the text rules) cost it ~5 ms of start-up. ``lazy(pattern)``
stands for the compiled pattern and compiles it the first time one of its methods is used.
"""

from __future__ import annotations

import re
from typing import Any, cast, overload

__all__ = ["lazy"]

#: what a pattern is used for; bound on the stand-in at first use, so later calls cost what a
#: compiled pattern's do
_BOUND = (
    "match",
    "fullmatch",
    "search",
    "findall",
    "finditer",
    "sub",
    "subn",
    "split",
    "pattern",
    "flags",
    "groups",
    "groupindex",
)


class _LazyPattern:
    def __init__(self, pattern: str | bytes, flags: int) -> None:
        self._args = (pattern, flags)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and friends probe for these
            raise AttributeError(name)
        compiled = re.compile(*self._args)
        for attr in _BOUND:
            setattr(self, attr, getattr(compiled, attr))
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"lazy({self._args[0]!r})"


@overload
def lazy(pattern: str, flags: int = 0) -> re.Pattern[str]: ...
@overload
def lazy(pattern: bytes, flags: int = 0) -> re.Pattern[bytes]: ...
def lazy(pattern: str | bytes, flags: int = 0) -> re.Pattern[Any]:
    """A stand-in for ``re.compile(pattern, flags)``, compiled when first used."""
    return cast("re.Pattern[Any]", _LazyPattern(pattern, flags))
