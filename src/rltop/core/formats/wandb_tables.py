"""W&B Tables in a run folder, as rollouts: ``files/media/table/**/<key>_<step>_<hash>.table.json``.

``wandb.log({key: wandb.Table(...)})`` writes the table as ``{"columns": [...], "data": [[...]]}``
(plus ``_type``, ``ncols``, ``nrows``), one file per log, named after the key and the W&B step it
was logged at. Three shapes are read:

- verl's ``val/generations`` (``trainer.log_val_generations``): wide, one row per validation step,
  ``step, input_1, output_1, score_1, input_2, ...``; the table is re-logged whole each time, so
  each file repeats the rows of the one before it. Wide rows are unpivoted: one rollout per
  ``input_i``/``output_i``/``score_i``.
- TRL's ``completions`` table (``log_completions``): ``step, prompt, completion, <one column per
  reward function>, advantage``; the reward is the sum of the reward functions' columns.
- any table with prompt/response-like text and a reward/score-like column (a hand-logged
  ``rollout_examples``: ``step, reward, prompt, response``).

Rows a file shares with the previous file of the same key (a table re-logged whole) are left out,
so each rollout counts once. The step is the row's ``step`` column, else the W&B step in the file
name. Tables are JSON documents, not lines: their rows stay in memory.
"""

from __future__ import annotations

import os
import re
from typing import Any, ClassVar

from rltop.core.formats.base import Parser, Sniffed, loads_json
from rltop.core.formats.rollouts import (
    COMPLETION_KEYS,
    PROMPT_KEYS,
    REWARD_KEYS,
    normalize_rollout,
    rows_to_frame,
    split_from_path,
)
from rltop.core.lazyre import lazy
from rltop.core.model import ParseResult, Skip

TABLE_SUFFIX = ".table.json"
_NAME_RE = lazy(r"^(?P<key>.+)_(?P<step>\d+)_(?P<hash>[0-9a-f]+)\.table\.json$")
_WIDE_RE = lazy(r"^(input|output|score)_(\d+)$")
#: numeric TRL columns that are not reward functions
_NOT_REWARD = {"step", "advantage", "advantages", "tokens", "length", "global_step"}
_VALID_KEY = lazy(r"(?:^|[/_\-])(?:val|valid|validation|eval|test)(?:$|[/_\-])")


def table_name(path: str) -> tuple[str, int] | None:
    """``(key, W&B step)`` of a table file named ``<key>_<step>_<hash>.table.json``."""
    m = _NAME_RE.match(os.path.basename(path))
    return (m.group("key"), int(m.group("step"))) if m else None


def previous_table(path: str) -> str | None:
    """The file of the same key logged just before this one (None: this is the first)."""
    named = table_name(path)
    if named is None:
        return None
    key, step = named
    folder = os.path.dirname(path)
    best: tuple[int, str] | None = None
    try:
        names = os.listdir(folder)
    except OSError:
        return None
    for name in names:
        other = table_name(name)
        if other and other[0] == key and other[1] < step and (best is None or other[1] > best[0]):
            best = (other[1], os.path.join(folder, name))
    return best[1] if best else None


def _is_wide(columns: list[str]) -> bool:
    return any(_WIDE_RE.match(c) for c in columns) and not any(
        c in columns for c in PROMPT_KEYS + COMPLETION_KEYS if c not in ("input", "output")
    )


