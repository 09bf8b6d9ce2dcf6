"""JSON-lines metric streams: generic ``{"step": N, ...}``, verl FileLogger, tinker, prime-rl, ART."""

from __future__ import annotations

from typing import Any, ClassVar

from rltop.core.formats.base import (
    Parser,
    find_step,
    flatten,
    iter_lines,
    json_skip,
    loads_json,
    metric_value,
)
from rltop.core.model import ParseResult, Skip, clip_sample


class JsonlMetricsParser(Parser):
    """One JSON object per line with a step and numbers; nested objects flatten with ``/``.

    verl's FileLogger nests the metrics under ``data`` (``{"step": N, "data": {...}}``): the
    ``data/`` prefix is dropped so names match what verl shows on its console and in W&B.
    """

    format: ClassVar[str] = "jsonl-metrics"
    kind: ClassVar[str] = "metrics"

    def feed(self, block: bytes, first_line: int) -> ParseResult:
        result = ParseResult()
        for lineno, raw in iter_lines(block, first_line):
            try:
                obj = loads_json(raw)
            except ValueError as exc:
                result.skips.append(json_skip(lineno, raw, exc))
                continue
            if not isinstance(obj, dict):
                result.skips.append(Skip("not a JSON object", lineno, clip_sample(raw)))
                continue
            row = metric_row(obj)
            if row is None:
                result.skips.append(Skip("no step field", lineno, clip_sample(raw)))
                continue
            result.metrics.append(row)
        return result


class VerlFileLoggerParser(JsonlMetricsParser):
    format: ClassVar[str] = "verl-filelogger"


class TinkerMetricsParser(JsonlMetricsParser):
    format: ClassVar[str] = "tinker-metrics"


def metric_row(obj: dict[str, Any]) -> dict[str, Any] | None:
    """A flat metric row from one logged object, or None when it has no step."""
    data = obj.get("data")
    if isinstance(data, dict) and "step" in obj:
        flat = flatten(data)
        flat.setdefault("step", obj["step"])
    else:
        flat = flatten(obj)
    step = find_step(flat)
    if step is None:
        return None
    row: dict[str, Any] = {"step": step}
    for key, value in flat.items():
        if key == "step":
            continue
        norm = metric_value(value)
        if norm is not None or value is None:
            row[key] = norm
    return row
