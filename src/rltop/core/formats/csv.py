"""CSV results files: OpenAI fine-tuning ``step_metrics.csv`` and any CSV with a step column."""

from __future__ import annotations

import csv
import io
import math
from typing import ClassVar

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
        body = body[:-2] if body.endswith(b"\r\n") else body[:-1] if body.endswith(b"\n") else body
        if not body:
            return None
        import numpy as np
        import polars as pl

        data = np.frombuffer(body, dtype=np.uint8)
        returns = np.flatnonzero(data == 13)
        if len(returns) and (
            returns[-1] == len(body) - 1 or (data[returns + 1] != 10).any()
        ):  # a CR that does not end a line (CR LF: Python's csv writer; polars reads those)
            return None
        ends = np.append(np.flatnonzero(data == 10), len(body))
        commas = np.flatnonzero(data == 44)
        cells = np.diff(np.searchsorted(commas, ends), prepend=0) + 1
        if (cells != len(header)).any():
            return None  # blank lines among them (a blank line has one cell)
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
        if raw.height != len(ends):
            return None
        step = raw.get_column(step_key).str.strip_chars().cast(pl.Int64, strict=False)
        if step.null_count():
            return None
        leaves: list[pl.Series] = []
        for name in header:
            if name == step_key:
                continue
            text = raw.get_column(name)
            values = text.str.strip_chars().cast(pl.Float64, strict=False)
            odd = (values.is_null() & (text != "")).fill_null(False)
            if odd.any():  # True, 1_000, np.float64(2), ...: as the line-by-line path reads them
                where = odd.arg_true()
                parsed = [parse_number_text(t) for t in text.gather(where).to_list()]
                if any(isinstance(v, str) for v in parsed):
                    return None  # a text value: the line-by-line path keeps the latest
                values = values.scatter(where, pl.Series(parsed, dtype=pl.Float64))
            if values.null_count() < values.len():  # a column once a row has a number for it
                leaves.append(values.alias(name))
        columns = [step.alias("step")]
        if leaves:
            firsts = pl.DataFrame(leaves).select(pl.all().is_not_null().arg_max()).row(0)
            order = sorted(range(len(leaves)), key=firsts.__getitem__)  # stable: header order
            columns += [leaves[i] for i in order]
        return ParseResult(metrics_frame=pl.DataFrame(columns))


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