def _unpivot(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One wide verl row -> one record per ``input_i``/``output_i``/``score_i``."""
    parts: dict[int, dict[str, Any]] = {}
    rest: dict[str, Any] = {}
    for column, value in record.items():
        m = _WIDE_RE.match(column)
        if m:
            parts.setdefault(int(m.group(2)), {})[m.group(1)] = value
        else:
            rest[column] = value
    out = []
    for index in sorted(parts):
        part = parts[index]
        if part.get("input") is None and part.get("output") is None:
            continue  # verl pads missing samples with empty cells
        out.append({**rest, **part, "sample": index})
    return out


def _with_reward(record: dict[str, Any]) -> dict[str, Any]:
    """A TRL-style row without a reward column: the sum of its reward functions' columns."""
    if any(k in record for k in REWARD_KEYS):
        return record
    funcs = [
        v
        for k, v in record.items()
        if k not in _NOT_REWARD
        and isinstance(v, (int, float))
        and not isinstance(v, bool)
        and v == v  # NaN: a function that did not score this row
    ]
    return {**record, "reward": float(sum(funcs))} if funcs else record


def has_text_and_reward(columns: list[str]) -> bool:
    """A table of rollouts: prompt/response-like text and, unless wide, a reward-like or numeric
    column (checked per row for TRL's reward functions)."""
    cols = set(columns)
    if _is_wide(columns):
        return True
    return bool(cols & set(PROMPT_KEYS + COMPLETION_KEYS))


class WandbTableParser(Parser):
    """One ``*.table.json`` of a W&B run folder: its rows as rollouts."""

    format: ClassVar[str] = "wandb-table"
    kind: ClassVar[str] = "rollouts"
    mode = "whole"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        named = table_name(path)
        self.key = named[0] if named else os.path.basename(path).removesuffix(TABLE_SUFFIX)
        self.logged_step = named[1] if named else None
        valid = _VALID_KEY.search(self.key.lower()) is not None
        self.split = "valid" if valid else split_from_path(path)

    def parse_whole(self, data: bytes) -> ParseResult:
        result = ParseResult()
        if not data.strip():
            return result
        table = _table(data, result)
        if table is None:
            return result
        columns, rows = table
        seen = self._rows_before()
        out: list[dict[str, Any]] = []
        repeated = 0
        for cells in rows:
            if not isinstance(cells, list) or len(cells) != len(columns):
                result.skips.append(Skip(f"table row with {len(cells)} cells, not {len(columns)}"))
                continue
            key = _row_key(cells)
            if key in seen:
                repeated += 1
                continue
            record = dict(zip(columns, cells, strict=True))
            records = _unpivot(record) if _is_wide(columns) else [record]
            for rec in records:
                row = normalize_rollout(_with_reward(rec), self.logged_step, self.split)
                row["table"] = self.key
                out.append(row)
        if repeated:
            result.ignore(
                "table row logged again (already read from the table's earlier file)", repeated
            )
        if out:
            result.rollout_frame = rows_to_frame(out)
        return result

    def _rows_before(self) -> set[str]:
        """The rows of the previous file of this key (a table re-logged whole repeats them)."""
        previous = previous_table(self.path)
        if previous is None:
            return set()
        try:
            with open(previous, "rb") as fh:
                table = _table(fh.read(), ParseResult())
        except OSError:
            return set()
        return {_row_key(cells) for cells in table[1]} if table else set()


def _table(data: bytes, result: ParseResult) -> tuple[list[str], list[Any]] | None:
    try:
        doc = loads_json(data)
    except ValueError as exc:
        result.skips.append(Skip(f"incomplete or malformed JSON ({exc})"[:100]))
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("columns"), list):
        result.skips.append(Skip("not a W&B table (no columns)"))
        return None
    rows = doc.get("data")
    return [str(c) for c in doc["columns"]], rows if isinstance(rows, list) else []


def _row_key(cells: Any) -> str:
    return repr(cells)


PARSERS = (WandbTableParser,)


def sniff(path: str, head: bytes) -> Sniffed | None:
    """``*.table.json`` under a run folder's ``media/table/``."""
    if not path.lower().endswith(TABLE_SUFFIX):
        return None
    if "/media/table/" not in path.replace("\\", "/"):
        return None
    if not head.strip():
        return Sniffed(None, "empty so far")
    try:
        doc = loads_json(head)
    except ValueError:
        doc = None  # a large table: its head is not the whole document; decide by the columns
    if isinstance(doc, dict) and isinstance(doc.get("columns"), list):
        columns = [str(c) for c in doc["columns"]]
    else:
        m = re.search(rb'"columns"\s*:\s*(\[[^\]]*\])', head)
        try:
            columns = [str(c) for c in loads_json(m.group(1))] if m else []
        except ValueError:
            columns = []
    if not columns:
        return Sniffed(None, "W&B table without columns")
    if has_text_and_reward(columns):
        return Sniffed(WandbTableParser, "W&B table of rollouts (prompt/response text)")
    shown = ", ".join(columns[:6]) + (", ..." if len(columns) > 6 else "")
    return Sniffed(None, f"W&B table without prompt/response columns ({shown})")
