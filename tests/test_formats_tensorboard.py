"""TensorBoard event files: the real TF2 fixture, files from TensorBoard's own writers
(tensor scalars as TF2 writes them, simple_value as PyTorch's SummaryWriter writes them),
live following that reads only new complete frames, and the message without the extra."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from rltop.core.follow import Follower
from rltop.core.formats import sniff
from rltop.core.formats import tensorboard as tb
from rltop.core.formats.tensorboard import (
    TensorBoardParser,
    crc32c,
    frame_record,
    masked_crc32c,
)

from conftest import read_snapshot

event_pb2 = pytest.importorskip(
    "tensorboard.compat.proto.event_pb2",
    reason="needs the tensorboard package (rltop[tensorboard])",
)

TAGS = ("batch_loss", "batch_acc", "epoch_loss", "epoch_acc", "epoch_val_loss", "epoch_val_acc")


def _fixture(fixtures: Path) -> Path:
    return fixtures / "tensorboard" / "events.out.tfevents.1585769947.cvp"


def _rows(result) -> list[dict]:
    """Metric rows of a parse (rows, or the bulk frame's rows without nulls), by step."""
    rows = list(result.metrics)
    if result.metrics_frame is not None:
        for row in result.metrics_frame.iter_rows(named=True):
            rows.append({k: v for k, v in row.items() if v is not None})
    return sorted(rows, key=lambda r: r["step"])


def test_crc32c_known_values():
    # RFC 3720 test vector and the empty string
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as tb_masked

    for data in (b"", b"a", b"\x00" * 8, b"hello tensorboard" * 10):
        assert masked_crc32c(data) == tb_masked(data)


def test_fixture_six_tags_by_seventeen_steps(fixtures: Path):
    snap = read_snapshot(_fixture(fixtures))
    (run,) = snap.runs
    assert sorted(run.metric_names) == sorted(TAGS)
    assert run.metrics.height == 17
    assert run.metrics.get_column("step").to_list() == list(range(17))
    for tag in TAGS:
        steps, _values = run.series(tag)
        assert steps == list(range(17)), tag
    # values as TensorBoard's own loader reads them (Keras wrote them as simple_value, float32)
    _, loss = run.series("batch_loss")
    assert loss[0] == pytest.approx(3.9135773181915283, rel=1e-7)
    assert loss[1] == pytest.approx(2.95634672511369e-05, rel=1e-6)
    assert loss[16] == pytest.approx(2.932505594799295e-05, rel=1e-6)
    assert run.series("epoch_loss")[1][0] == pytest.approx(3.9135773181915283, rel=1e-7)
    assert run.series("batch_acc")[1][0] == 0.0
    assert run.series("batch_acc")[1][1:] == [1.0] * 16
    assert run.series("epoch_val_acc")[1] == [1.0] * 17
    (source,) = snap.sources
    assert source.format == "tensorboard"
    assert source.rows == 17 and source.skipped == 0


def test_fixture_matches_tensorboard_loader(fixtures: Path):
    """Every scalar TensorBoard's own loader finds, with the same value."""
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
    from tensorboard.util import tensor_util

    expected = {}
    for event in LegacyEventFileLoader(str(_fixture(fixtures))).Load():
        for value in event.summary.value:
            if value.tag in TAGS:
                number = (
                    value.simple_value
                    if value.WhichOneof("value") == "simple_value"
                    else tensor_util.make_ndarray(value.tensor)
                )
                expected[(event.step, value.tag)] = float(number)
    assert len(expected) == 6 * 17
    parser = TensorBoardParser(str(_fixture(fixtures)))
    result = parser.feed(_fixture(fixtures).read_bytes(), 1)
    got = {(row["step"], k): v for row in _rows(result) for k, v in row.items() if k != "step"}
    assert got == expected
    assert parser.consumed == _fixture(fixtures).stat().st_size


def test_fixture_fed_in_small_pieces_gives_the_same_rows(fixtures: Path):
    data = _fixture(fixtures).read_bytes()
    whole = _rows(TensorBoardParser("x").feed(data, 1))
    parser = TensorBoardParser("x")
    rows = []
    piece = 997
    while parser.consumed < len(data):
        before = parser.consumed
        got = parser.feed(data[parser.consumed : parser.consumed + piece], 1)
        rows.extend(_rows(got))
        if parser.consumed == before:
            piece *= 2  # a frame larger than the piece: offer more, as the tailer does
    merged: dict[int, dict] = {}
    for row in rows:
        merged.setdefault(row["step"], {}).update(row)
    assert [merged[s] for s in sorted(merged)] == whole


def test_tf2_writer_tensor_scalars(tmp_path: Path):
    from tensorboard.summary import DirectoryOutput, Writer

    writer = Writer(DirectoryOutput(str(tmp_path)))
    for step in range(5):
        writer.add_scalar("train/reward", 0.1 * step, step)
        writer.add_scalar("train/loss", 2.0 - step * 0.25, step)
    writer.close()
    snap = read_snapshot(tmp_path)
    (run,) = snap.runs
    assert run.series("train/reward") == ([0, 1, 2, 3, 4], pytest.approx([0, 0.1, 0.2, 0.3, 0.4]))
    assert run.series("train/loss")[1] == pytest.approx([2.0, 1.75, 1.5, 1.25, 1.0])


def _simple_event(step: int, **values: float) -> event_pb2.Event:
    event = event_pb2.Event(step=step, wall_time=1000.0 + step)
    for tag, value in values.items():
        event.summary.value.add(tag=tag, simple_value=value)
    return event


def test_pytorch_style_simple_value(tmp_path: Path):
    """PyTorch's SummaryWriter (TRL, verl, OpenRLHF) writes simple_value through EventFileWriter."""
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(tmp_path / "runs" / "Nov22_host"))
    for step in (10, 20, 30):
        writer.add_event(
            _simple_event(step, **{"train/reward": step / 100, "train/kl": step / 1000})
        )
    writer.close()
    snap = read_snapshot(tmp_path)
    (run,) = snap.runs
    assert run.series("train/reward") == ([10, 20, 30], pytest.approx([0.1, 0.2, 0.3]))
    assert run.series("train/kl")[1] == pytest.approx([0.01, 0.02, 0.03])
    # the file_version event and nothing else is ignored
    (source,) = snap.sources
    assert source.ignored == 1 and source.skipped == 0


