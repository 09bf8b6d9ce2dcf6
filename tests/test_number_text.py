"""``parse_number_text`` (console lines, CSV cells): a number as ``float`` reads it, else the
literals a trainer prints (``True``, ``None``, ``np.float64(0.5)``), else the text itself."""

from __future__ import annotations

import math
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from rltop.core.formats.base import parse_number_text

_WRAP = re.compile(r"^(?:np\.)?(?:float|int|uint|bool)\d*\((.*)\)$|^tensor\((.*?)(?:,.*)?\)$")


def _reference(text: str) -> float | str | None:
    """The rules spelt out one after the other, with no shortcut."""
    text = text.strip().rstrip(",")
    if not text:
        return None
    m = _WRAP.match(text)
    if m:
        text = (m.group(1) or m.group(2) or "").strip()
    if text.lower() in ("true", "false"):
        return 1.0 if text.lower() == "true" else 0.0
    if text.lower() in ("none", "null"):
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


PIECES = [" ", "0.5", "-1e-5", "nan", "inf", "1_000", "True", "none", ",", "np.float64(", ")",
          "tensor(", "٣", "\u2003", "x", "e", ".", "+"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=5).map("".join) | st.text(max_size=12))
def test_it_reads_as_the_rules_say(text: str) -> None:
    assert _same(parse_number_text(text), _reference(text)), text


def test_examples() -> None:
    assert parse_number_text(" 0.25 ") == 0.25
    assert parse_number_text("0.25,") == 0.25
    assert parse_number_text("np.float64(2.5)") == 2.5
    assert parse_number_text("tensor(0.5, device='cuda:0')") == 0.5
    assert parse_number_text("False") == 0.0 and parse_number_text("null") is None
    assert parse_number_text("ok") == "ok"
