"""CSV results files: OpenAI fine-tuning ``step_metrics.csv`` and any CSV with a step column."""

from __future__ import annotations

import csv
import io
import math
from typing import Any, ClassVar

from rltop.core.formats.base import (
    STEP_KEYS,
    Parser,
    Sniffed,
    StepOutOfRange,
    checked_step,
    head_line,
    parse_number_text,
)
from rltop.core.lazyre import lazy
from rltop.core.model import ParseResult, Skip, clip_sample

OPENAI_COLUMNS = {
    "train_loss",
    "train_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "train_mean_reward",
    "full_valid_mean_reward",
}


class CsvMetricsParser(Parser):
    format: ClassVar[str] = "csv-metrics"
    kind: ClassVar[str] = "metrics"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.header: list[str] | None = None

    def reset(self) -> None:
        super().reset()
        self.header = None

    def feed(self, block: bytes, first_line: int) -> ParseResult:
        if len(block) >= COLUMNS_FROM:
            fast = self._columns(block)
            if fast is not None:
                return fast
        result = ParseResult()
        text = block.decode("utf-8", errors="replace")
        lineno = first_line
        for line in text.split("\n"):
            here = lineno
            lineno += 1
            if not line.strip():
                continue
            try:
                cells = next(csv.reader(io.StringIO(line)))
            except csv.Error as exc:  # e.g. a cell past the csv module's field size limit
                result.skips.append(
                    Skip(f"unreadable CSV line ({exc})"[:100], here, clip_sample(line))
                )
                continue
            if self.header is None:
                self.header = [c.strip() for c in cells]
                continue
            if len(cells) != len(self.header):
                result.skips.append(
                    Skip(
                        f"{len(cells)} cells, header has {len(self.header)}",
                        here,
                        clip_sample(line),
                    )
                )
                continue
            raw = dict(zip(self.header, cells, strict=True))
            step_key = next((k for k in STEP_KEYS if k in raw), None)
            reason = "no numeric step cell"
            try:
                step = _step_cell(raw[step_key]) if step_key else None
            except StepOutOfRange as exc:
                step, reason = None, str(exc)
            except ValueError:
                step = None
            if step is None:
                result.skips.append(Skip(reason, here, clip_sample(line)))
                continue
            row: dict = {"step": step}
            for key, cell in raw.items():
                if key == step_key or cell.strip() == "":
                    continue  # empty cell: no validation at this step
                row[key] = parse_number_text(cell)
            result.metrics.append(row)
        return result

    def _columns(self, block: bytes) -> ParseResult | None:
        """A large block read by columns (polars), as the line-by-line path reads it, or None
        for that path: lines with quotes, NUL bytes, stray carriage returns, blank lines or a
        count of cells other than the header's, a step that is not an integer, a cell that is
        neither a number nor empty (a text), a header with an empty or repeated name."""
        body = block
        if self.header is None:
            cut = block.find(b"\n")
            line = block[:cut]
            if cut < 0 or not line.strip() or b'"' in line or b"\x00" in line:
                return None
            self.header = [c.strip() for c in line.decode("utf-8", "replace").split(",")]
            body = block[cut + 1 :]
            fast = self._columns(body) if body else ParseResult()
            if fast is None:
                self.header = None  # the line-by-line path reads the header again
            return fast
        header = self.header
        step_key = next((k for k in STEP_KEYS if k in header), None)
        if (
            step_key is None
            or len(header) < 2
            or "" in header
            or len(set(header)) != len(header)
            or b'"' in body
            or b"\x00" in body
        ):
            return None
        if not body or body.isspace():
            return None
        import polars as pl

        ended = body.endswith(b"\n")  # no copy of the block to take its last newline off
        if b"\r" in body:
            import numpy as np

            data = np.frombuffer(body, dtype=np.uint8)
            returns = np.flatnonzero(data == 13)
            if returns[-1] + 1 == len(body) or (data[returns + 1] != 10).any():
                return None  # a CR that does not end a line (CR LF: Python's csv writer)
        # every line has the header's cells: as many commas in all as that takes, and none with
        # more (polars refuses those); a blank line has none, so another would need more
        lines = body.count(b"\n") + (0 if ended else 1)
        if body.count(b",") != lines * (len(header) - 1):
            return None
        leaves = _numbers(pl, body, header, step_key)
        if leaves is None or leaves[0].len() != lines or leaves[0].null_count():
            return None
        step, leaves = leaves[0], [s for s in leaves[1:] if s.null_count() < s.len()]
        columns = [step.alias("step")]
        if leaves:
            firsts = pl.DataFrame(leaves).select(pl.all().is_not_null().arg_max()).row(0)
            order = sorted(range(len(leaves)), key=firsts.__getitem__)  # stable: header order
            columns += [leaves[i] for i in order]
        return ParseResult(metrics_frame=pl.DataFrame(columns))


