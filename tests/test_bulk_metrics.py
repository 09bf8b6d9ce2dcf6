"""Large metric blocks go through polars' NDJSON reader: the store must not see a difference."""

from __future__ import annotations

import json
import random

import pytest

from rltop.core.follow import Follower
from rltop.core.formats import jsonl
from rltop.core.formats.jsonl import JsonlMetricsParser, bulk_metrics


def _lines(verl: bool, n: int = 3000) -> list[str]:
    rng = random.Random(5)
    out = []
    for step in range(1, n + 1):
        data: dict = {"critic/score/mean": rng.random(), "actor/lr": 1e-6}
        if step % 3 == 0:
            data["val-core/acc"] = rng.randint(0, 5)  # ints mixed with floats below
        if step % 7 == 0:
            data["val-core/acc"] = rng.random()
        if step > 1500:
            data["late/key"] = rng.random()  # first appears deep in the block
        data["nested"] = {"a": rng.random(), "b": None if step % 2 else 1.5}
        data["always_null"] = None
        data["flag"] = step % 2 == 0
        row = {"step": step, "data": data} if verl else {"step": step, **data}
        out.append(json.dumps(row))
    return out


def _frame(folder, monkeypatch=None, bulk: bool = True):
    if not bulk:
        monkeypatch.setattr(jsonl, "bulk_metrics", lambda block: None)
    follower = Follower([str(folder)])
    follower.read_all()
    return follower.store.snapshot().runs[0].metrics


@pytest.mark.parametrize("verl", [True, False])
def test_bulk_equals_per_line(tmp_path, monkeypatch, verl):
    (tmp_path / "metrics.jsonl").write_text("\n".join(_lines(verl)) + "\n")
    assert bulk_metrics((tmp_path / "metrics.jsonl").read_bytes()) is not None
    bulk = _frame(tmp_path)
    per_line = _frame(tmp_path, monkeypatch, bulk=False)
    assert bulk.columns == per_line.columns
    assert bulk.equals(per_line)
    assert "late/key" in bulk.columns and "always_null" not in bulk.columns


@pytest.mark.parametrize(
    "extra",
    [
        '{"step": 9999, "x": NaN}',  # NaN: only the per-line reader takes it
        '{"step": 9999, "x": "text"}',  # a text metric
        '{"step": 9999, "x": [1, 2]}',  # a list
        "not json at all",
        '{"x": 1.0}',  # no step
    ],
)
def test_special_lines_fall_back_to_per_line(extra):
    block = ("\n".join([*_lines(False, 2000), extra]) + "\n").encode()
    assert bulk_metrics(block) is None
    result = JsonlMetricsParser("m.jsonl").feed(block, 1)
    assert result.metrics_frame is None and len(result.metrics) >= 2000


def test_chunks_and_once_agree(tmp_path):
    """Small appends (per-line) and one large read (bulk) give the same frame."""
    lines = _lines(True)
    once = tmp_path / "once"
    once.mkdir()
    (once / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    grown = tmp_path / "grown"
    grown.mkdir()
    follower = Follower([str(grown)])
    path = grown / "metrics.jsonl"
    reads = 0
    for start in range(0, len(lines), 700):
        with open(path, "a") as fh:
            fh.write("\n".join(lines[start : start + 700]) + "\n")
        follower.scan()
        reads += follower.poll_once()
    assert reads == 5  # every chunk read on its own (per-line path)
    grown_frame = follower.store.snapshot().runs[0].metrics
    assert grown_frame.columns == _frame(once).columns
    assert grown_frame.equals(_frame(once))


def _big_block(late: str | None, verl: bool) -> bytes:
    rng = random.Random(9)
    lines = []
    for step in range(1, 6001):
        data = {f"m{i}": rng.random() for i in range(40)}
        if late and step == 5800:
            data[late] = 0.25  # once, far past the sample the schema is taken from
        if step % 50 == 0:
            data["sometimes_null"] = None
        if late and step == 5900:
            data["sometimes_null"] = 0.5  # null in every line of the sample, a number here
        row = {"step": step, "data": data} if verl else {"step": step, **data}
        lines.append(json.dumps(row))
    block = ("\n".join(lines) + "\n").encode()
    assert len(block) > 4 * jsonl.SAMPLE_BYTES
    return block


@pytest.mark.parametrize("verl", [True, False])
def test_schema_from_the_first_lines_then_checked_on_the_bytes(monkeypatch, verl):
    """A block is read with the schema of its first lines (not inferred from every line); a key
    that shows up only later is noticed on the bytes and the block is read again, nothing lost."""
    import polars as pl

    full_inference: list[int] = []
    real = pl.read_ndjson

    def spy(source, *args, **kwargs):
        if kwargs.get("infer_schema_length", 100) is None:
            full_inference.append(len(source))  # the bytes themselves (read in place)
        return real(source, *args, **kwargs)

    real_scan = pl.scan_ndjson

    def scan_spy(source, *args, **kwargs):  # the sample's schema alone
        if kwargs.get("infer_schema_length", 100) is None:
            full_inference.append(len(source))
        return real_scan(source, *args, **kwargs)

    monkeypatch.setattr(jsonl.pl, "read_ndjson", spy)
    monkeypatch.setattr(jsonl.pl, "scan_ndjson", scan_spy)
    plain = _big_block(None, verl)
    frame = bulk_metrics(plain)
    assert frame is not None and frame.height == 6000
    assert max(full_inference) < jsonl.SAMPLE_BYTES * 2  # only the sample was inferred
    full_inference.clear()
    late = _big_block("late/only_once", verl)
    frame = bulk_metrics(late)
    assert max(full_inference) == len(late)  # read again, inferring from every line
    assert frame.filter(pl.col("step") == 5800).get_column("late/only_once").item() == 0.25
    assert frame.filter(pl.col("step") == 5900).get_column("sometimes_null").item() == 0.5
    monkeypatch.setattr(jsonl.pl, "read_ndjson", real)
    per_line = JsonlMetricsParser("m.jsonl")._per_line(late, 1)
    assert sum("late/only_once" in row for row in per_line.metrics) == 1