def test_images_and_histograms_are_ignored_not_metrics(tmp_path: Path):
    from tensorboard.compat.proto import summary_pb2

    event = event_pb2.Event(step=1)
    event.summary.value.add(tag="loss", simple_value=0.5)
    event.summary.value.add(tag="pic", image=summary_pb2.Summary.Image(height=1, width=1))
    event.summary.value.add(tag="hist", histo=summary_pb2.HistogramProto(min=0, max=1))
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(frame_record(event.SerializeToString()))
    result = TensorBoardParser(str(path)).feed(path.read_bytes(), 1)
    assert _rows(result) == [{"step": 1, "loss": 0.5}]
    assert result.ignored == 2


def test_live_follow_reads_only_new_complete_frames(tmp_path: Path):
    path = tmp_path / "logs" / "events.out.tfevents.1700000000.host"
    path.parent.mkdir()
    frames = [frame_record(_simple_event(s, reward=s * 0.5).SerializeToString()) for s in range(6)]
    path.write_bytes(b"".join(frames[:2]))
    follower = Follower([str(tmp_path)], force_polling=True)
    follower.read_all()
    followed = follower.followed[str(path)]
    assert followed.parser.consumed == len(frames[0]) + len(frames[1])
    assert follower.store.snapshot().runs[0].series("reward")[0] == [0, 1]

    # half a frame: nothing new is read and nothing is consumed
    with path.open("ab") as fh:
        fh.write(frames[2][:7])
    follower.poll_once()
    assert followed.parser.consumed == len(frames[0]) + len(frames[1])
    assert followed.info.rows == 2

    # the rest of it and three more frames: only these are parsed
    with path.open("ab") as fh:
        fh.write(frames[2][7:] + b"".join(frames[3:]))
    seen = []
    original = followed.parser.feed

    def spy(block, first_line):
        seen.append(len(block))
        return original(block, first_line)

    followed.parser.feed = spy
    follower.poll_once()
    assert seen == [sum(len(f) for f in frames[2:])]  # only the new bytes were offered
    run = follower.store.snapshot().runs[0]
    assert run.series("reward") == ([0, 1, 2, 3, 4, 5], [0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    assert followed.info.rows == 6 and followed.info.skipped == 0
    assert followed.parser.consumed == path.stat().st_size


def test_damaged_frame_header_is_reported(tmp_path: Path):
    path = tmp_path / "events.out.tfevents.2.host"
    good = frame_record(_simple_event(1, loss=1.0).SerializeToString())
    bad = struct.pack("<Q", 12) + b"\x00\x00\x00\x00" + b"x" * 16
    path.write_bytes(good + bad)
    parser = TensorBoardParser(str(path))
    result = parser.feed(path.read_bytes(), 1)
    assert _rows(result) == [{"step": 1, "loss": 1.0}]
    assert len(result.skips) == 1 and "damaged TFRecord frame header" in result.skips[0].reason


def test_keras_split_folders_prefix_tags_and_share_the_run(tmp_path: Path):
    for split, value in (("train", 0.9), ("validation", 1.1)):
        folder = tmp_path / "logs" / split
        folder.mkdir(parents=True)
        (folder / "events.out.tfevents.3.host.v2").write_bytes(
            frame_record(_simple_event(0, epoch_loss=value).SerializeToString())
        )
    snap = read_snapshot(tmp_path / "logs")
    (run,) = snap.runs
    assert run.latest("train/epoch_loss") == pytest.approx(0.9)
    assert run.latest("validation/epoch_loss") == pytest.approx(1.1)


def test_without_the_package_says_which_extra(monkeypatch, tmp_path: Path, fixtures: Path):
    copy = tmp_path / _fixture(fixtures).name
    shutil.copy(_fixture(fixtures), copy)
    monkeypatch.setattr(tb, "_available", False)
    found = sniff(str(copy), copy.read_bytes()[:1024])
    assert found.parser is None
    assert "install rltop[tensorboard]" in found.reason
    snap = read_snapshot(tmp_path)
    assert (
        dict(snap.unrecognized)[str(copy)] == "TensorBoard event file: install rltop[tensorboard]"
    )


def test_a_frame_larger_than_one_read_is_stepped_over(tmp_path: Path):
    """A graph or image frame bigger than the tailer's read must not stall the file."""
    big = event_pb2.Event(step=0, graph_def=b"g" * (2 << 20))
    path = tmp_path / "events.out.tfevents.4.host"
    data = (
        frame_record(_simple_event(1, loss=1.0).SerializeToString())
        + frame_record(big.SerializeToString())
        + frame_record(_simple_event(2, loss=0.5).SerializeToString())
    )
    path.write_bytes(data)
    follower = Follower([str(tmp_path)], force_polling=True)
    follower.scan()
    followed = follower.followed[str(path)]
    followed.tail.chunk = 1 << 20  # reads smaller than the big frame
    for _ in range(5):
        follower.poll_once()
    assert followed.parser.consumed == len(data)
    run = follower.store.snapshot().runs[0]
    assert run.series("loss") == ([1, 2], [1.0, 0.5])


def _mixed_events() -> bytes:
    """Events the bulk decoder takes (one or many simple values, step 0, a step logged twice)
    and the ones it hands to the one-by-one path (tensor scalars, images, no summary)."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    frames = [frame_record(event_pb2.Event(file_version="brain.Event:2").SerializeToString())]
    for step in range(120):
        if step % 4 == 0:
            event = _simple_event(step, **{"train/loss": 1.0 / (step + 1), "lr": 1e-5})
        else:
            event = _simple_event(step, reward=step * 0.5)
        frames.append(frame_record(event.SerializeToString()))
        if step % 9 == 0:  # TF2: a scalar tensor with the scalars plugin
            event = event_pb2.Event(step=step)
            value = event.summary.value.add(tag="tf2/kl")
            value.tensor.CopyFrom(tensor_util.make_tensor_proto(step * 0.01))
            value.metadata.plugin_data.plugin_name = "scalars"
            frames.append(frame_record(event.SerializeToString()))
        if step % 10 == 0:
            event = event_pb2.Event(step=step)
            event.summary.value.add(tag="pic", image=summary_pb2.Summary.Image(height=1, width=1))
            event.summary.value.add(tag="nan", simple_value=float("nan"))
            frames.append(frame_record(event.SerializeToString()))
        if step % 25 == 0:  # the same step logged again: the later value wins
            frames.append(frame_record(_simple_event(step, reward=-1.0).SerializeToString()))
    return b"".join(frames)


def test_bulk_decoding_gives_what_event_by_event_gives(monkeypatch, tmp_path: Path):
    from rltop.core.store import Store

    data = _mixed_events()
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(data)

    def read(bulk: bool):
        monkeypatch.setattr(tb, "BULK_MIN_EVENTS", 1 if bulk else 10**9)
        store = Store()
        follower = Follower([str(tmp_path)], store)
        follower.read_all()
        snap = store.snapshot()
        (run,) = snap.runs
        (source,) = snap.sources
        return run.metrics.select(sorted(run.metrics.columns)), source.ignored

    slow, slow_ignored = read(False)
    fast, fast_ignored = read(True)
    assert slow.height == 120 and {"tf2/kl", "nan", "lr", "reward"} <= set(slow.columns)
    assert fast.equals(slow)
    assert fast_ignored == slow_ignored > 0
    assert slow.filter(pl_col("step") == 25).get_column("reward").item() == -1.0


def pl_col(name: str):
    import polars as pl

    return pl.col(name)


def test_crc32c_is_the_c_implementation_and_agrees_with_the_table():
    data = bytes(range(256)) * 40
    assert tb._c_crc32c() is not None  # google-crc32c: the pure-Python table is ~1000x slower
    assert crc32c(data) == tb._py_crc32c(data)
    assert crc32c(memoryview(data)[3:77]) == tb._py_crc32c(data[3:77])
