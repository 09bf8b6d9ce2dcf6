"""Issue #12: every reader fuzzed with hypothesis (bounded: a few hundred examples each, well
under a minute in all). No exception escapes a reader; every valid line among garbage is kept;
steps are never invented."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rltop.core.formats.console import VerlConsoleParser
from rltop.core.formats.csv import CsvMetricsParser
from rltop.core.formats.hf_state import TrainerStateParser
from rltop.core.formats.jsonl import JsonlMetricsParser
from rltop.core.formats.registry import PARSERS
from rltop.core.formats.rollouts import RolloutJsonlParser

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# garbage a log can hold: random bytes, broken JSON, nesting, huge numbers, NaN, escapes
_JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_GARBAGE_LINE = st.one_of(
    st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" ")),
    _JSONISH.map(lambda v: json.dumps(v).encode()),
    st.integers(1, 3000).map(lambda n: b'{"step": 1, "x": ' + b"[" * n + b"]" * n + b"}"),
    st.sampled_from(
        [
            b'{"step": 9223372036854775808, "loss": 1}',
            b'{"step": 1e400, "loss": 1}',
            b'{"step": -1e300}',
            b'{"step": "12", "loss": NaN}',
            b"step:99999999999999999999999 - loss:1",
            b"\x1b]52;c;SE9TVElMRQ==\x07",
            b"\x00\x00\x00",
        ]
    ),
)


def _feed(parser, data: bytes):
    if parser.mode == "whole":
        return parser.parse_whole(data)
    if parser.mode == "records":
        return parser.feed(data, 0)
    return parser.feed(data if data.endswith(b"\n") else data + b"\n", 1)


@pytest.mark.parametrize("fmt", sorted(PARSERS))
@settings(FUZZ, max_examples=100)  # x every registered format
@given(lines=st.lists(_GARBAGE_LINE, max_size=8), raw=st.binary(max_size=300))
def test_no_exception_escapes_any_reader(fmt: str, lines: list[bytes], raw: bytes) -> None:
    cls = PARSERS[fmt]
    parser = cls(f"/nonexistent/fuzz/{fmt}.data")
    _feed(parser, b"\n".join(lines))
    _feed(cls(f"/nonexistent/fuzz/{fmt}.data"), raw)


_STEP = st.integers(min_value=0, max_value=2**62)
_VALUE = st.floats(allow_nan=False, allow_infinity=False, width=32)


def _mixed(draw_valid, garbage):
    """Valid lines (with their steps) shuffled among garbage lines."""
    return st.tuples(st.lists(draw_valid, min_size=1, max_size=8), st.lists(garbage, max_size=8))


def _interleave(valid: list, garbage: list[bytes]) -> list:
    out: list = []
    for i in range(max(len(valid), len(garbage))):
        if i < len(garbage):
            out.append(("garbage", garbage[i]))
        if i < len(valid):
            out.append(("valid", valid[i]))
    return out


def _steps_of(result) -> list[int]:
    if result.metrics_frame is not None:
        return result.metrics_frame.get_column("step").to_list()
    return [int(row["step"]) for row in result.metrics]


# garbage that is surely not a valid line of the format under test
_NOT_JSON_OBJECT = _GARBAGE_LINE.filter(lambda b: not b.lstrip().startswith(b"{"))


@FUZZ
@given(_mixed(st.tuples(_STEP, _VALUE), _NOT_JSON_OBJECT))
def test_jsonl_keeps_every_valid_line_and_invents_no_step(case) -> None:
    valid, garbage = case
    lines = [
        json.dumps({"step": s, "loss": v}).encode() if kind == "valid" else payload
        for kind, payload in _interleave(valid, garbage)
        for s, v in ([payload] if kind == "valid" else [(0, 0.0)])
    ]
    result = JsonlMetricsParser("m.jsonl").feed(b"\n".join(lines) + b"\n", 1)
    assert _steps_of(result) == [s for s, _ in valid]


@FUZZ
@given(_mixed(st.tuples(_STEP, _VALUE), st.text(max_size=40).filter(lambda t: "\n" not in t)))
def test_csv_keeps_every_valid_row_and_invents_no_step(case) -> None:
    valid, garbage = case
    body = []
    for kind, payload in _interleave(valid, garbage):
        if kind == "valid":
            body.append(f"{payload[0]},{payload[1]!r}")
        else:
            body.append(payload.replace("\r", " ") + ",x,y")  # three cells: never a valid row
    data = ("step,loss\n" + "\n".join(body) + "\n").encode()
    result = CsvMetricsParser("m.csv").feed(data, 1)
    assert _steps_of(result) == [s for s, _ in valid]


@FUZZ
@given(_mixed(st.tuples(_STEP, _VALUE), _NOT_JSON_OBJECT))
def test_console_keeps_every_step_line_and_invents_no_step(case) -> None:
    valid, garbage = case
    lines = [
        f"step:{payload[0]} - loss:{payload[1]!r}".encode()
        if kind == "valid"
        else payload.replace(b"step:", b"stp:").replace(b"\r", b" ")
        for kind, payload in _interleave(valid, garbage)
    ]
    result = VerlConsoleParser("train.log").feed(b"\n".join(lines) + b"\n", 1)
    assert _steps_of(result) == [s for s, _ in valid]


@FUZZ
@given(_mixed(st.tuples(_STEP, _VALUE), _JSONISH))
def test_trainer_state_keeps_every_valid_entry(case) -> None:
    valid, garbage = case
    history = [
        {"step": p[0], "loss": p[1]} if kind == "valid" else {"junk": p}
        for kind, p in _interleave(valid, garbage)
    ]
    data = json.dumps({"log_history": history}).encode()
    result = TrainerStateParser("trainer_state.json").parse_whole(data)
    assert _steps_of(result) == [s for s, _ in valid]


@FUZZ
@given(_mixed(st.tuples(_STEP, st.text(max_size=30)), _NOT_JSON_OBJECT))
def test_rollouts_keep_every_valid_line_and_invent_no_step(case) -> None:
    valid, garbage = case
    lines = [
        json.dumps({"step": p[0], "prompt": "p", "completion": p[1], "reward": 1.0}).encode()
        if kind == "valid"
        else p
        for kind, p in _interleave(valid, garbage)
    ]
    result = RolloutJsonlParser("rollouts.jsonl").feed(b"\n".join(lines) + b"\n", 1)
    frame = result.rollout_frame
    steps = frame.get_column("step").to_list() if frame is not None else []
    assert steps == [s for s, _ in valid]
    assert all(isinstance(s, int) and not math.isnan(s) for s in steps)
