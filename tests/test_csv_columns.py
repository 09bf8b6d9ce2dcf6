"""A large CSV block is read by columns (polars) as the line-by-line path reads it: the same
frame, column order, text values, skipped lines and reasons; anything the column path does not
take exactly (quotes, texts, ragged or blank lines, odd steps) goes line by line."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from columnhelp import assert_same_both_ways, read
from rltop.core.follow import Follower
from rltop.core.formats import csv as csv_format
from rltop.core.formats.csv import CsvMetricsParser

CELLS = [
    "",
    "",
    "0.5",
    "-1e-5",
    "3",
    " 2.5 ",
    "nan",
    "inf",
    "True",
    "false",
    "1_000",
    "٣",
    "none",
    "ok",
    "np.float64(0.25)",
    "\x1c",
    " ",
    ".",
    "e5",
    "1e",
    "0x10",
    "1.2.3",
    "+-1",
    "1.5e+",
    "NaN",
    "-Infinity",
    "1E5",
    "5.",
]
STEPS = ["{s}", "{s}", "{s}", " {s} ", "+{s}"]
ODD_STEPS = ["{s}.0", "x", "", "99999999999999999999", "1e3", "١"]


def _read(path: Path, columns: bool) -> Follower:
    return read(path, csv_format, columns)


def _same(path: Path) -> None:
    assert_same_both_ways(path, csv_format)


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10**9),
    rows=st.integers(1, 60),
    odd=st.sampled_from(
        [
            "",
            "",
            "numbers",
            "numbers",
            "quote",
            "crlf",
            "blank",
            "ragged",
            "nul",
            "cr",
            "dup",
            "text",
            "step",
        ]
    ),
)
def test_the_column_path_reads_as_the_line_path(tmp_path_factory, seed, rows, odd):
    rng = random.Random(seed)
    header = ["step", "train/loss", "eval/acc", "lr", "epoch"]
    if odd == "dup":
        header.append("lr")
    lines = [",".join(header)]
    for i in range(rows):
        step = rng.choice(STEPS).format(s=i * rng.choice([1, 1, 1, -1]))
        cells = [rng.choice(CELLS if odd == "text" else CELLS[:12]) for _ in header[1:]]
        if odd == "numbers":  # only plain numbers and empty cells: polars parses them as numbers
            cells = [
                rng.choice(["", "0.5", "-1e-5", "3", "NaN", "-Infinity", "1E5", "5."])
                for _ in header[1:]
            ]
        lines.append(",".join([step, *cells]))
    if odd == "quote":
        lines[rng.randrange(1, len(lines))] += ',"x'
    elif odd == "blank":
        lines.insert(rng.randrange(1, len(lines) + 1), "   ")
    elif odd == "ragged":
        lines[rng.randrange(1, len(lines))] += ",7"
    elif odd == "nul":
        lines[rng.randrange(0, len(lines))] += "\x00"
    elif odd == "step":
        at = rng.randrange(1, len(lines))
        cells = lines[at].split(",")
        lines[at] = ",".join([rng.choice(ODD_STEPS).format(s=at), *cells[1:]])
    elif odd == "cr":
        lines[rng.randrange(1, len(lines))] += "\r1"
    sep = "\r\n" if odd == "crlf" else "\n"
    path = tmp_path_factory.mktemp("c") / "metrics.csv"
    path.write_bytes((sep.join(lines) + sep).encode())
    _same(path)


def test_a_clean_block_is_read_by_columns(tmp_path: Path, monkeypatch):
    """Numbers, empty cells, CR LF endings and booleans: no line goes through the line path."""
    rng = random.Random(3)
    lines = ["epoch,step,train_loss,val_loss,flag"]
    for step in range(2000):
        val = f"{rng.random():.5f}" if step % 100 == 99 else ""  # Lightning's sparse columns
        lines.append(f"{step // 500},{step},{rng.random():.6f},{val},{rng.choice(['True', ''])}")
    path = tmp_path / "metrics.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    called = []
    monkeypatch.setattr(CsvMetricsParser, "_columns", _spy(CsvMetricsParser._columns, called))
    _same(path)
    assert called and all(result is not None for result in called)
    (run,) = _read(path, True).store.snapshot().runs
    assert run.metrics.columns == ["step", "epoch", "train_loss", "flag", "val_loss"]
    assert run.metrics.height == 2000


def _spy(method, called: list):
    def spy(self, block):
        got = method(self, block)
        called.append(got)
        return got

    return spy


@pytest.mark.parametrize("cut", [10, 500, 2000])
def test_blocks_after_the_first_share_its_header(monkeypatch, cut: int):
    """The header is read once; later blocks (a file followed as it grows) use it."""
    lines = ["step,reward"] + [f"{s},{s / 10}" for s in range(300)]
    data = ("\n".join(lines) + "\n").encode()
    monkeypatch.setattr(csv_format, "COLUMNS_FROM", 0)
    parser = CsvMetricsParser("metrics.csv")
    split = data.index(b"\n", cut) + 1
    steps = []
    for result in (parser.feed(data[:split], 1), parser.feed(data[split:], 0)):
        if result.metrics_frame is not None:
            steps += result.metrics_frame.get_column("step").to_list()
        assert not result.metrics and not result.skips
    assert steps == list(range(300))


@pytest.mark.parametrize(
    "rows",
    [["1,2,3", ""], ["1", "2,3,4"], ["1,2,3", "4"]],
    ids=["extra+blank", "short+extra", "extra+short"],
)
def test_lines_whose_cells_add_up_but_differ_go_line_by_line(tmp_path: Path, rows):
    """As many commas in all as the header asks, spread otherwise: never read by columns."""
    lines = ["step,reward"] + [f"{s},{s / 7}" for s in range(5000)]
    lines[2000:2000] = rows
    path = tmp_path / "metrics.csv"
    path.write_text("\n".join(lines) + "\n")
    _same(path)
    (source,) = _read(path, True).store.snapshot().sources
    assert source.skipped >= 1
