"""A large ``.wandb`` log on a screen: its end is read first from a block boundary (the newest
steps at once), then the part before it, and the store ends up as a read from the start has it."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

import newesthelp
from newesthelp import assert_same, newest_first
from newesthelp import straight as straight_read
from rltop.core import follow
from rltop.core.follow import Follower
from rltop.core.formats.wandb import (
    BLOCK_LEN,
    FIRST,
    FULL,
    HEADER_LEN,
    LAST,
    MIDDLE,
    WandbParser,
    frame_records,
)
from wandbhelp import chunks as chunks_of
from wandbhelp import history

pb = pytest.importorskip("wandb.proto.wandb_internal_pb2", reason="needs rltop[wandb]")

FIXTURE_RUN = "wandb/run-20241014_021059-7boci60w"


def _history(step: int, width: int = 8, note: int = 0, **values: float) -> bytes:
    """A history record; ``note``: a text value of that many characters (not a metric)."""
    metrics: dict[str, object] = {f"train/m{i}": step * 0.01 + i for i in range(width)}
    if note:
        values["notes/text"] = "x" * note  # type: ignore[assignment]
    return history(step, {**metrics, **values})


def _config(**values) -> bytes:
    record = pb.Record()
    for key, value in values.items():
        item = record.config.update.add()
        item.key = key
        item.value_json = json.dumps(value)
    return record.SerializeToString()


def _run_record(display_name: str = "") -> bytes:
    record = pb.Record()
    record.run.run_id = "abc123"
    record.run.project = "grpo"
    record.run.display_name = display_name
    item = record.run.config.update.add()
    item.key = "lr"
    item.value_json = json.dumps({"value": 0.001})
    return record.SerializeToString()


def _stats() -> bytes:
    record = pb.Record()
    item = record.stats.item.add()
    item.key = "gpu.0.util"
    item.value_json = "97"
    return record.SerializeToString()


def _exit(code: int = 0) -> bytes:
    record = pb.Record()
    record.exit.exit_code = code
    return record.SerializeToString()


def _records(steps: int, *, display_name: str = "", late_name: str = "") -> list[bytes]:
    """A run: its run record, history with records larger than a block every so often (FIRST,
    MIDDLE, LAST chunks), system stats, config changed late, a step logged twice (late), exit."""
    out = [_run_record(display_name), _config(batch=32, run_name="from-config")]
    for step in range(steps):
        note = 80_000 if step % 97 == 50 else 0  # ~2.5 blocks
        extra = {"warmup/lr": step * 1e-5} if step < 100 else {}
        out.append(_history(step, note=note, **extra))
        if step % 10 == 0:
            out.append(_stats())
    out.append(_config(batch=64, **({"run_name": late_name} if late_name else {})))
    out.append(_history(3, 2, **{"train/m0": -1.0, "late/only": 7.0}))  # step 3 again
    out.append(_exit(0))
    return out


def _write_run(root: Path, records: list[bytes]) -> Path:
    folder = root / "wandb" / "offline-run-20250101_000000-abc123"
    folder.mkdir(parents=True)
    path = folder / "run-abc123.wandb"
    path.write_bytes(frame_records(records))
    return path


def _rows(result) -> list[dict]:
    rows = list(result.metrics)
    if result.metrics_frame is not None:
        rows += result.metrics_frame.to_dicts()
    return sorted(
        ({k: v for k, v in r.items() if v is not None} for r in rows), key=lambda r: r["step"]
    )


# -- resync at a block boundary ------------------------------------------------------------------
def test_resync_finds_the_next_record_start_from_every_block():
    data = frame_records(_records(400))
    chunks = chunks_of(data)
    kinds = {kind for _pos, kind in chunks}
    assert {FULL, FIRST, MIDDLE, LAST} <= kinds
    starts = [pos for pos, kind in chunks if kind in (FULL, FIRST)]
    parser = WandbParser("x")
    mid_record = 0
    for block in range(BLOCK_LEN, len(data), BLOCK_LEN):
        expected = next((s for s in starts if s >= block), None)
        assert parser.resync(data[block:], block) == expected, block
        if expected is not None and expected > block:
            mid_record += 1  # this block starts inside a record (MIDDLE or LAST chunk)
    assert mid_record >= 3


def test_reading_from_a_resync_point_gives_exactly_the_records_after_it():
    records = _records(400)
    data = frame_records(records)
    whole = _rows(WandbParser("x").feed(data, 1))
    for block in range(BLOCK_LEN, len(data) - BLOCK_LEN, 5 * BLOCK_LEN):
        newer = WandbParser("x")
        begin = newer.resync(data[block:], block)
        assert begin is not None
        newer.begin_at(begin)
        tail = newer.feed(data[begin:], 1)
        assert newer.consumed == len(data)
        older = WandbParser("x")
        head = older.feed(data[:begin], 1)
        assert older.consumed == begin  # the part before ends where the newer part begins
        assert sorted(_rows(head) + _rows(tail), key=lambda r: r["step"]) == whole, block


def test_resync_passes_a_damaged_chunk():
    data = bytearray(frame_records(_records(200)))
    chunks = chunks_of(bytes(data))
    starts = [pos for pos, kind in chunks if kind in (FULL, FIRST)]
    block = 3 * BLOCK_LEN
    found = next(s for s in starts if s >= block)
    data[found + HEADER_LEN] ^= 0xFF  # the chunk's first data byte: its checksum is now wrong
    parser = WandbParser("x")
    assert parser.resync(bytes(data[block:]), block) == next(s for s in starts if s > found)
    with pytest.raises(ValueError):
        parser.resync(bytes(data[block + 1 :]), block + 1)


# -- newest first, then the part before, on the follower -----------------------------------------
@pytest.fixture
def small_reads(monkeypatch):
    newesthelp.small_reads(monkeypatch)


@pytest.mark.usefixtures("small_reads")
@pytest.mark.parametrize(
    ("display_name", "late_name", "expected"),
    [("", "", "from-config"), ("", "renamed", "renamed"), ("grpo-7b", "renamed", "grpo-7b")],
)
def test_newest_first_then_older_gives_a_straight_read(
    tmp_path: Path, display_name: str, late_name: str, expected: str
):
    path = _write_run(tmp_path, _records(2500, display_name=display_name, late_name=late_name))
    size = path.stat().st_size
    assert size > 8 * follow.PREVIEW_BYTES
    straight = straight_read(tmp_path)
    newest, seen = newest_first(tmp_path, path)
    # the first read: only the newest steps, the last one among them, the rest still unread
    rows, last_step, read = seen[0]
    assert 0 < rows < 500 and last_step == 2499 and read < size // 4
    # then the older part fills in, the last step on screen all along, progress growing
    assert len(seen) > 4
    assert all(step == 2499 for _rows, step, _read in seen)
    assert [r for r, _s, _b in seen] == sorted(r for r, _s, _b in seen)
    assert seen[-1][2] == size
    assert_same(straight, newest)
    (run,) = newest.store.snapshot().runs
    assert run.name.endswith(expected)
    assert run.config["batch"] == 64 and run.config["wandb/state"] == "finished"
    row3 = run.metrics.filter(run.metrics["step"] == 3).to_dicts()[0]
    assert row3["train/m0"] == -1.0 and row3["late/only"] == 7.0 and row3["train/m5"] == 5.03


@pytest.mark.usefixtures("small_reads")
def test_the_fixturenewest_first(tmp_path: Path, fixtures: Path, monkeypatch):
    monkeypatch.setattr(follow, "PREVIEW_BYTES", 64 * 1024)
    monkeypatch.setattr(follow, "FIRST_READ", 32 * 1024)
    monkeypatch.setattr(follow, "RECORDS_CHUNK", 48 * 1024)
    shutil.copytree(fixtures / FIXTURE_RUN, tmp_path / FIXTURE_RUN)
    path = next((tmp_path / FIXTURE_RUN).glob("*.wandb"))
    straight = straight_read(tmp_path)
    newest, seen = newest_first(tmp_path, path)
    total = straight.store.snapshot().runs[0].metrics.height
    assert 0 < seen[0][0] < total and seen[0][1] == straight.store.snapshot().runs[0].last_step
    assert len(seen) > 2
    assert_same(straight, newest)


@pytest.mark.usefixtures("small_reads")
def test_following_goes_on_after_the_older_part(tmp_path: Path):
    records = _records(1500)
    path = _write_run(tmp_path, records[:-1])  # no exit record yet
    data = path.read_bytes()
    # a record half written when the file is found: read once it is whole
    more = frame_records([_history(s) for s in range(1500, 1503)], start=len(data))
    with path.open("ab") as fh:
        fh.write(more[:100])
    newest, _seen = newest_first(tmp_path, path)
    followed = newest.followed[str(path)]
    assert followed.parser.consumed == len(data) and followed.older is None
    (run,) = newest.store.snapshot().runs
    assert run.last_step == 1499 and run.config["wandb/state"].startswith("no exit record")
    with path.open("ab") as fh:
        fh.write(more[100:])
        fh.write(frame_records([_exit(0)], start=len(data) + len(more)))
    newest.poll_once()
    (run,) = newest.store.snapshot().runs
    assert run.last_step == 1502 and run.metrics.height == 1503
    assert run.config["wandb/state"] == "finished"
    straight = straight_read(tmp_path)
    assert_same(straight, newest)


@pytest.mark.usefixtures("small_reads")
def test_a_file_rewritten_while_its_older_part_is_read(tmp_path: Path):
    path = _write_run(tmp_path, _records(1500))
    follower = Follower([str(tmp_path)], previews=True)
    follower.first_frame_shown.set()
    follower.scan()
    followed = follower.followed[str(path)]
    assert follower.read_source(followed) == (True, True)
    follower.read_source(followed)  # one read of the older part
    path.write_bytes(frame_records(_records(40)))  # started again, shorter
    while follower.read_source(followed)[1]:
        pass
    (run,) = follower.store.snapshot().runs
    assert run.metrics.height == 40 and run.last_step == 39


def test_headless_reads_start_at_the_start(tmp_path: Path, small_reads):
    path = _write_run(tmp_path, _records(1500))
    follower = Follower([str(tmp_path)])
    follower.scan()
    followed = follower.followed[str(path)]
    follower.read_source(followed)
    assert followed.older is None
    assert follower.store.snapshot().runs[0].metrics.get_column("step").min() == 0


# -- on screen ------------------------------------------------------------------------------------
async def test_the_last_step_is_on_screen_before_the_file_is_read(
    tmp_path: Path, monkeypatch, small_reads
):
    from rltop.ui.app import make_app

    from uihelp import wait_for

    path = _write_run(tmp_path, _records(2500, display_name="grpo-7b"))
    go_on = threading.Event()
    real = Follower._read_older

    def held(self, followed):
        go_on.wait(20)  # the part before the newest records waits for the test
        return real(self, followed)

    monkeypatch.setattr(Follower, "_read_older", held)
    app = make_app([str(tmp_path)])
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.runs)
        await wait_for(pilot, lambda: app.snapshot.runs[0].last_step == 2499)
        dashboard = app.dashboard
        await wait_for(pilot, lambda: "step 2499" in _title(dashboard))
        run = app.snapshot.runs[0]
        assert run.metrics.height < 500
        read, total = app.follower.progress()
        assert read < total == path.stat().st_size
        assert app.follower.caught_up_version is None
        go_on.set()
        await wait_for(pilot, lambda: app.follower.caught_up_version is not None)
        await wait_for(pilot, lambda: app.snapshot.runs[0].metrics.height == 2500)
        assert "step 2499" in _title(dashboard)
        assert app.snapshot.runs[0].name.endswith("grpo-7b")


def _title(dashboard) -> str:
    from textual.widgets import Static

    return str(dashboard.query_one("#title", Static).render())
