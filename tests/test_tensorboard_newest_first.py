"""A large TensorBoard event file on a screen: its end is read first from a frame boundary found
by the frames' checksums (the newest steps at once), then the part before it; the store ends up
as a read from the start has it."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import polars as pl
import pytest

import newesthelp
from newesthelp import assert_same, newest_first
from newesthelp import straight as straight_read
from rltop.core import follow
from rltop.core.formats import tensorboard as tb
from rltop.core.formats.tensorboard import TensorBoardParser, frame_record

event_pb2 = pytest.importorskip(
    "tensorboard.compat.proto.event_pb2",
    reason="needs the tensorboard package (rltop[tensorboard])",
)

NAME = "events.out.tfevents.1700000000.host"


@pytest.fixture
def small_reads(monkeypatch):
    newesthelp.small_reads(monkeypatch)


def _frames(steps: int, big_at: int | None = None) -> list[bytes]:
    """What PyTorch's SummaryWriter writes: a file_version event, then one event per scalar
    (some steps log a few values in one event, one logs a value twice); ``big_at``: an image
    event of ~300 KB there (not a scalar: stepped over)."""
    from tensorboard.compat.proto import summary_pb2

    rng = random.Random(steps)
    out = [frame_record(event_pb2.Event(file_version="brain.Event:2").SerializeToString())]
    for step in range(steps):
        for tag in ("train/loss", "train/reward", "lr"):
            event = event_pb2.Event(step=step, wall_time=1000.0 + step)
            event.summary.value.add(tag=tag, simple_value=rng.random())
            out.append(frame_record(event.SerializeToString()))
        if step % 50 == 7:
            event = event_pb2.Event(step=step)
            event.summary.value.add(tag="eval/acc", simple_value=step / steps)
            event.summary.value.add(tag="eval/len", simple_value=float(step))
            out.append(frame_record(event.SerializeToString()))
        if step % 333 == 5:  # logged again: the later value wins
            event = event_pb2.Event(step=step)
            event.summary.value.add(tag="train/reward", simple_value=-1.0)
            out.append(frame_record(event.SerializeToString()))
        if step == big_at:
            event = event_pb2.Event(step=step)
            image = summary_pb2.Summary.Image(
                height=1, width=1, encoded_image_string=b"\x89" * 300_000
            )
            event.summary.value.add(tag="sample", image=image)
            out.append(frame_record(event.SerializeToString()))
    return out


def test_resync_finds_the_next_frame_from_any_byte():
    frames = _frames(300)
    data = b"".join(frames)
    starts, pos = [], 0
    for frame in frames:
        starts.append(pos)
        pos += len(frame)
    parser = TensorBoardParser(NAME)
    for offset in range(1, len(data) - 200, 37):
        expected = next(s for s in starts if s >= offset)
        assert parser.resync(data[offset:], offset) == expected, offset


def test_resync_gives_up_inside_a_large_frame():
    frames = _frames(40, big_at=20)
    data = b"".join(frames)
    big = max(range(len(frames)), key=lambda i: len(frames[i]))
    begin = sum(len(f) for f in frames[:big])
    parser = TensorBoardParser(NAME)
    # inside the image's 300 KB: no boundary within the scan, the file is read from its start
    assert parser.resync(data[begin + 1000 :], begin + 1000) is None
    # a frame whose end is not in the bytes read: not taken
    assert parser.resync(data[begin : begin + 5000], begin) is None


def test_reading_from_a_resync_point_gives_exactly_the_rows_after_it():
    data = b"".join(_frames(600))
    whole = TensorBoardParser(NAME).feed(data, 1).metrics_frame
    for offset in (1, 5_000, len(data) // 2, len(data) - 3_000):
        newer = TensorBoardParser(NAME)
        begin = newer.resync(data[offset:], offset)
        newer.begin_at(begin)
        tail = newer.feed(data[begin:], 1)
        assert newer.consumed == len(data)
        older = TensorBoardParser(NAME)
        head = older.feed(data[:begin], 1)
        assert older.consumed == begin
        parts = [r.metrics_frame for r in (head, tail) if r.metrics_frame is not None]
        steps = pl.concat([f.select("step") for f in parts]).get_column("step")
        assert steps.unique().sort().to_list() == whole.get_column("step").to_list()


@pytest.mark.usefixtures("small_reads")
@pytest.mark.parametrize("big_at", [None, 1500])
def test_newest_first_then_older_gives_a_straight_read(tmp_path: Path, big_at: int | None):
    path = tmp_path / "runs" / NAME
    path.parent.mkdir()
    path.write_bytes(b"".join(_frames(4000, big_at=big_at)))
    size = path.stat().st_size
    assert size > 5 * follow.PREVIEW_BYTES
    straight = straight_read(tmp_path)
    newest, seen = newest_first(tmp_path, path)
    rows, last_step, read = seen[0]
    assert 0 < rows < 1500 and last_step == 3999 and read < size // 2
    assert len(seen) > 3 and all(step == 3999 for _rows, step, _read in seen)
    assert seen[-1][2] == size
    assert_same(straight, newest, rows=False)  # a step's events may be cut by a read


@pytest.mark.usefixtures("small_reads")
def test_the_fixture_newest_first(tmp_path: Path, fixtures: Path, monkeypatch):
    monkeypatch.setattr(follow, "PREVIEW_BYTES", 32 * 1024)
    monkeypatch.setattr(follow, "FIRST_READ", 16 * 1024)
    monkeypatch.setattr(follow, "RECORDS_CHUNK", 24 * 1024)
    source = fixtures / "tensorboard" / "events.out.tfevents.1585769947.cvp"
    (tmp_path / "tb").mkdir()
    path = tmp_path / "tb" / source.name
    shutil.copy(source, path)
    straight = straight_read(tmp_path)
    newest, seen = newest_first(tmp_path, path)
    assert seen[0][2] < path.stat().st_size  # the first read was not the whole file
    assert seen[0][1] == straight.store.snapshot().runs[0].last_step
    assert_same(straight, newest, rows=False)  # a step's events may be cut by a read


def test_the_scan_is_bounded(monkeypatch):
    monkeypatch.setattr(tb, "RESYNC_SCAN", 64)
    data = b"".join(_frames(30))
    assert TensorBoardParser(NAME).resync(b"\x00" * 200 + data, 0) is None
