"""A column by its exact name.

``pl.col`` (and a bare string given to ``select``) reads a name that starts with ``^`` and ends
with ``$`` as a regular expression and ``*`` as every column, so a metric a trainer named
``^.*$`` would select all of them. Names come from logs: every expression built from one goes
through ``named``.
"""

from __future__ import annotations

import polars as pl


def is_pattern(name: str) -> bool:
    """Whether polars would read ``name`` as more than one column."""
    return name == "*" or (len(name) >= 2 and name.startswith("^") and name.endswith("$"))


def named(name: str) -> pl.Expr:
    """The column named exactly ``name``."""
    if is_pattern(name):
        import polars.selectors as cs

        return cs.by_name(name).as_expr()
    return pl.col(name)
