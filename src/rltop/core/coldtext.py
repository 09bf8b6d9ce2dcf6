"""Rollout text held on disk: read back by byte offset when a row is looked at or searched.

Rollout parsers that read line files record, per row, where its line is (``_path``, ``_offset``,
``_len``). Under a memory budget the store drops the text of the oldest steps (the text columns
become null, the numbers stay); ``load_text`` and ``fill_text`` read those lines again and
normalise them the same way the parser did. Like toolong, nothing is read until it is needed,
and files are only ever opened for reading.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

import polars as pl

from rltop.core.formats.base import loads_json

#: columns whose content can be dropped from memory and read back from disk
TEXT_COLUMNS = ("prompt", "completion", "messages", "extra")
LOCATION = ("_path", "_offset", "_len")


def is_cold(row: dict[str, Any]) -> bool:
    """The row's text is not in memory but can be read back."""
    return (
        row.get("_path") is not None
        and row.get("prompt") is None
        and row.get("completion") is None
        and row.get("messages") is None
    )


def read_raw(path: str, offset: int, length: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(length)


def parse_raw(raw: bytes, path: str, step: Any = None, split: str | None = None) -> dict[str, Any]:
    """A logged line (or episode document) -> the normalised rollout row, as its parser makes it."""
    from rltop.core.formats.episodes import episode_row, is_episode
    from rltop.core.formats.rollouts import normalize_rollout, split_from_path

    obj = loads_json(raw)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    split = split or split_from_path(path)
    if is_episode(obj):
        return episode_row(obj, step, split)
    return normalize_rollout(obj, step, split)


def load_text(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its text columns read back from disk when they were dropped (else as is).

    If the file changed so the bytes no longer parse, the text columns say so instead of raising.
    """
    if not is_cold(row):
        return row
    out = dict(row)
    try:
        raw = read_raw(row["_path"], int(row["_offset"]), int(row["_len"]))
        full = parse_raw(raw, row["_path"], row.get("step"), row.get("split"))
    except (OSError, ValueError) as exc:
        out["completion"] = f"(text not available: {os.path.basename(row['_path'])} changed: {exc})"
        return out
    for key in TEXT_COLUMNS:
        out[key] = full.get(key)
    for key, value in full.items():
        if key not in out or out[key] is None:
            out[key] = value
    return out


def fill_text(part: pl.DataFrame) -> pl.DataFrame:
    """``part`` with the text of its cold rows read back (one open per file, in offset order)."""
    if "_path" not in part.columns or part.is_empty():
        return part
    checks = [pl.col(c).is_null() for c in ("prompt", "completion") if c in part.columns]
    if not checks:
        return part
    mask = part.select(pl.all_horizontal(checks) & pl.col("_path").is_not_null()).to_series()
    if not mask.any():
        return part
    cold = part.with_row_index("_i").filter(mask)
    wanted: dict[str, list[tuple[int, int, int, Any, Any]]] = defaultdict(list)
    has_step, has_split = "step" in cold.columns, "split" in cold.columns
    for row in cold.iter_rows(named=True):
        wanted[row["_path"]].append(
            (
                row["_i"],
                int(row["_offset"]),
                int(row["_len"]),
                row["step"] if has_step else None,
                row["split"] if has_split else None,
            )
        )
    filled: dict[str, dict[int, Any]] = {c: {} for c in TEXT_COLUMNS if c in part.columns}
    for path, items in wanted.items():
        items.sort(key=lambda t: t[1])
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError:
            continue
        with fh:
            for i, offset, length, step, split in items:
                try:
                    fh.seek(offset)
                    full = parse_raw(fh.read(length), path, step, split)
                except (OSError, ValueError):
                    continue
                for column, values in filled.items():
                    values[i] = full.get(column)
    updates = []
    for column, values in filled.items():
        if not values:
            continue
        series = pl.Series(
            column, [values.get(i) for i in range(part.height)], dtype=pl.String, strict=False
        )
        new = pl.lit(series)
        updates.append(pl.when(new.is_not_null()).then(new).otherwise(pl.col(column)).alias(column))
    return part.with_columns(updates) if updates else part