def _numbers(pl: Any, body: bytes, header: list[str], step_key: str) -> list[Any] | None:
    """The step (Int64) and the other columns (Float64) of CSV lines by polars, as the line path
    reads them; None when a cell is a text (the line path keeps its latest value) or polars
    cannot read the lines. Numbers are parsed as numbers straight away; only when a cell is not
    one (``True``, `` 2.5 ``, ``1_000``) are the cells read as text first."""
    others = [name for name in header if name != step_key]
    schema = {name: pl.Int64 if name == step_key else pl.Float64 for name in header}
    try:
        raw = pl.read_csv(body, has_header=False, schema=schema, quote_char=None)
        return [raw.get_column(step_key), *(raw.get_column(name) for name in others)]
    except Exception:  # a cell that is no plain number: read as text below
        pass
    try:
        raw = pl.read_csv(
            body,
            has_header=False,
            new_columns=header,
            infer_schema=False,
            quote_char=None,
            encoding="utf8-lossy",
        )
    except Exception:  # polars' errors vary: the line-by-line path says what is wrong
        return None
    step = raw.get_column(step_key).str.strip_chars().cast(pl.Int64, strict=False)
    texts = pl.DataFrame([raw.get_column(name) for name in others])
    # all columns at once (polars spreads them over the cores)
    numbers = texts.select(pl.all().str.strip_chars().cast(pl.Float64, strict=False))
    unread = (numbers.null_count().row(0), texts.null_count().row(0))
    out = [step]
    for i, values in enumerate(numbers.get_columns()):
        if unread[0][i] > unread[1][i]:  # True, 1_000, np.float64(2), ...: as the line path
            text = texts.to_series(i)
            where = (values.is_null() & text.is_not_null()).arg_true()
            parsed = [parse_number_text(t) for t in text.gather(where).to_list()]
            if any(isinstance(v, str) for v in parsed):
                return None  # a text value: the line-by-line path keeps the latest
            values = values.scatter(where, pl.Series(parsed, dtype=pl.Float64))
        out.append(values)
    return out


#: blocks this large are read by columns (``CsvMetricsParser._columns``), smaller ones line by line
COLUMNS_FROM = 256 * 1024

#: the legacy ``/v1/fine-tunes`` API (before August 2023); ``validation_*`` when a validation
#: file was given
OPENAI_LEGACY_COLUMNS = {
    "elapsed_tokens",
    "elapsed_examples",
    "training_loss",
    "training_sequence_accuracy",
    "training_token_accuracy",
}


class OpenAIResultsParser(CsvMetricsParser):
    format: ClassVar[str] = "openai-results-csv"
    whole_run = True


class OpenAILegacyResultsParser(CsvMetricsParser):
    """``results.csv`` of a legacy ``/v1/fine-tunes`` job: ``step, elapsed_tokens,
    elapsed_examples, training_loss, training_sequence_accuracy, training_token_accuracy``."""

    format: ClassVar[str] = "openai-legacy-results-csv"
    whole_run = True


def _step_cell(cell: str) -> int | None:
    """The step in a cell (``12``, ``12.0``); :class:`StepOutOfRange` past 64 bits."""
    try:
        return checked_step(int(cell.strip()))
    except StepOutOfRange:
        raise
    except ValueError:
        pass
    number = float(cell)
    return checked_step(int(number)) if math.isfinite(number) else None


PARSERS = (CsvMetricsParser, OpenAIResultsParser, OpenAILegacyResultsParser)

_CSV_STEP = lazy(r"(^|,)\s*(step|global_step|iteration)\s*(,|$)")


def sniff(path: str, head: bytes) -> Sniffed | None:
    """Every ``.csv``: read when its header has a step column."""
    if not path.lower().endswith(".csv"):
        return None
    line = head_line(head) or head.strip()
    if not line:
        return Sniffed(None, "empty so far")
    header = line.decode("utf-8", errors="replace")
    if not _CSV_STEP.search(header):
        return Sniffed(None, "CSV without a step column")
    columns = {c.strip() for c in header.split(",")}
    if len(columns & OPENAI_LEGACY_COLUMNS) >= 3:
        return Sniffed(OpenAILegacyResultsParser, "OpenAI legacy fine-tunes results CSV")
    if columns & OPENAI_COLUMNS:
        return Sniffed(OpenAIResultsParser, "OpenAI fine-tuning results CSV")
    return Sniffed(CsvMetricsParser, "CSV metrics with a step column")
