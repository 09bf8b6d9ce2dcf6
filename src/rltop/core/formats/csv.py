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
