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


@pytest.mark.parametrize(
    "late",
    [
        '{"step": %d, "a": 0.5, "late/key": 2.5}',  # a key the first rows lack
        '{"step": %d, "a": 7}',  # an int where the first rows had floats
        '{"step": %d, "a": 0.5, "s": "x:y"}',  # a colon inside a string
        '{"step": %d, "a": null}',  # a null value
    ],
)
def test_schema_of_the_first_rows_is_kept_only_when_it_read_everything(tmp_path, monkeypatch, late):
    """The schema is taken from the first rows when every key of the block was read with it
    (issue #16: full inference cost ~4x the read); anything else reads with every row's."""
    lines = [json.dumps({"step": s, "a": s / 3}) for s in range(1, 1001)]
    lines.insert(600, late % 601)
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    bulk = _frame(tmp_path)
    per_line = _frame(tmp_path, monkeypatch, bulk=False)
    assert bulk.columns == per_line.columns
    assert bulk.equals(per_line)
    if "late/key" in late:
        assert "late/key" in bulk.columns


def test_clean_blocks_take_the_first_rows_schema(monkeypatch):
    calls = []
    real = jsonl.pl.read_ndjson

    def spy(source, **kwargs):
        calls.append(kwargs.get("infer_schema_length", "default"))
        return real(source, **kwargs)

    monkeypatch.setattr(jsonl.pl, "read_ndjson", spy)
    block = "".join(json.dumps({"step": s, "a": s / 3, "b": 1.0}) + "\n" for s in range(1, 3000))
    assert bulk_metrics(block.encode()) is not None
    assert calls == ["default"]
