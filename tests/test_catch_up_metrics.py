"""One-pass catch-up of a large metrics JSONL file (polars reads the file itself): the same
frame, counts and line numbers as the block-by-block and per-line reads, and the careful path
whenever a file needs it."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from rltop.core import follow
from rltop.core.follow import Follower
from rltop.core.formats import jsonl
from rltop.core.formats.jsonl import JsonlMetricsParser, catch_up_metrics


@pytest.fixture
def small_threshold(monkeypatch):
    """Files of a few hundred kB take the one-pass path (8 MB in real use); the schema comes
    from ~8 kB of lines and the bytes are counted in odd-sized windows, so keys past the sample
    and colons, nulls and newlines on window edges are all exercised."""
    monkeypatch.setattr(JsonlMetricsParser, "CATCH_UP_MIN_BYTES", 0)
    monkeypatch.setattr(JsonlMetricsParser, "BULK_MIN_BYTES", 64 * 1024)
    monkeypatch.setattr(jsonl, "SAMPLE_BYTES", 8 * 1024)
    monkeypatch.setattr(jsonl, "SCAN_BYTES", 4099)


def lines(count: int, *, verl: bool, spaced: bool, seed: int = 3) -> list[bytes]:
    rng = random.Random(seed)
    sep = (", ", ": ") if spaced else (",", ":")
    out = []
    for step in range(1, count + 1):
        data: dict = {"critic/score/mean": rng.random(), "actor/lr": 1e-6}
        if step % 3 == 0:
            data["val-core/acc"] = rng.randint(0, 5)  # ints mixed with floats below
        if step % 7 == 0:
            data["val-core/acc"] = rng.random()
        if step % 5 == 0:
            data["sometimes_null"] = None  # a literal null
        if step % 11 == 0:
            data["sometimes_null"] = rng.random()
        if step > count - 50:
            data["late/key"] = rng.random()  # first appears far past the sample
        data["nested"] = {"a": rng.random(), "b": None if step % 2 else 1.5}
        data["always_null"] = None
        data["flag"] = step % 2 == 0
        data["note:name"] = 1.0  # a colon inside a key
        data["^val.*$"] = 2.0  # a name polars' ``pl.col`` would take for a pattern
        row = {"step": step, "data": data} if verl else {"step": step, **data}
        out.append(json.dumps(row, separators=sep).encode())
    return out


def write(path, items: list[bytes], end: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(items) + b"\n" + end)


def read(path, monkeypatch, how: str):
    """(store snapshot of the run, its source info, how many blocks ``feed`` got)."""
    blocks: list[int] = []
    real = JsonlMetricsParser.feed

    def counted(self, block, first_line):
        blocks.append(len(block))
        return real(self, block, first_line)

    with monkeypatch.context() as m:
        m.setattr(JsonlMetricsParser, "feed", counted)
        if how != "one pass":
            m.setattr(JsonlMetricsParser, "catch_up", lambda self: None)
        if how == "per line":
            m.setattr(jsonl, "bulk_metrics", lambda block: None)
        follower = Follower([str(path.parent)])
        follower.read_all()
    run = follower.store.snapshot().runs[0]
    return follower, run, next(iter(follower.store.sources.values())), blocks


@pytest.mark.parametrize("verl", [True, False])
@pytest.mark.parametrize("spaced", [True, False])
def test_one_pass_gives_the_per_line_frame(tmp_path, small_threshold, monkeypatch, verl, spaced):
    path = tmp_path / "run" / "metrics.jsonl"
    write(path, lines(3000, verl=verl, spaced=spaced))
    _f, fast, fast_info, fast_blocks = read(path, monkeypatch, "one pass")
    _f, slow, slow_info, _ = read(path, monkeypatch, "per line")
    assert fast_blocks == []  # polars read the file: no block went through Python
    assert fast.metrics.columns == slow.metrics.columns
    assert_frame_equal(fast.metrics, slow.metrics)
    assert "late/key" in fast.metrics.columns and "always_null" not in fast.metrics.columns
    assert (fast_info.lines_read, fast_info.bytes_read, fast_info.skipped) == (
        slow_info.lines_read,
        slow_info.bytes_read,
        0,
    )


def test_a_key_past_the_sample_is_read_with_full_inference(tmp_path, small_threshold, monkeypatch):
    """The schema comes from the first lines; a key seen only once, far later, is noticed on the
    bytes (colons) and the file is read once more inferring from every line: nothing lost."""
    items = lines(3000, verl=True, spaced=False)
    obj = json.loads(items[2500])
    obj["data"]["rare/once"] = 0.25
    items[2500] = json.dumps(obj).encode()
    path = tmp_path / "run" / "metrics.jsonl"
    write(path, items)
    inferred: list[object] = []
    real = jsonl.pl.read_ndjson

    def spy(source, *args, **kwargs):
        if kwargs.get("infer_schema_length", 100) is None:
            inferred.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(jsonl.pl, "read_ndjson", spy)
    caught = catch_up_metrics(str(path), 0)
    assert caught is not None and caught.lines == 3000
    assert any(hasattr(s, "fileno") for s in inferred)  # the file, read again
    frame = caught.result.metrics_frame
    assert frame.filter(pl.col("step") == 2501).get_column("rare/once").item() == 0.25
    monkeypatch.setattr(jsonl.pl, "read_ndjson", real)
    _f, slow, _i, _b = read(path, monkeypatch, "per line")
    assert_frame_equal(frame, slow.metrics)


DAMAGE = {
    "nan": lambda b: b.replace(b'"actor/lr":1e-06', b'"actor/lr":NaN'),
    "infinity": lambda b: b.replace(b'"actor/lr":1e-06', b'"actor/lr":-Infinity'),
    "text metric": lambda b: b.replace(b'"actor/lr":1e-06', b'"actor/lr":"high"'),
    "list": lambda b: b.replace(b'"actor/lr":1e-06', b'"actor/lr":[1,2]'),
    "type change": lambda b: b.replace(b'"flag":true', b'"flag":{"x":1}'),
    "malformed": lambda b: b[: len(b) // 2],
    "not an object": lambda b: b"[1, 2, 3]",
    "no step": lambda b: b.replace(b'"step":', b'"stop":'),
    "huge step": lambda b: b.replace(b'{"step":', b'{"step":9223372036854775808,"x":', 1),
    "float step": lambda b: b.replace(b'{"step":', b'{"step":1.5,"x":', 1),
    "deeply nested": lambda b: b[:-1] + b',"deep":' + b"[" * 3000 + b"]" * 3000 + b"}",
    "blank line": lambda b: b + b"\n",
    "white space line": lambda b: b + b"\n   ",
    "white space first": lambda b: b"  " + b,
    "duplicate key": lambda b: b[:-1] + b',"actor/lr":0.5}',
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("where", [1, 1500])
def test_damaged_files_read_as_the_per_line_path_reads_them(
    tmp_path, small_threshold, monkeypatch, damage, where
):
    items = lines(2000, verl=False, spaced=False)
    items[where] = DAMAGE[damage](items[where])
    path = tmp_path / "run" / "metrics.jsonl"
    write(path, items)
    _f, fast, fast_info, _ = read(path, monkeypatch, "one pass")
    _f, slow, slow_info, _ = read(path, monkeypatch, "per line")
    assert_frame_equal(fast.metrics, slow.metrics)
    assert fast_info.lines_read == slow_info.lines_read
    assert fast_info.skip_reasons == slow_info.skip_reasons
    assert [s.line for s in fast_info.recent_skips] == [s.line for s in slow_info.recent_skips]
    if damage in ("huge step", "deeply nested", "malformed", "not an object", "no step"):
        assert fast_info.skipped == 1


def test_a_line_being_written_waits_for_its_newline(tmp_path, small_threshold, monkeypatch):
    path = tmp_path / "run" / "metrics.jsonl"
    write(path, lines(2000, verl=True, spaced=True), end=b'{"step": 2001, "data": {"a')
    assert catch_up_metrics(str(path), 0) is None
    follower, run, _info, _ = read(path, monkeypatch, "one pass")
    assert run.metrics.height == 2000
    with open(path, "ab") as fh:
        fh.write(b'": 1.0}}\n')
    follower.poll_once()
    assert follower.store.snapshot().runs[0].metrics.height == 2001


def test_lines_appended_after_the_one_pass_read_are_followed(
    tmp_path, small_threshold, monkeypatch
):
    path = tmp_path / "run" / "metrics.jsonl"
    write(path, lines(2000, verl=False, spaced=False))
    follower, run, info, blocks = read(path, monkeypatch, "one pass")
    assert blocks == [] and run.metrics.height == 2000
    with open(path, "ab") as fh:
        fh.write(b'{"step": 2001, "new/metric": 2.5}\n{oops\n{"step": 2002, "actor/lr": 1.0}\n')
    follower.poll_once()
    run = follower.store.snapshot().runs[0]
    assert run.metrics.get_column("step").to_list()[-2:] == [2001, 2002]
    assert run.metrics.get_column("new/metric").to_list()[-2] == 2.5
    info = next(iter(follower.store.sources.values()))
    assert info.lines_read == 2003
    assert [s.line for s in info.recent_skips] == [2002]  # numbered on from the one-pass read


def test_a_file_name_is_never_a_glob_pattern(tmp_path, small_threshold):
    """Polars reads a path as a glob pattern: the file is handed to it open, not by name."""
    odd = tmp_path / "m[1].jsonl"
    write(odd, [json.dumps({"step": s, "x": 1.0}).encode() for s in range(1, 400)])
    write(tmp_path / "m1.jsonl", [json.dumps({"step": s, "y": 2.0}).encode() for s in range(9)])
    caught = catch_up_metrics(str(odd), 0)
    assert caught is not None
    assert caught.result.metrics_frame.columns == ["step", "x"]
    assert caught.result.metrics_frame.height == 399


def test_a_screen_reads_the_first_steps_first(tmp_path, small_threshold, monkeypatch):
    """``previews`` (a screen): the small first read is kept, the one-pass read is headless."""
    path = tmp_path / "run" / "metrics.jsonl"
    write(path, lines(2000, verl=False, spaced=False))
    monkeypatch.setattr(follow, "FIRST_READ", 4096)
    calls: list[int] = []
    real = JsonlMetricsParser.catch_up
    monkeypatch.setattr(JsonlMetricsParser, "catch_up", lambda self: calls.append(1) or real(self))
    screen = Follower([str(path.parent)], previews=True)
    screen.read_all()
    assert calls == []
    assert screen.store.snapshot().runs[0].metrics.height == 2000


@pytest.mark.parametrize("window", [7, 64, 4099])
def test_colons_and_literal_nulls_counted_on_window_edges(monkeypatch, window, tmp_path):
    rng = random.Random(window)
    pieces = [b'"a":null', b'"b": null', b'"c":1', b'"d": 2', b"x:n", b"::", b"\n", b": n"]
    block = b"".join(rng.choice(pieces) for _ in range(3000)) + b"\n"
    monkeypatch.setattr(jsonl, "SCAN_BYTES", window)
    monkeypatch.setattr(jsonl, "COUNT_WITH_NUMPY", 0 if window < 4000 else 1 << 30)
    colons = block.count(b":")
    nulls = sum(1 for i, c in enumerate(block) if c == 58 and block[i + 1 : i + 2] == b"n")
    nulls += sum(1 for i, c in enumerate(block) if c == 58 and block[i + 1 : i + 3] == b" n")
    got_colons, got_nulls = jsonl._colons(block)
    assert (got_colons, got_nulls() if callable(got_nulls) else got_nulls) == (colons, nulls)
    arr = np.frombuffer(block, dtype=np.uint8)
    assert jsonl._count_colons(arr, len(arr)) == (colons, nulls)
    # the whole-file count beside polars, window by window
    path = tmp_path / "block.jsonl"
    path.write_bytes(block)
    fd = os.open(path, os.O_RDONLY)
    try:
        scanned = jsonl._scan_file(fd, len(block))
    finally:
        os.close(fd)
    assert scanned is not None and scanned[:3] == (block.count(b"\n"), colons, nulls)


@pytest.mark.parametrize("blank", [False, True])
def test_lines_written_while_polars_reads_are_left_to_the_tail(
    tmp_path, small_threshold, monkeypatch, blank
):
    """Polars may see lines appended after the size was taken: those rows are dropped (the tail
    reads them next), which holds only when every line made one row (no blank lines)."""
    items = lines(2000, verl=False, spaced=False)
    if blank:
        items.insert(700, b"")
    path = tmp_path / "run" / "metrics.jsonl"
    write(path, items)
    real = jsonl._read_file

    def grow_first(fh, schema):
        with open(path, "ab") as out:
            out.write(b'{"step": 5000, "late": 1.0}\n')
        monkeypatch.setattr(jsonl, "_read_file", real)
        return real(fh, schema)

    monkeypatch.setattr(jsonl, "_read_file", grow_first)
    caught = catch_up_metrics(str(path), 0)
    if blank:
        assert caught is None  # read block by block instead
        return
    assert caught is not None and caught.lines == 2000
    assert caught.result.metrics_frame.get_column("step").max() == 2000
    assert "late" not in caught.result.metrics_frame.columns


@pytest.mark.parametrize("at", [3, 1000, 1999])
def test_a_line_over_the_limit_is_skipped_as_the_tail_skips_it(tmp_path, small_threshold, at):
    items = lines(2000, verl=False, spaced=False)
    wide = {"step": at + 1, **{f"k{i}": 1.0 for i in range(2000)}}  # ~20 kB on one line
    items[at] = json.dumps(wide).encode()
    path = tmp_path / "run" / "metrics.jsonl"
    write(path, items)
    follower = Follower([str(path.parent)], max_line=12_000)
    follower.read_all()
    info = next(iter(follower.store.sources.values()))
    assert info.skipped == 1 and info.recent_skips[0].line == at + 1
    assert "over the 12,000-byte limit" in info.recent_skips[0].reason
    assert "k5" not in follower.store.snapshot().runs[0].metrics.columns
    caught = catch_up_metrics(str(path), 0, max_line=len(items[at]))
    assert caught is not None and "k5" in caught.result.metrics_frame.columns


def test_integers_first_and_fractions_later_read_in_one_pass(
    tmp_path, small_threshold, monkeypatch
):
    """A metric logged as whole numbers in the first lines (the schema's sample) and with
    fractions later is read as floats from the start: no failed read, no block-by-block read."""
    items = [
        json.dumps({"step": s, "count": s if s < 1500 else s + 0.5, "loss": 1 / s}).encode()
        for s in range(1, 3001)
    ]
    path = tmp_path / "run" / "metrics.jsonl"
    write(path, items)
    _f, fast, _i, blocks = read(path, monkeypatch, "one pass")
    _f, slow, _i, _b = read(path, monkeypatch, "per line")
    assert blocks == []
    assert_frame_equal(fast.metrics, slow.metrics)


def test_newlines_of_a_large_read_counted_in_windows(tmp_path):
    """Reads of 4 MB and more have their newlines counted by numpy, window by window."""
    from rltop.core.tail import COUNT_WITH_NUMPY, FileTail, _count_newlines

    rng = random.Random(1)
    data = b"".join(b"x" * rng.randint(0, 300) + b"\n" for _ in range(40_000)) + b"tail"
    assert len(data) > COUNT_WITH_NUMPY
    for end in (len(data), len(data) - 4, COUNT_WITH_NUMPY + 1, 1000):
        assert _count_newlines(data, end) == data.count(b"\n", 0, end)
    (tmp_path / "m.log").write_bytes(data)
    got = FileTail(str(tmp_path / "m.log"), chunk=64 * 1024 * 1024).read_lines()
    assert got.lines == 40_000 and got.block.endswith(b"\n")


@pytest.mark.parametrize("spaced", [True, False])
def test_nulls_only_past_the_first_lines_are_told_apart_later(
    tmp_path, small_threshold, monkeypatch, spaced
):
    """First lines without a null: the bytes' literal nulls are counted only once the frame
    turns out to have nulls (a key missing from some later lines, a literal null)."""
    sep = (", ", ": ") if spaced else (",", ":")
    items = []
    for s in range(1, 3001):
        row: dict = {"step": s, "loss": 1 / s, "eval": 0.5}
        if s > 2000 and s % 3 == 0:
            del row["eval"]  # missing
        if s > 2500 and s % 7 == 0:
            row["loss"] = None  # a literal null
        items.append(json.dumps(row, separators=sep).encode())
    path = tmp_path / "run" / "metrics.jsonl"
    write(path, items)
    scans: list[bool] = []
    real = jsonl._scan_file

    def spy(fd, end, nulls=True):
        scans.append(nulls)
        return real(fd, end, nulls)

    monkeypatch.setattr(jsonl, "_scan_file", spy)
    _f, fast, _i, blocks = read(path, monkeypatch, "one pass")
    assert blocks == [] and scans == [False, True]  # colons beside polars, nulls after
    monkeypatch.setattr(jsonl, "_scan_file", real)
    _f, slow, _i, _b = read(path, monkeypatch, "per line")
    assert_frame_equal(fast.metrics, slow.metrics)


@pytest.mark.parametrize("window", [5, 61, 4099])
def test_newlines_found_one_by_one_or_counted_give_the_same_scan(monkeypatch, window, tmp_path):
    """Windows after one with few lines have their newlines found one by one: the counts, the
    longest line and the colons are what counting every byte gives."""
    rng = random.Random(window)
    lines = [
        b'{"step": %d, "a:b": 1}' % i + b"x" * rng.choice([0, 3, 40, 9000]) for i in range(400)
    ]
    block = b"\n".join(lines) + b"\n"
    path = tmp_path / "m.jsonl"
    path.write_bytes(block)
    monkeypatch.setattr(jsonl, "SCAN_BYTES", window)
    fd = os.open(path, os.O_RDONLY)
    try:
        got = {}
        for sparse in (0, 1 << 30):  # never / always one by one
            monkeypatch.setattr(jsonl, "_SPARSE", sparse)
            got[sparse] = jsonl._scan_file(fd, len(block))
    finally:
        os.close(fd)
    assert got[0] == got[1 << 30]
    assert got[0][:2] == (block.count(b"\n"), block.count(b":"))
    assert got[0][3] >= max(len(line) for line in lines if len(line) > window)


def test_a_file_whose_mapping_would_not_fit_the_budget_is_read_block_by_block(
    tmp_path, small_threshold, monkeypatch
):
    """As the rollout reader: polars maps the whole file, so a file larger than the budget's
    share for a mapping (``Parser.map_limit``, set by the follower) goes block by block."""
    from rltop.core import coldtext

    path = tmp_path / "run" / "metrics.jsonl"
    write(path, lines(400, verl=False, spaced=False))
    size = path.stat().st_size
    parser = JsonlMetricsParser(str(path))
    parser.map_limit = size
    assert parser.catch_up() is not None
    parser.map_limit = size - 1
    assert parser.catch_up() is None
    _f, whole, _s, _b = read(path, monkeypatch, "one pass")
    monkeypatch.setattr(coldtext.BUDGET, "max_memory", int((size - 1) / coldtext.MAP_SHARE))
    _f, run, _s, blocks = read(path, monkeypatch, "one pass")
    assert blocks  # read block by block
    assert_frame_equal(run.metrics, whole.metrics)
