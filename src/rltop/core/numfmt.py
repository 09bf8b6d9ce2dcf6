"""Number formatting, trends and sparklines shared by the dashboard and the headless commands."""

from __future__ import annotations

import math
from collections.abc import Sequence

SPARK_CHARS = "▁▂▃▄▅▆▇█"

#: roles and name fragments where a falling value is good news
LOWER_IS_BETTER_ROLES = {
    "train_loss",
    "valid_loss",
    "kl",
    "grader_errors",
    "parse_errors",
    "clip_ratio",
    "zero_variance",
}
LOWER_IS_BETTER_WORDS = (
    "loss",
    "error",
    "clip",
    "kl",
    "zero_std",
    "zero_variance",
    "perplexity",
    "ppl",
)


def fmt_value(value: float | str | None) -> str:
    """Compact human number: 0.5123, 1,234, 1.2e-06, nan, inf."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    a = abs(value)
    if a == 0:
        return "0"
    if a >= 1e6 or a < 1e-3:
        return f"{value:.3g}" if a >= 1e6 else f"{value:.2e}"
    if a >= 1000:
        return f"{value:,.0f}"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.4g}"


def lower_is_better(name: str, role: str | None = None) -> bool:
    if role in LOWER_IS_BETTER_ROLES:
        return True
    lowered = name.lower()
    return any(word in lowered for word in LOWER_IS_BETTER_WORDS)


def trend(values: Sequence[float]) -> float | None:
    """Change of the recent level against the level just before it (a tenth of the points each)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if len(finite) < 4:
        return None
    window = max(2, len(finite) // 10)
    recent = finite[-window:]
    before = finite[-2 * window : -window]
    return sum(recent) / len(recent) - sum(before) / len(before)


def sparkline(values: Sequence[float | None], width: int) -> str:
    """Unicode sparkline of the last values, resampled to ``width`` cells (× marks NaN/inf)."""
    if width <= 0 or not values:
        return ""
    values = list(values)
    if len(values) > width:
        buckets: list[float | None] = []
        size = len(values) / width
        for i in range(width):
            part = values[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]
            finite = [v for v in part if v is not None and math.isfinite(v)]
            if len(finite) < len(part):
                buckets.append(math.nan)
            else:
                buckets.append(sum(finite) / len(finite) if finite else None)
        values = buckets
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return "×" * len(values)
    lo, hi = min(finite), max(finite)
    span = hi - lo
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif not math.isfinite(v):
            out.append("×")
        elif span == 0:
            out.append(SPARK_CHARS[3])
        else:
            out.append(SPARK_CHARS[min(7, int((v - lo) / span * 7.999))])
    return "".join(out)


def shorten_name(name: str, width: int) -> str:
    """``name`` in at most ``width`` characters, cut in the middle: the first and last segments stay.

    ``test/env/all/reward/total`` -> ``test/…/reward/total``: the first segment says where a metric
    comes from (train or test), the last what it is. Names without room for both are cut in the
    middle by characters.
    """
    if len(name) <= width:
        return name
    if width <= 1:
        return "…"[:width]
    parts = name.split("/")
    if len(parts) >= 3:
        head, tail = parts[0], [parts[-1]]
        for part in reversed(parts[1:-1]):
            candidate = "/".join([head, "…", part, *tail])
            if len(candidate) > width:
                break
            tail.insert(0, part)
        short = "/".join([head, "…", *tail])
        if len(short) <= width:
            return short
    if len(parts) >= 2 and len(parts[-1]) + 3 <= width:
        # the last segment whole, the start of the first: "respon…/clip_ratio"
        return name[: width - len(parts[-1]) - 2] + "…/" + parts[-1]
    keep = width - 1
    front = max(1, keep * 2 // 5)
    return name[:front] + "…" + name[len(name) - (keep - front) :]


def parse_size(text: str) -> int:
    """``2G``, ``512M``, ``1.5GB``, ``800000000`` -> bytes."""
    raw = text.strip().upper().removesuffix("B").removesuffix("I")
    units = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    factor = 1
    if raw and raw[-1] in units:
        factor = units[raw[-1]]
        raw = raw[:-1]
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (try 2G or 512M)") from None
    if value <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    return int(value * factor)
